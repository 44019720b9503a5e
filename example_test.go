package rampart_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/policy"
)

// A server embedded in a program: New validates the configuration and
// returns an http.Handler; HTTPServer gives it the timeouts a WebSocket
// endpoint needs.
func ExampleNew() {
	srv, err := rampart.New(rampart.Config{
		Origins: rampart.Origins{Allow: []string{"https://app.example.com"}},
		Auth:    rampart.Auth{HMACSecret: []byte(os.Getenv("RAMPART_JWT_SECRET"))},
		Channels: []policy.Rule{
			{Pattern: "news:*", Subscribe: []string{"user"}, Publish: []string{"editor"},
				History: policy.History{Size: 100, TTL: 10 * time.Minute}},
			{Pattern: "user:{sub}", Subscribe: []string{policy.RoleSelf}},
		},
		Logger: slog.Default(),
	})
	if err != nil {
		log.Fatal(err) // every problem at once, each naming its key
	}
	hs := srv.HTTPServer()
	hs.Addr = "127.0.0.1:8080"
	go func() {
		if err := hs.ListenAndServe(); err != http.ErrServerClosed {
			log.Print(err)
		}
	}()
	// ... until the program stops:
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = hs.Shutdown(ctx)  // stop accepting
	_ = srv.Shutdown(ctx) // close every WebSocket with 1001
}

// Configuration mistakes are reported together, each with its key.
func ExampleConfig_Validate() {
	err := rampart.Config{
		Limits:   rampart.Limits{MaxMessageBytes: 10},
		Channels: []policy.Rule{{Pattern: "a/b"}},
	}.Validate()
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.HasPrefix(line, "limits.") || strings.HasPrefix(line, "channels") {
			fmt.Println(line)
		}
	}
	// Output:
	// limits.max_message_bytes: must be between 128 and 16777216, not 10
	// channels[0]: pattern has character '/' (allowed: A-Z a-z 0-9 _ . : @ -, * and {sub})
}

// The application publishes from its own code, with the same channel
// rules and payload checks as a client's publish; errors.Is tells the
// errors apart.
func ExampleServer_Publish() {
	srv, err := rampart.New(rampart.Config{
		Auth: rampart.Auth{HMACSecret: []byte("an-example-secret-of-32-bytes-or-more")},
		Channels: []policy.Rule{
			{Pattern: "news:*", Subscribe: []string{"user"}, History: policy.History{Size: 100, TTL: time.Hour}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	ctx := context.Background()

	pos, err := srv.Publish(ctx, "news:today", []byte(`{"title":"hello"}`), rampart.PublishOptions{IdempotencyKey: "story-1"})
	fmt.Println(pos.Offset, err)
	// A retry with the same key is stored once.
	pos, err = srv.Publish(ctx, "news:today", []byte(`{"title":"hello"}`), rampart.PublishOptions{IdempotencyKey: "story-1"})
	fmt.Println(pos.Offset, err)
	_, err = srv.Publish(ctx, "sport:today", []byte(`{"title":"hello"}`), rampart.PublishOptions{})
	fmt.Println(errors.Is(err, rampart.ErrNotFound), err)

	h, _ := srv.History(ctx, "news:today", 10)
	fmt.Println(len(h.Publications), string(h.Publications[0].Data))
	// Output:
	// 1 <nil>
	// 1 <nil>
	// true not_found: no channel rule matches
	// 1 {"title":"hello"}
}

// Server-side subscriptions and disconnects act on a user's connections
// (or one connection, by its client id) on this node.
func ExampleServer_Subscribe() {
	srv, err := rampart.New(rampart.Config{
		Auth:     rampart.Auth{HMACSecret: []byte("an-example-secret-of-32-bytes-or-more")},
		Channels: []policy.Rule{{Pattern: "team:*"}}, // nobody subscribes alone: the server decides
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	ctx := context.Background()

	n, err := srv.Subscribe(ctx, rampart.Target{User: "alice"}, "team:blue")
	fmt.Println(n, err) // alice has no connection here yet
	n, err = srv.Disconnect(ctx, rampart.Target{User: "mallory"}, 4003, "banned")
	fmt.Println(n, err)
	_, err = srv.Disconnect(ctx, rampart.Target{User: "mallory"}, 1000, "")
	fmt.Println(errors.Is(err, rampart.ErrBadRequest))
	// Output:
	// 0 <nil>
	// 0 <nil>
	// true
}
