package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/client"
	"github.com/rampart-rt/rampart/policy"
)

var (
	testKey    = []byte("example-hooks-key-0123456789abcdef-xyz")
	testSecret = []byte("example-jwt-secret-0123456789abcdef-xyz")
)

// The example backend behind a real Rampart server: a banned user is
// refused, an editor publishes and the publication arrives tagged, a
// document not shared with a user is not found, and the events count
// the connections.
func TestExampleBackend(t *testing.T) {
	b := newBackend(slog.New(slog.DiscardHandler))
	backend := httptest.NewServer(b.routes(testKey))
	t.Cleanup(backend.Close)
	srv, err := rampart.New(rampart.Config{
		Origins:  rampart.Origins{AllowMissing: true},
		Auth:     rampart.Auth{HMACSecret: testSecret},
		Channels: []policy.Rule{{Pattern: "doc:*", Subscribe: []string{"*"}, Publish: []string{"editor"}, History: policy.History{Size: 50}}},
		Hooks: rampart.Hooks{
			Key:       testKey,
			Connect:   rampart.Hook{URL: backend.URL + "/connect"},
			Subscribe: rampart.Hook{URL: backend.URL + "/subscribe"},
			Publish:   rampart.Hook{URL: backend.URL + "/publish"},
			Notify:    rampart.Notify{URL: backend.URL + "/events"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(user string) (*client.Client, error) {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}).SignedString(testSecret)
		if err != nil {
			t.Fatal(err)
		}
		return client.Dial(ctx, client.Config{
			URL:   "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws",
			Token: func(context.Context) (string, error) { return tok, nil },
		})
	}
	var he *client.HandshakeError
	if _, err := dial("mallory"); !errors.As(err, &he) || he.StatusCode != http.StatusForbidden || he.Code != "forbidden" {
		t.Fatalf("mallory: %v", err)
	}
	alice, err := dial("alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := dial("bob")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan client.Publication, 1)
	if _, err := bob.Subscribe(ctx, "doc:plan", func(p client.Publication) { got <- p }); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Subscribe(ctx, "doc:secret", func(client.Publication) {}); err == nil || !strings.Contains(err.Error(), "not_found") {
		t.Fatalf("bob subscribed to a document not shared with him: %v", err)
	}
	if _, err := alice.Publish(ctx, "doc:plan", map[string]string{"text": "hello"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Publish(ctx, "doc:plan", "bob is no editor"); err == nil {
		t.Fatal("bob published without the editor role")
	}
	select {
	case p := <-got:
		if !strings.Contains(string(p.Data), `"by":"alice"`) || !strings.Contains(string(p.Data), `"seen_at"`) {
			t.Fatalf("publication %s is not the backend's", p.Data)
		}
	case <-ctx.Done():
		t.Fatal("no publication")
	}
	_ = bob.Close()
	for b.onlineCount("alice") != 1 || b.onlineCount("bob") != 0 {
		if ctx.Err() != nil {
			t.Fatalf("online: alice %d, bob %d; want 1 and 0", b.onlineCount("alice"), b.onlineCount("bob"))
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	_ = alice.Close()
}
