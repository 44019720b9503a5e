package rampart

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/rampart-rt/rampart/policy"
	"github.com/rampart-rt/rampart/protocol"
)

// goAPIServer is apiServer with its audit lines kept.
func goAPIServer(t *testing.T) (*testServer, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	schema := schemaFile(t)
	s := startServer(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		c.API.Keys = []string{apiKeyA}
		c.Limits.MaxSubscriptions = 3
		c.Channels = append([]policy.Rule{
			{Pattern: "strict:*", Subscribe: []string{"*"}, Publish: []string{"*"}, Schema: schema, SanitizeHTML: true, History: policy.History{Size: 10}, Audit: true},
			{Pattern: "room:*", Subscribe: []string{"*"}, Publish: []string{"*"}, Presence: true},
			{Pattern: "private:*", Subscribe: []string{"nobody"}, Publish: []string{"nobody"}, History: policy.History{Size: 10}},
		}, c.Channels...)
	})
	return s, logs
}

func TestGoPublishReachesSubscribers(t *testing.T) {
	s, logs := goAPIServer(t)
	c := s.dial(t, token(t, "alice"))
	c.subscribe("strict:a")
	ctx := context.Background()
	pos, err := s.s.Publish(ctx, "strict:a", []byte(`{"text":"<b>hi</b>"}`), PublishOptions{IdempotencyKey: "order-1"})
	if err != nil || pos.Offset != 1 || pos.Epoch == "" {
		t.Fatalf("Publish: %+v, %v", pos, err)
	}
	p := c.nextPush()
	if p.Push != protocol.PushPublication || p.Channel != "strict:a" || string(p.Data) != `{"text":"&lt;b&gt;hi&lt;/b&gt;"}` || p.Info != nil {
		t.Fatalf("delivered %s", p.raw)
	}
	// A retry with the same key is answered with the first position and
	// not delivered again.
	again, err := s.s.Publish(ctx, "strict:a", []byte(`{"text":"<b>hi</b>"}`), PublishOptions{IdempotencyKey: "order-1"})
	if err != nil || again != pos {
		t.Fatalf("retry: %+v, %v; want %+v", again, err, pos)
	}
	if extra := c.barrier(); len(extra) != 0 {
		t.Fatalf("a retried publish was delivered again: %s", extra[0].raw)
	}
	logs.find(t, "publish_audit", map[string]any{"channel": "strict:a", "client": "api"})

	for _, tt := range []struct {
		name    string
		channel string
		data    string
		key     string
		want    error
	}{
		{"no rule", "nowhere:a", `{"text":"x"}`, "", ErrNotFound},
		{"schema refuses", "strict:a", `{"text":1}`, "", ErrBadRequest},
		{"not JSON", "strict:a", `{"text":`, "", ErrBadRequest},
		{"bad channel", "bad channel", `{"text":"x"}`, "", ErrBadRequest},
		{"bad key", "strict:a", `{"text":"x"}`, "no spaces allowed", ErrBadRequest},
	} {
		_, err := s.s.Publish(ctx, tt.channel, []byte(tt.data), PublishOptions{IdempotencyKey: tt.key})
		var pe *protocol.Error
		if !errors.Is(err, tt.want) || !errors.As(err, &pe) || pe.Message == "" {
			t.Errorf("%s: %v, want %v with a message", tt.name, err, tt.want)
		}
	}
	if extra := c.barrier(); len(extra) != 0 {
		t.Fatalf("a refused publish was delivered: %s", extra[0].raw)
	}
}

func TestGoBroadcastReportsEachChannel(t *testing.T) {
	s, _ := goAPIServer(t)
	c := s.dial(t, token(t, "alice"))
	c.subscribe("chat:b1")
	res, err := s.s.Broadcast(context.Background(), []string{"chat:b1", "nowhere:x", "chat:b2"}, []byte(`"all"`), PublishOptions{})
	if err != nil || len(res) != 3 || res[0].Offset != 1 || res[1].Error != protocol.CodeNotFound || res[2].Offset != 1 {
		t.Fatalf("Broadcast: %+v, %v", res, err)
	}
	if p := c.nextPush(); p.Channel != "chat:b1" || string(p.Data) != `"all"` {
		t.Fatalf("delivered %s", p.raw)
	}
	if _, err := s.s.Broadcast(context.Background(), nil, []byte(`"x"`), PublishOptions{}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("no channels: %v", err)
	}
}

