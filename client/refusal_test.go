package client_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/client"
)

// refusals records what OnRefused is told.
type refusals struct {
	mu   sync.Mutex
	seen []client.HandshakeError
}

func (r *refusals) record(he *client.HandshakeError) {
	r.mu.Lock()
	r.seen = append(r.seen, *he)
	r.mu.Unlock()
}

func (r *refusals) list() []client.HandshakeError {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]client.HandshakeError(nil), r.seen...)
}

// waitStopped waits for the client to give up and returns its Err, which
// must wrap ErrClosed and a *HandshakeError.
func waitStopped(t *testing.T, c *client.Client) *client.HandshakeError {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(waitFor):
		t.Fatal("the client is still reconnecting")
	}
	var he *client.HandshakeError
	if err := c.Err(); !errors.Is(err, client.ErrClosed) || !errors.As(err, &he) {
		t.Fatalf("Err() = %v, want ErrClosed wrapping a *HandshakeError", err)
	}
	return he
}

// A token source that gives tokens the server refuses stops the client
// after a second refusal in a row, each one told to OnRefused with its
// status and code, instead of reconnecting for ever.
func TestReconnectStopsWhenTheTokenIsRefused(t *testing.T) {
	srv := startServer(t, nil)
	good := mint(t, "alice", time.Hour)
	var calls atomic.Int32
	var refused refusals
	var seen states
	c := srv.dial(t, "alice", client.Config{
		Token: func(context.Context) (string, error) {
			if calls.Add(1) == 1 {
				return good, nil
			}
			return mint(t, "alice", -time.Hour), nil // expired
		},
		OnRefused: refused.record,
		OnState:   seen.record,
	})
	cut(srv.ln.take())
	he := waitStopped(t, c)
	if he.StatusCode != http.StatusUnauthorized || he.Code != "unauthorized" || he.RequestID == "" || he.Temporary() {
		t.Errorf("Err's HandshakeError = %+v, want 401 unauthorized with a request id, not temporary", he)
	}
	got := refused.list()
	if len(got) != 2 {
		t.Fatalf("OnRefused told %d times (%+v), want 2: one retry with a new token, then stop", len(got), got)
	}
	for _, r := range got {
		if r.StatusCode != http.StatusUnauthorized || r.Code != "unauthorized" {
			t.Errorf("OnRefused told %+v, want 401 unauthorized", r)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("Token called %d times, want 3 (the dial and two attempts)", n)
	}
	if seen.count(client.StateClosed) != 1 {
		t.Errorf("states %v, want StateClosed once", seen.seen)
	}
}

// A first refused token is retried with a new one: a token that expired
// on the way does not stop the client.
func TestReconnectRetriesOneRefusedToken(t *testing.T) {
	srv := startServer(t, nil)
	var calls atomic.Int32
	var refused refusals
	var seen states
	c := srv.dial(t, "bob", client.Config{
		OnState: seen.record,
		Token: func(context.Context) (string, error) {
			if calls.Add(1) == 2 {
				return mint(t, "bob", -time.Hour), nil
			}
			return mint(t, "bob", time.Hour), nil
		},
		OnRefused: refused.record,
	})
	cut(srv.ln.take())
	eventually(t, "a reconnection", func() bool { return seen.count(client.StateConnected) == 2 })
	if got := refused.list(); len(got) != 1 || got[0].Code != "unauthorized" {
		t.Errorf("OnRefused told %+v, want one unauthorized", got)
	}
	if c.Err() != nil {
		t.Errorf("Err() = %v while connected", c.Err())
	}
}

// An origin the server no longer allows cannot heal by retrying: the
// client stops at the first refusal, with origin_refused.
func TestReconnectStopsOnARefusedOrigin(t *testing.T) {
	allow := func(origin string) func(*rampart.Config) {
		return func(cfg *rampart.Config) { cfg.Origins = rampart.Origins{Allow: []string{origin}} }
	}
	srv := startServer(t, allow("https://app.example.com"))
	var refused refusals
	c := srv.dial(t, "carol", client.Config{Origin: "https://app.example.com", OnRefused: refused.record})
	cfg := srv.cfg
	allow("https://other.example.com")(&cfg)
	if err := srv.s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	cut(srv.ln.take())
	he := waitStopped(t, c)
	if he.StatusCode != http.StatusForbidden || he.Code != "origin_refused" || he.Temporary() {
		t.Errorf("Err's HandshakeError = %+v, want 403 origin_refused", he)
	}
	if got := refused.list(); len(got) != 1 || got[0].Code != "origin_refused" {
		t.Errorf("OnRefused told %+v, want one origin_refused", got)
	}
}

// A busy server (503, max_connections) may heal by itself: the refusal
// is told to OnRefused and the client goes on trying.
func TestReconnectRetriesABusyServer(t *testing.T) {
	srv := startServer(t, func(cfg *rampart.Config) { cfg.Limits.MaxConnections = 1 })
	var refused refusals
	var seen states
	var calls atomic.Int32
	asked, proceed := make(chan struct{}), make(chan struct{})
	tok := mint(t, "dave", time.Hour)
	c := srv.dial(t, "dave", client.Config{
		Token: func(ctx context.Context) (string, error) {
			if calls.Add(1) == 2 { // the first reconnection waits for the place to be taken
				close(asked)
				select {
				case <-proceed:
				case <-ctx.Done():
					return "", ctx.Err()
				}
			}
			return tok, nil
		},
		OnRefused: refused.record,
		OnState:   seen.record,
	})
	cut(srv.ln.take())
	<-asked
	eventually(t, "the server to see the drop", func() bool { return srv.s.Connections() == 0 })
	srv.dial(t, "erin", client.Config{}) // takes the only place
	close(proceed)
	eventually(t, "the refusal and the wait before the next attempt", func() bool { return seen.count(client.StateDisconnected) == 2 })
	got := refused.list()
	if len(got) != 1 || got[0].StatusCode != http.StatusServiceUnavailable || got[0].Code != "unavailable" || !got[0].Temporary() || got[0].RetryAfter <= 0 {
		t.Errorf("OnRefused told %+v, want one 503 unavailable, temporary, with Retry-After", got)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("the client stopped on a busy server: %v", err)
	}
}
