package brokertest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/broker"
)

// RunPresenceEvents runs the presence-event suite. newPair returns two
// brokers on one backend, as two nodes would use it (the same one twice
// for a single-node backend), not Run yet; both must implement
// broker.PresenceEvents. The suite closes them.
func RunPresenceEvents(t *testing.T, newPair func(t *testing.T) (a, b broker.Broker)) {
	tests := []struct {
		name     string
		twoNodes bool // meaningful only with two brokers
		fn       func(t *testing.T, a, b *eventNode)
	}{
		{"AcrossNodes", false, testEventsAcrossNodes},
		{"OnlySubscribedNodes", true, testEventsOnlySubscribed},
	}
	probeA, probeB := newPair(t)
	single := probeA == probeB
	_, _ = probeA.Close(), probeB.Close()
	for _, tc := range tests {
		if single && tc.twoNodes {
			continue // one node hears every channel: nothing to keep apart
		}
		t.Run(tc.name, func(t *testing.T) {
			a, b := newPair(t)
			na := startEvents(t, a)
			nb := na
			if b != a {
				nb = startEvents(t, b)
			}
			tc.fn(t, na, nb)
		})
	}
}

// eventNode is a broker with the publications and events it heard.
type eventNode struct {
	broker.Broker
	ev   broker.PresenceEvents
	pubs *recorder

	mu     sync.Mutex // guards events and wake
	events []broker.PresenceEvent
	wake   chan struct{}
}

func startEvents(t *testing.T, b broker.Broker) *eventNode {
	t.Helper()
	ev, ok := b.(broker.PresenceEvents)
	if !ok {
		t.Fatalf("%T does not implement broker.PresenceEvents", b)
	}
	n := &eventNode{Broker: b, ev: ev, wake: make(chan struct{})}
	ev.HandlePresenceEvents(func(e broker.PresenceEvent) {
		n.mu.Lock()
		n.events = append(n.events, e)
		close(n.wake)
		n.wake = make(chan struct{})
		n.mu.Unlock()
	})
	n.pubs = start(t, b)
	return n
}

// waitEvents waits until the node heard n events on channel, and returns
// every event it heard there.
func (n *eventNode) waitEvents(t *testing.T, channel string, count int) []broker.PresenceEvent {
	t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		n.mu.Lock()
		var got []broker.PresenceEvent
		for _, e := range n.events {
			if e.Channel == channel {
				got = append(got, e)
			}
		}
		wake := n.wake
		n.mu.Unlock()
		if len(got) >= count {
			return got
		}
		select {
		case <-wake:
		case <-deadline.C:
			t.Fatalf("channel %q: %d events after %v, want %d: %+v", channel, len(got), waitFor, count, got)
		}
	}
}

func (n *eventNode) publishEvent(t *testing.T, e broker.PresenceEvent) {
	t.Helper()
	if err := n.ev.PublishPresenceEvent(ctxT(t), e); err != nil {
		t.Fatalf("PublishPresenceEvent(%+v): %v", e, err)
	}
}

// testEventsAcrossNodes: events published on a reach b, which subscribed,
// whole (characters a careless encoding would mangle included), and do
// not disturb the channel's publications.
func testEventsAcrossNodes(t *testing.T, a, b *eventNode) {
	ch := channelName(t)
	if err := b.Subscribe(ctxT(t), ch); err != nil {
		t.Fatal(err)
	}
	want := []broker.PresenceEvent{
		{Channel: ch, Entry: entry("zoé \"z\"\n5 x", "c.1 >*")},
		{Channel: ch, Leave: true, Entry: entry("", "c-2")},
		{Channel: ch, Entry: entry("join 3\nab", "")},
	}
	for _, e := range want {
		a.publishEvent(t, e)
	}
	mustPublish(t, a, ch, `{"after":"events"}`, broker.PublishOptions{HistorySize: 10, HistoryTTL: time.Minute})
	got := b.waitEvents(t, ch, len(want))
	for _, e := range want {
		if !slices.Contains(got, e) {
			t.Errorf("b heard %+v, missing %+v", got, e)
		}
	}
	pubs := b.pubs.wait(t, ch, "the publication after the events", func(p []broker.Publication) bool { return len(p) >= 1 })
	if len(pubs) != 1 || string(pubs[0].Data) != `{"after":"events"}` || pubs[0].Offset != 1 {
		t.Fatalf("publications on b: %+v, want the one publication at offset 1", pubs)
	}
}

// testEventsOnlySubscribed: a node that does not hear a channel gets none
// of its events. Events from one publisher arrive in order, so once the
// event of a channel b hears has come, the earlier one would have too.
func testEventsOnlySubscribed(t *testing.T, a, b *eventNode) {
	quiet, heard := channelName(t), channelName(t)
	if err := b.Subscribe(ctxT(t), heard); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctxT(t), quiet); err != nil {
		t.Fatal(err)
	}
	if err := b.Unsubscribe(ctxT(t), quiet); err != nil {
		t.Fatal(err)
	}
	a.publishEvent(t, broker.PresenceEvent{Channel: quiet, Entry: entry("u", "c1")})
	a.publishEvent(t, broker.PresenceEvent{Channel: heard, Entry: entry("u", "c2")})
	b.waitEvents(t, heard, 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.events {
		if e.Channel == quiet {
			t.Fatalf("b heard %+v on a channel it left", e)
		}
	}
}