func TestGoDisconnectClosesTheTarget(t *testing.T) {
	s, logs := goAPIServer(t)
	a1, a2, b := s.dial(t, token(t, "alice")), s.dial(t, token(t, "alice")), s.dial(t, token(t, "bob"))
	ctx := WithRequestID(context.Background(), "req-42")
	if _, err := s.s.Disconnect(ctx, Target{User: "alice"}, 1000, ""); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("code 1000: %v, want ErrBadRequest", err)
	}
	if _, err := s.s.Disconnect(ctx, Target{User: "alice", Client: a1.welcome.Client}, 4000, ""); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("user and client at once: %v, want ErrBadRequest", err)
	}
	if _, err := s.s.Disconnect(ctx, Target{User: "alice"}, 4000, "\xff"); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("a reason that is not UTF-8: %v, want ErrBadRequest", err)
	}
	n, err := s.s.Disconnect(ctx, Target{User: "alice"}, 4100, "moved")
	if err != nil || n != 2 {
		t.Fatalf("Disconnect(alice) = %d, %v; want 2", n, err)
	}
	a1.expectClose(4100)
	a2.expectClose(4100)
	b.ok("ping", "")
	logs.find(t, "api_disconnect", map[string]any{"user": "alice", "code": 4100, "connections": 2, "request_id": "req-42"})

	n, err = s.s.Disconnect(ctx, Target{Client: b.welcome.Client}, 4200, "")
	if err != nil || n != 1 {
		t.Fatalf("Disconnect(client) = %d, %v; want 1", n, err)
	}
	b.expectClose(4200)
}

