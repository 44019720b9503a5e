package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/client"
)

// The whole path of the example: log in the application's way, take a
// token from it, connect and subscribe with the Go client, place an order
// through the application's own handler, and see the publication arrive.
func TestEmbeddedAppPublishesFromItsHandlers(t *testing.T) {
	a, err := newApp([]byte("an-example-secret-of-32-bytes-or-more!"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.routes())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.rt.Shutdown(ctx)
		ts.Close()
	})
	jar, _ := cookiejar.New(nil)
	web := &http.Client{Jar: jar, Timeout: 5 * time.Second}

	if resp, err := web.Get(ts.URL + "/rampart-token"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token before login: %v %v", resp, err)
	}
	post := func(path string, form url.Values) int {
		resp, err := web.PostForm(ts.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/login", url.Values{"user": {"alice"}, "password": {"wrong"}}); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", code)
	}
	if code := post("/login", url.Values{"user": {"alice"}, "password": {"demo"}}); code != http.StatusNoContent {
		t.Fatalf("login: %d", code)
	}
	resp, err := web.Get(ts.URL + "/rampart-token")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var tok struct{ Token string }
	if err := json.Unmarshal(raw, &tok); err != nil || tok.Token == "" {
		t.Fatalf("token: %s", raw)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{
		URL:   "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws",
		Token: func(context.Context) (string, error) { return tok.Token, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := make(chan client.Publication, 1)
	if _, err := c.Subscribe(ctx, "user:alice", func(p client.Publication) { got <- p }); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx, "user:bob", func(client.Publication) {}); err == nil {
		t.Fatal("alice subscribed to bob's channel")
	}
	if code := post("/orders", url.Values{"item": {"book"}}); code != http.StatusAccepted {
		t.Fatalf("order: %d", code)
	}
	select {
	case p := <-got:
		if string(p.Data) != `{"order":"book","status":"received"}` {
			t.Fatalf("publication %s", p.Data)
		}
	case <-ctx.Done():
		t.Fatal("no publication after the order")
	}
}
