package rampart

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/broker/memory"
)

// lateBroker is the in-memory broker with the latency of a networked one:
// a publication is stored (and counted by history reads) at once, but
// reaches the node's subscription only when the test releases it, as a
// Redis or NATS delivery can arrive after a history read that already
// counted it.
type lateBroker struct {
	*memory.Broker
	mu   sync.Mutex
	held []broker.Publication
	h    broker.Handler
}

func (b *lateBroker) Run(h broker.Handler) error {
	b.h = h
	return b.Broker.Run(func(p broker.Publication) {
		b.mu.Lock()
		b.held = append(b.held, p)
		b.mu.Unlock()
	})
}

// release delivers what was held, in order.
func (b *lateBroker) release() {
	b.mu.Lock()
	held := b.held
	b.held = nil
	b.mu.Unlock()
	for _, p := range held {
		b.h(p)
	}
}

// A publication that a subscribe reply already counted is not pushed to
// that subscriber again when the broker delivers it late: each
// subscription gets strictly increasing offsets.
func TestNoDuplicateAfterSubscribe(t *testing.T) {
	b := &lateBroker{Broker: memory.New()}
	t.Cleanup(func() { b.Close() })
	s := startServer(t, func(c *Config) { c.Broker = b })
	early := s.dial(t, token(t, "early"))
	early.subscribe("chat:late")
	pub := s.dial(t, token(t, "pub"))
	pub.publish("chat:late", `1`)
	pub.publish("chat:late", `2`) // stored, not yet delivered here

	fresh := s.dial(t, token(t, "fresh"))
	if r := fresh.subscribe("chat:late"); r.Offset != 2 {
		t.Fatalf("subscribe reply at offset %d, want 2", r.Offset)
	}
	recovering := s.dial(t, token(t, "recovering"))
	r := recovering.subscribeSince("chat:late", `{"offset":0,"epoch":"`+early.barrierEpoch(t, "chat:late")+`"}`)
	if !r.Recovered || len(r.Publications) != 2 {
		t.Fatalf("recovery: %+v", r)
	}
	b.release()
	pub.publish("chat:late", `3`)
	b.release()

	for name, c := range map[string]*client{"early": early, "fresh": fresh, "recovering": recovering} {
		var got []uint64
		for {
			m := c.nextPush()
			got = append(got, m.Offset)
			if m.Offset == 3 {
				break
			}
		}
		want := map[string][]uint64{"early": {1, 2, 3}, "fresh": {3}, "recovering": {3}}[name]
		if len(got) != len(want) {
			t.Fatalf("%s got offsets %v, want %v", name, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s got offsets %v, want %v", name, got, want)
			}
		}
	}
}

// barrierEpoch reads the channel's epoch with a history call.
func (c *client) barrierEpoch(t *testing.T, channel string) string {
	t.Helper()
	m := c.call("history", `"channel":"`+channel+`","limit":0`)
	var r struct {
		Epoch string `json:"epoch"`
	}
	if err := json.Unmarshal(m.Result, &r); err != nil || r.Epoch == "" {
		t.Fatalf("history: %s", m.raw)
	}
	return r.Epoch
}

// lostAckBroker is the in-memory broker whose answer to one publish is
// lost: the publication is stored and delivered, but Publish reports the
// broker unavailable, as a Redis or NATS call that timed out after the
// write does.
type lostAckBroker struct {
	*memory.Broker
	lose atomic.Int32 // publishes whose answer is still to be lost
}

func (b *lostAckBroker) Publish(ctx context.Context, ch string, data []byte, user, client string, o broker.PublishOptions) (broker.Position, error) {
	pos, err := b.Broker.Publish(ctx, ch, data, user, client, o)
	if err == nil && b.lose.Add(-1) >= 0 {
		return broker.Position{}, broker.ErrUnavailable
	}
	return pos, err
}

// A publish answered unavailable may have happened; its retry with the
// same idempotency key is stored and delivered once, and answers the first
// one's offset. Keys are per publisher and per channel.
func TestRetryWithIdempotencyKeyPublishesOnce(t *testing.T) {
	b := &lostAckBroker{Broker: memory.New()}
	t.Cleanup(func() { b.Close() })
	s := startServer(t, func(c *Config) {
		c.Broker = b
		c.API.Keys = []string{apiKeyA}
	})
	sub := s.dial(t, token(t, "sub"))
	sub.subscribe("chat:idem")
	alice := s.dial(t, token(t, "alice"))

	b.lose.Store(1)
	alice.fails("publish", `"channel":"chat:idem","data":1,"idempotency_key":"k1"`, "unavailable")
	retry := alice.ok("publish", `"channel":"chat:idem","data":1,"idempotency_key":"k1"`)
	if string(retry) != `{"offset":1}` {
		t.Fatalf("retry answered %s, want the first publish's offset 1", retry)
	}
	// Another user's same key is another publish.
	if off := s.dial(t, token(t, "bob")).publish2(t, "chat:idem", `2`, "k1"); off != 2 {
		t.Fatalf("bob's publish with alice's key got offset %d, want 2", off)
	}
	// The HTTP API: the header, then the body, with the same key.
	b.lose.Store(1)
	if status, _, _ := s.apiCall(t, "POST", "/api/publish", apiKeyA, `{"channel":"chat:idem","data":3}`, "Idempotency-Key", "api-1"); status != http.StatusServiceUnavailable {
		t.Fatalf("API publish with a lost answer: %d", status)
	}
	status, body, _ := s.apiCall(t, "POST", "/api/publish", apiKeyA, `{"channel":"chat:idem","data":3,"idempotency_key":"api-1"}`)
	if status != http.StatusOK || body["offset"] != 3.0 {
		t.Fatalf("API retry: %d %v, want offset 3", status, body)
	}
	if status, _, _ := s.apiCall(t, "POST", "/api/publish", apiKeyA, `{"channel":"chat:idem","data":3,"idempotency_key":"bad key!"}`); status != http.StatusBadRequest {
		t.Fatalf("malformed key: %d", status)
	}
	alice.fails("publish", `"channel":"chat:idem","data":1,"idempotency_key":"`+strings.Repeat("k", 65)+`"`, "bad_request")

	var got []uint64
	for _, m := range sub.barrier() {
		got = append(got, m.Offset)
	}
	for len(got) < 3 {
		got = append(got, sub.nextPush().Offset)
	}
	if !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("the subscriber got offsets %v, want 1 2 3: each publish once", got)
	}
	if extra := sub.barrier(); len(extra) != 0 {
		t.Fatalf("the subscriber got more: %d pushes", len(extra))
	}
}

// publish2 publishes with an idempotency key and returns the offset.
func (c *client) publish2(t *testing.T, channel, data, key string) uint64 {
	t.Helper()
	var r struct {
		Offset uint64 `json:"offset"`
	}
	if err := json.Unmarshal(c.ok("publish", fmt.Sprintf(`"channel":%q,"data":%s,"idempotency_key":%q`, channel, data, key)), &r); err != nil {
		t.Fatal(err)
	}
	return r.Offset
}
