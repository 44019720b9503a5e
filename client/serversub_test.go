package client_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/client"
	"github.com/rampart-rt/rampart/policy"
	"github.com/rampart-rt/rampart/protocol"
)

// TestUnsubscribedByServer: the operator removes the rule that granted a
// subscription and reloads; the server ends it with an unsubscribe push.
// OnUnsubscribed is told once, after the publications before it, and the
// client forgets the subscription: a new Subscribe goes to the server,
// which now refuses it.
func TestUnsubscribedByServer(t *testing.T) {
	srv := startServer(t, func(cfg *rampart.Config) {
		cfg.Channels = append(slices.Clone(cfg.Channels),
			policy.Rule{Pattern: "temp:*", Subscribe: []string{"*"}, Publish: []string{"*"}})
	})
	c := srv.dial(t, "alice", client.Config{})
	ctx := ctxFor(t)
	got := newCollector()
	if _, err := c.Subscribe(ctx, "temp:x", got.publication, client.OnUnsubscribed(got.end)); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if _, err := c.Publish(ctx, "temp:x", 1); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got.waitPubs(t, 1)

	cfg := srv.cfg
	cfg.Channels = testRules // temp:* is gone
	if err := srv.s.Reload(cfg); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	reason := got.waitEnd(t)
	if !strings.HasPrefix(reason, "server: ") || len(reason) == len("server: ") {
		t.Fatalf("OnUnsubscribed(%q), want the server's reason", reason)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, events := got.snapshot(); !slices.Equal(events, []string{"pub", "end"}) {
		t.Fatalf("events %v, want the publication then the end", events)
	}
	_, err := c.Subscribe(ctx, "temp:x", got.publication)
	var e *client.Error
	if !errors.As(err, &e) || e.Code != protocol.CodeForbidden {
		t.Fatalf("Subscribe after the rule was removed: %v, want forbidden from the server", err)
	}
}

// announced is a subscription the server made, with what its handlers saw.
type announced struct {
	sub *client.Subscription
	got *collector
}

// onServerSubscribe returns an OnServerSubscribe that sends every
// subscription the server makes on out, with a collector as its handlers.
func onServerSubscribe(out chan<- announced) func(*client.Subscription) (func(client.Publication), []client.SubscribeOption) {
	return func(sub *client.Subscription) (func(client.Publication), []client.SubscribeOption) {
		got := newCollector()
		out <- announced{sub: sub, got: got}
		return got.publication, []client.SubscribeOption{client.OnRecoveryFailed(got.lost), client.OnUnsubscribed(got.end)}
	}
}

// waitAnnounced waits for the next subscription the server makes.
func waitAnnounced(t *testing.T, subs <-chan announced) announced {
	t.Helper()
	select {
	case a := <-subs:
		return a
	case <-time.After(waitFor):
		t.Fatal("OnServerSubscribe was not called")
	}
	return announced{}
}

// serverSubscribe subscribes user's connections to channel through the
// HTTP API (POST /api/subscribe) and checks that want connections were.
func (s *testServer) serverSubscribe(t *testing.T, path, user, channel string, want int) {
	t.Helper()
	var res protocol.APISubscribeResult
	s.api(t, path, protocol.APISubscribe{User: user, Channel: channel}, &res)
	if res.Connections != want {
		t.Fatalf("POST %s for %s on %s changed %d connections, want %d", path, user, channel, res.Connections, want)
	}
}

// publishN publishes n publications to channel with c.
func publishN(t *testing.T, c *client.Client, channel string, n int) {
	t.Helper()
	for range n {
		if _, err := c.Publish(ctxFor(t), channel, "x"); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
}

// TestServerSubscription: the backend subscribes a user's connection to a
// channel (a subscribe push); OnServerSubscribe gets a Subscription at the
// channel's position, whose handler gets the publications after it, in
// order; the backend's unsubscribe ends it (OnUnsubscribed, nothing after)
// and the client forgets it.
func TestServerSubscription(t *testing.T) {
	srv := startServer(t, nil)
	subs := make(chan announced, 4)
	c := srv.dial(t, "alice", client.Config{OnServerSubscribe: onServerSubscribe(subs)})
	ctx := ctxFor(t)
	publishN(t, c, "chat:srv", 2)

	srv.serverSubscribe(t, "/api/subscribe", "alice", "chat:srv", 1)
	a := waitAnnounced(t, subs)
	if pos := a.sub.Position(); a.sub.Channel() != "chat:srv" || pos.Offset != 2 || pos.Epoch == "" {
		t.Fatalf("server-side subscription to %s at %+v, want chat:srv at offset 2", a.sub.Channel(), pos)
	}
	publishN(t, c, "chat:srv", 3)
	checkSequence(t, a.got.waitPubs(t, 3), 3, 5)
	if _, err := c.Subscribe(ctx, "chat:srv", func(client.Publication) {}); !errors.Is(err, client.ErrAlreadySubscribed) {
		t.Fatalf("Subscribe to a channel the server subscribed: %v, want ErrAlreadySubscribed", err)
	}

	srv.serverSubscribe(t, "/api/unsubscribe", "alice", "chat:srv", 1)
	if reason := a.got.waitEnd(t); !strings.HasPrefix(reason, "server: ") {
		t.Fatalf("OnUnsubscribed(%q), want the server's reason", reason)
	}
	publishN(t, c, "chat:srv", 1)
	if err := c.Ping(ctx); err != nil { // the publication, if sent, came before this reply
		t.Fatalf("Ping: %v", err)
	}
	if _, events := a.got.snapshot(); !slices.Equal(events, []string{"pub", "pub", "pub", "end"}) {
		t.Fatalf("events %v, want three publications then the end", events)
	}
	if _, err := c.Subscribe(ctx, "chat:srv", func(client.Publication) {}); err != nil {
		t.Fatalf("Subscribe after the server ended its subscription: %v", err)
	}
}

// TestServerSubscriptionUnsubscribe: the client ends a subscription the
// server made with the ordinary unsubscribe; the server forgets it (a
// subscribe is then answered, not already_subscribed) and OnUnsubscribed
// is not called.
func TestServerSubscriptionUnsubscribe(t *testing.T) {
	srv := startServer(t, nil)
	subs := make(chan announced, 4)
	c := srv.dial(t, "alice", client.Config{OnServerSubscribe: onServerSubscribe(subs)})
	ctx := ctxFor(t)
	srv.serverSubscribe(t, "/api/subscribe", "alice", "chat:mine", 1)
	a := waitAnnounced(t, subs)
	publishN(t, c, "chat:mine", 1)
	a.got.waitPubs(t, 1)
	if err := a.sub.Unsubscribe(ctx); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	publishN(t, c, "chat:mine", 1)
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, events := a.got.snapshot(); !slices.Equal(events, []string{"pub"}) {
		t.Fatalf("events %v after Unsubscribe, want the first publication only", events)
	}
	got := newCollector()
	if _, err := c.Subscribe(ctx, "chat:mine", got.publication); err != nil {
		t.Fatalf("Subscribe after unsubscribing from the server's subscription: %v", err)
	}
}

// TestServerSubscriptionEndsWithConnection: a subscription the server made
// lasts as long as its connection. When the connection drops it ends
// (OnUnsubscribed with ReasonDisconnected), the client does not subscribe
// again after reconnecting, and a new subscribe push on the new connection
// is a new Subscription.
func TestServerSubscriptionEndsWithConnection(t *testing.T) {
	srv := startServer(t, nil)
	subs := make(chan announced, 4)
	var seen states
	c := srv.dial(t, "alice", client.Config{OnServerSubscribe: onServerSubscribe(subs), OnState: seen.record})
	ctx := ctxFor(t)
	srv.serverSubscribe(t, "/api/subscribe", "alice", "chat:conn", 1)
	first := waitAnnounced(t, subs)
	publishN(t, c, "chat:conn", 1)
	first.got.waitPubs(t, 1)

	cut(srv.ln.take())
	if reason := first.got.waitEnd(t); reason != client.ReasonDisconnected {
		t.Fatalf("OnUnsubscribed(%q), want %q", reason, client.ReasonDisconnected)
	}
	eventually(t, "the reconnect", func() bool { return seen.count(client.StateConnected) == 2 })
	publishN(t, c, "chat:conn", 1)
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, events := first.got.snapshot(); !slices.Equal(events, []string{"pub", "end"}) {
		t.Fatalf("events %v, want one publication then the end", events)
	}

	srv.serverSubscribe(t, "/api/subscribe", "alice", "chat:conn", 1)
	again := waitAnnounced(t, subs)
	if again.sub == first.sub {
		t.Fatal("the server's new subscription reuses the ended Subscription")
	}
	if pos := again.sub.Position(); pos.Offset != 2 {
		t.Fatalf("new server-side subscription at %+v, want offset 2", pos)
	}
	publishN(t, c, "chat:conn", 1)
	checkSequence(t, again.got.waitPubs(t, 1), 3, 3)
}
