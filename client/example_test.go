package client_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/client"
	"github.com/rampart-rt/rampart/policy"
)

func Example() {
	// A server in this process, for the example; usually `rampart serve`.
	secret := []byte("example-secret-0123456789abcdef-0123")
	srv, err := rampart.New(rampart.Config{
		Origins: rampart.Origins{AllowMissing: true}, // a Go service sends no Origin
		Auth:    rampart.Auth{HMACSecret: secret},
		Channels: []policy.Rule{{
			Pattern: "chat:*", Subscribe: []string{"*"}, Publish: []string{"*"},
			History: policy.History{Size: 100},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Shutdown(context.Background())

	// Token is asked before every connection and when the server wants a
	// fresh one; here it mints one, usually it asks an identity service.
	token := func(context.Context) (string, error) {
		claims := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
		return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	}
	ctx := context.Background()
	c, err := client.Dial(ctx, client.Config{
		URL:   "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws",
		Token: token,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	got := make(chan client.Publication, 1)
	_, err = c.Subscribe(ctx, "chat:lobby", func(p client.Publication) { got <- p },
		client.OnRecoveryFailed(func(lost, now client.Position) {
			log.Printf("missed publications %d to %d", lost.Offset+1, now.Offset)
		}))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Publish(ctx, "chat:lobby", map[string]string{"text": "hello"}); err != nil {
		log.Fatal(err)
	}
	p := <-got
	fmt.Printf("%s #%d from %s: %s\n", p.Channel, p.Offset, p.User, p.Data)
	// Output: chat:lobby #1 from alice: {"text":"hello"}
}

// A client that takes the subscriptions the server makes for it (its
// backend decided which channels this user follows): each is handed to
// OnServerSubscribe before its first publication.
func ExampleConfig_onServerSubscribe() {
	cfg := client.Config{
		URL:   "wss://rt.example.com/ws",
		Token: func(context.Context) (string, error) { return "a token from your identity service", nil },
		OnServerSubscribe: func(sub *client.Subscription) (func(client.Publication), []client.SubscribeOption) {
			channel := sub.Channel()
			show := func(p client.Publication) { fmt.Printf("%s #%d: %s\n", channel, p.Offset, p.Data) }
			ended := client.OnUnsubscribed(func(reason string) { log.Printf("no longer on %s: %s", channel, reason) })
			return show, []client.SubscribeOption{ended}
		},
	}
	c, err := client.Dial(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	<-c.Done()
}