func TestGoPresenceAndHistory(t *testing.T) {
	s, _ := goAPIServer(t)
	a := s.dial(t, token(t, "alice"))
	a.subscribe("room:r")
	ctx := context.Background()
	clients, err := s.s.Presence(ctx, "room:r")
	if err != nil || len(clients) != 1 || clients[0].User != "alice" || clients[0].Client != a.welcome.Client {
		t.Fatalf("Presence: %+v, %v", clients, err)
	}
	if _, err := s.s.Presence(ctx, "chat:x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("presence on a channel without it: %v", err)
	}
	for i := range 3 {
		if _, err := s.s.Publish(ctx, "strict:h", []byte(`{"text":"`+strconv.Itoa(i)+`"}`), PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.s.History(ctx, "strict:h", 2)
	if err != nil || len(h.Publications) != 2 || h.Offset != 3 || string(h.Publications[1].Data) != `{"text":"2"}` {
		t.Fatalf("History: %+v, %v", h, err)
	}
	if h, err := s.s.History(ctx, "strict:h", -1); err != nil || len(h.Publications) != 3 {
		t.Fatalf("History with the server's cap: %+v, %v", h, err)
	}
	if _, err := s.s.History(ctx, "nowhere:x", 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("history without a rule: %v", err)
	}
}

// A server-side subscription: the connection is told with a subscribe
// push, then gets the channel's publications (on a channel the user could
// not subscribe to by itself), until the server unsubscribes it.
func TestGoSubscribeAndUnsubscribe(t *testing.T) {
	s, logs := goAPIServer(t)
	a, other := s.dial(t, token(t, "alice")), s.dial(t, token(t, "bob"))
	a.fails("subscribe", `"channel":"private:a"`, "forbidden")
	ctx := context.Background()
	if _, err := s.s.Publish(ctx, "private:a", []byte(`"before"`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	n, err := s.s.Subscribe(ctx, Target{User: "alice"}, "private:a")
	if err != nil || n != 1 {
		t.Fatalf("Subscribe = %d, %v", n, err)
	}
	p := a.nextPush()
	if p.Push != protocol.PushSubscribe || p.Channel != "private:a" || p.Offset != 1 || p.Epoch == "" {
		t.Fatalf("want a subscribe push at offset 1, got %s", p.raw)
	}
	if _, err := s.s.Publish(ctx, "private:a", []byte(`"after"`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if p := a.nextPush(); p.Push != protocol.PushPublication || p.Offset != 2 || string(p.Data) != `"after"` {
		t.Fatalf("delivered %s", p.raw)
	}
	if _, err := s.s.Subscribe(ctx, Target{User: "alice"}, "private:a"); !errors.Is(err, ErrAlreadySubscribed) {
		t.Fatalf("second Subscribe: %v, want ErrAlreadySubscribed", err)
	}
	if _, err := s.s.Subscribe(ctx, Target{User: "alice"}, "nowhere:a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Subscribe without a rule: %v", err)
	}
	logs.find(t, "api_subscribe", map[string]any{"user": "alice", "channel": "private:a", "connections": 1})

	n, err = s.s.Unsubscribe(ctx, Target{User: "alice"}, "private:a")
	if err != nil || n != 1 {
		t.Fatalf("Unsubscribe = %d, %v", n, err)
	}
	if p := a.nextPush(); p.Push != protocol.PushUnsubscribe || p.Channel != "private:a" {
		t.Fatalf("want an unsubscribe push, got %s", p.raw)
	}
	if _, err := s.s.Publish(ctx, "private:a", []byte(`"gone"`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if extra := a.barrier(); len(extra) != 0 {
		t.Fatalf("delivered after the server unsubscribed: %s", extra[0].raw)
	}
	if extra := other.barrier(); len(extra) != 0 {
		t.Fatalf("another user received %s", extra[0].raw)
	}
}

// limits.max_subscriptions holds for server-side subscriptions, and a
// client can leave one with its own unsubscribe.
func TestGoSubscribeKeepsTheLimits(t *testing.T) {
	s, _ := goAPIServer(t)
	a := s.dial(t, token(t, "alice"))
	ctx := context.Background()
	for i := range 3 {
		if _, err := s.s.Subscribe(ctx, Target{Client: a.welcome.Client}, "chat:"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.s.Subscribe(ctx, Target{Client: a.welcome.Client}, "chat:3"); !errors.Is(err, ErrLimitExceeded) {
		t.Fatalf("fourth subscription: %v, want ErrLimitExceeded", err)
	}
	a.ok("unsubscribe", `"channel":"chat:0"`)
	if n, err := s.s.Subscribe(ctx, Target{Client: a.welcome.Client}, "chat:3"); err != nil || n != 1 {
		t.Fatalf("after the client left one: %d, %v", n, err)
	}
}

// Server-side subscriptions racing the connection's close leave nothing
// behind in the hub: a publication afterwards reaches nobody, and the
// server shuts down cleanly.
func TestGoSubscribeRacesTheClose(t *testing.T) {
	s, _ := goAPIServer(t)
	ctx := context.Background()
	for round := range 20 {
		a := s.dial(t, token(t, "racer"))
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = s.s.Subscribe(ctx, Target{User: "racer"}, "room:race")
		}()
		_ = a.ws.Close()
		wg.Wait()
		s.waitConnections(t, 0)
		clients, err := s.s.Presence(ctx, "room:race")
		if err != nil || len(clients) != 0 {
			t.Fatalf("round %d: presence after the close: %+v, %v", round, clients, err)
		}
	}
	watcher := s.dial(t, token(t, "watcher"))
	watcher.subscribe("room:race")
	if _, err := s.s.Publish(ctx, "room:race", []byte(`"x"`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if p := watcher.nextPush(); string(p.Data) != `"x"` {
		t.Fatalf("delivered %s", p.raw)
	}
}

// The HTTP API's subscribe and unsubscribe are the Go API's.
func TestAPISubscribe(t *testing.T) {
	s, _ := goAPIServer(t)
	a := s.dial(t, token(t, "alice"))
	status, body, _ := s.apiCall(t, "POST", "/api/subscribe", apiKeyA, `{"user":"alice","channel":"private:x"}`)
	if status != 200 || body["connections"] != 1.0 {
		t.Fatalf("subscribe: %d %v", status, body)
	}
	if p := a.nextPush(); p.Push != "subscribe" || p.Channel != "private:x" {
		t.Fatalf("want a subscribe push, got %s", p.raw)
	}
	status, body, _ = s.apiCall(t, "POST", "/api/subscribe", apiKeyA, `{"user":"alice","channel":"private:x"}`)
	if status != 409 || body["error"] != "already_subscribed" {
		t.Fatalf("again: %d %v", status, body)
	}
	status, body, _ = s.apiCall(t, "POST", "/api/subscribe", apiKeyA, `{"channel":"private:x"}`)
	if status != 400 || body["error"] != "bad_request" {
		t.Fatalf("no target: %d %v", status, body)
	}
	status, body, _ = s.apiCall(t, "POST", "/api/unsubscribe", apiKeyA, `{"client":"`+a.welcome.Client+`","channel":"private:x"}`)
	if status != 200 || body["connections"] != 1.0 {
		t.Fatalf("unsubscribe: %d %v", status, body)
	}
	if p := a.nextPush(); p.Push != "unsubscribe" {
		t.Fatalf("want an unsubscribe push, got %s", p.raw)
	}
	raw, _ := json.Marshal(body)
	if status, _, _ := s.apiCall(t, "POST", "/api/subscribe", "", `{"user":"alice","channel":"private:x"}`); status != 401 {
		t.Fatalf("without a key: %d (%s)", status, raw)
	}
}

// A connection the server subscribed may read the channel's history and
// presence (a client fills gaps that way), though the rule's roles would
// not let it subscribe; a reload keeps the subscription while a rule
// matches the channel, and ends it when none does.
func TestGoSubscriptionReadsAndOutlivesReload(t *testing.T) {
	s, _ := goAPIServer(t)
	a := s.dial(t, token(t, "alice"))
	ctx := context.Background()
	if _, err := s.s.Publish(ctx, "private:r", []byte(`"one"`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	a.fails("history", `"channel":"private:r"`, "forbidden")
	if _, err := s.s.Subscribe(ctx, Target{User: "alice"}, "private:r"); err != nil {
		t.Fatal(err)
	}
	if p := a.nextPush(); p.Push != protocol.PushSubscribe {
		t.Fatalf("want the subscribe push, got %s", p.raw)
	}
	var h protocol.HistoryResult
	if err := json.Unmarshal(a.ok("history", `"channel":"private:r"`), &h); err != nil || len(h.Publications) != 1 {
		t.Fatalf("history of a server-made subscription: %+v, %v", h, err)
	}

	cfg := s.s.cfg
	if err := s.s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := s.s.Publish(ctx, "private:r", []byte(`"two"`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if p := a.nextPush(); p.Push != protocol.PushPublication || string(p.Data) != `"two"` {
		t.Fatalf("after a reload that keeps the rule: %s", p.raw)
	}

	cfg.Channels = slices.DeleteFunc(slices.Clone(cfg.Channels), func(r policy.Rule) bool { return r.Pattern == "private:*" })
	if err := s.s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if p := a.nextPush(); p.Push != protocol.PushUnsubscribe || p.Channel != "private:r" {
		t.Fatalf("after a reload that removes the rule: %s", p.raw)
	}
}

// Server-side Subscribe and Unsubscribe racing each other and the
// connection's own commands leave the hub holding nothing once the
// connections are gone: no subscription the connection does not know of
// outlives it.
func TestGoSubscribeRacesUnsubscribe(t *testing.T) {
	s, _ := goAPIServer(t)
	ctx := context.Background()
	conns := make([]*client, 4)
	for i := range conns {
		conns[i] = s.dial(t, token(t, "racer"))
	}
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 60 {
				switch g {
				case 0:
					_, _ = s.s.Subscribe(ctx, Target{User: "racer"}, "room:r")
				case 1:
					_, _ = s.s.Unsubscribe(ctx, Target{User: "racer"}, "room:r")
				default:
					_, _ = s.s.Subscribe(ctx, Target{User: "racer"}, "chat:r")
					_, _ = s.s.Unsubscribe(ctx, Target{User: "racer"}, "chat:r")
				}
			}
		}()
	}
	wg.Wait()
	for _, c := range conns {
		_ = c.ws.Close()
	}
	s.waitConnections(t, 0)
	waitFor(t, "the hub to hold no channel", func() bool { return s.s.hub.Channels() == 0 })
	if clients, err := s.s.Presence(ctx, "room:r"); err != nil || len(clients) != 0 {
		t.Fatalf("presence after every connection left: %+v, %v", clients, err)
	}
}
