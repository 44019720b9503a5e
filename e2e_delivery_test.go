package rampart

import (
	"encoding/json"
	"sync"
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
