package hub

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/broker/memory"
	"github.com/rampart-rt/rampart/internal/deflate"
	"github.com/rampart-rt/rampart/protocol"
)

// recorder is a connection as the hub sees it: it keeps what it was sent
// and how it was closed.
type recorder struct {
	mu     sync.Mutex
	frames [][]byte
	closed uint16
}

func (r *recorder) Send(m *deflate.Message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames = append(r.frames, m.Data)
	return true
}

func (r *recorder) Close(code uint16, _ string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = code
}

// offsets returns the offsets of the publications r received, in order.
func (r *recorder) offsets(t *testing.T) []uint64 {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []uint64
	for _, f := range r.frames {
		var p struct {
			Push   string
			Offset uint64
		}
		if err := json.Unmarshal(f, &p); err != nil || p.Push != protocol.PushPublication {
			t.Fatalf("not a publication push: %s", f)
		}
		out = append(out, p.Offset)
	}
	return out
}

type fixture struct {
	h *Hub[*recorder]
	b *memory.Broker
}

func newFixture(t *testing.T, queue int) fixture {
	t.Helper()
	b := memory.New()
	t.Cleanup(func() { _ = b.Close() })
	h := New[*recorder](Options{Broker: b, Queue: queue, Timeout: time.Second})
	if err := b.Run(h.Deliver); err != nil {
		t.Fatal(err)
	}
	return fixture{h: h, b: b}
}

func (f fixture) publish(t *testing.T, channel string) broker.Position {
	t.Helper()
	pos, err := f.b.Publish(context.Background(), channel, []byte(`"x"`), "u", "", broker.PublishOptions{HistorySize: 100, HistoryTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

func (f fixture) subscribe(t *testing.T, r *recorder, channel string, since *protocol.Since) *protocol.SubscribeResult {
	t.Helper()
	res, err := f.h.Subscribe(context.Background(), r, channel, since, 100)
	if err != nil {
		t.Fatal(err)
	}
	f.h.Activate(r, channel, res.Offset, res.Epoch)
	return res
}

func (f fixture) channels() int { return f.h.Channels() }

// Subscribers of one channel come and go concurrently; afterwards the hub
// holds nothing, and a publication reaches exactly the subscribers left.
func TestChurnLeavesNothingBehind(t *testing.T) {
	f := newFixture(t, 16)
	subs := make([]*recorder, 8)
	var wg sync.WaitGroup
	for i := range subs {
		subs[i] = new(recorder)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				f.subscribe(t, subs[i], "c", nil)
				f.h.Unsubscribe(subs[i], "c")
			}
		}()
	}
	wg.Wait()
	if n := f.channels(); n != 0 {
		t.Fatalf("%d channels left after every subscriber left", n)
	}
	f.subscribe(t, subs[0], "c", nil)
	f.subscribe(t, subs[1], "c", nil)
	pos := f.publish(t, "c")
	for i, r := range subs {
		got := r.offsets(t)
		want := 0
		if i < 2 {
			want = 1
		}
		if len(got) != want || (want == 1 && got[0] != pos.Offset) {
			t.Fatalf("subscriber %d received offsets %v, want %d publication(s)", i, got, want)
		}
	}
}

// A publication at or under a subscriber's floor (its reply's offset) was
// counted by the reply and is not sent again; the ones after it are.
func TestFloorsKeepOffsetsIncreasing(t *testing.T) {
	f := newFixture(t, 16)
	f.publish(t, "c")
	f.publish(t, "c")
	r := new(recorder)
	res, err := f.h.Subscribe(context.Background(), r, "c", &protocol.Since{Offset: 0, Epoch: ""}, 100)
	if err != nil {
		t.Fatal(err)
	}
	// Delivered while pending: buffered, then sent by Activate above the floor.
	f.publish(t, "c")
	f.h.Activate(r, "c", res.Offset, res.Epoch)
	f.publish(t, "c")
	got := r.offsets(t)
	if len(got) != 2 || got[0] != res.Offset+1 || got[1] != res.Offset+2 {
		t.Fatalf("after a reply at offset %d the subscriber received %v", res.Offset, got)
	}
}

// A subscriber whose reply is still pending while more publications arrive
// than its queue holds is closed as a slow consumer; the others go on.
func TestPendingOverflowClosesOnlyThatSubscriber(t *testing.T) {
	f := newFixture(t, 3)
	slow, live := new(recorder), new(recorder)
	f.subscribe(t, live, "c", nil)
	if _, err := f.h.Subscribe(context.Background(), slow, "c", nil, 100); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		f.publish(t, "c")
	}
	if slow.closed != protocol.CloseSlowConsumer {
		t.Fatalf("pending subscriber closed with %d, want %d", slow.closed, protocol.CloseSlowConsumer)
	}
	if live.closed != 0 || len(live.offsets(t)) != 4 {
		t.Fatalf("live subscriber: closed %d, received %v", live.closed, live.offsets(t))
	}
}

// Delivered is told how many frames each fan-out queued.
func TestDeliveredCounts(t *testing.T) {
	b := memory.New()
	t.Cleanup(func() { _ = b.Close() })
	var mu sync.Mutex
	var counts []int
	h := New[*recorder](Options{Broker: b, Queue: 4, Timeout: time.Second, Delivered: func(n int, _ time.Time) {
		mu.Lock()
		counts = append(counts, n)
		mu.Unlock()
	}})
	if err := b.Run(h.Deliver); err != nil {
		t.Fatal(err)
	}
	f := fixture{h: h, b: b}
	for range 3 {
		f.subscribe(t, new(recorder), "c", nil)
	}
	f.publish(t, "c")
	f.publish(t, "other") // nobody here: no fan-out
	mu.Lock()
	defer mu.Unlock()
	if len(counts) != 1 || counts[0] != 3 {
		t.Fatalf("Delivered saw %v, want [3]", counts)
	}
}

func TestSubsFindAndRemove(t *testing.T) {
	var s Subs
	s = append(s, Sub{Channel: "a"}, Sub{Channel: "b", Tracked: true}, Sub{Channel: "c"})
	if s.Find("b") != 1 || s.Find("z") != -1 {
		t.Fatalf("Find: b at %d, z at %d", s.Find("b"), s.Find("z"))
	}
	if sb, found := s.Remove("b"); !found || !sb.Tracked || sb.Channel != "b" {
		t.Fatalf("Remove(b) = %+v, %v", sb, found)
	}
	if _, found := s.Remove("b"); found || len(s) != 2 || s.Find("a") < 0 || s.Find("c") < 0 {
		t.Fatalf("after removing b: %v", s)
	}
}

// members keeps the first subscriber inline and the others in a map; each
// is found, updated and removed wherever it is, and the map goes with the
// last of the others.
func TestMembersInlineAndMap(t *testing.T) {
	var m members[*recorder]
	a, b, c := new(recorder), new(recorder), new(recorder)
	m.set(a, 1)
	m.set(b, 2)
	m.set(c, 3)
	m.set(b, 20) // an update, not a second entry
	if m.len() != 3 || m.one != a || m.more[b] != 20 || m.more[c] != 3 {
		t.Fatalf("after three sets: len %d, inline %p, more %v", m.len(), m.one, m.more)
	}
	if !m.remove(a) || m.has || m.len() != 2 {
		t.Fatalf("removing the inline one: has %v, len %d", m.has, m.len())
	}
	m.set(a, 5) // the free inline place is taken again
	if !m.has || m.one != a || m.floor != 5 || m.len() != 3 {
		t.Fatalf("re-adding: has %v, floor %d, len %d", m.has, m.floor, m.len())
	}
	m.zeroFloors()
	if m.floor != 0 || m.more[b] != 0 || m.more[c] != 0 {
		t.Fatalf("floors after zeroFloors: %d %v", m.floor, m.more)
	}
	if !m.remove(b) || !m.remove(c) || m.more != nil || m.remove(c) || m.len() != 1 {
		t.Fatalf("removing the others: more %v, len %d", m.more, m.len())
	}
}

// A channel whose first subscriber left still delivers to the others,
// and a pending subscriber leaves no map behind.
func TestInlineSubscriberLeaves(t *testing.T) {
	f := newFixture(t, 16)
	a, b := new(recorder), new(recorder)
	f.subscribe(t, a, "c", nil)
	f.subscribe(t, b, "c", nil)
	f.h.Unsubscribe(a, "c")
	f.publish(t, "c")
	if len(a.offsets(t)) != 0 || len(b.offsets(t)) != 1 {
		t.Fatalf("after the first left: a got %v, b got %v", a.offsets(t), b.offsets(t))
	}
	hc := f.h.shard("c").chans["c"]
	if hc.pending != nil {
		t.Fatalf("pending map kept with no pending subscriber: %v", hc.pending)
	}
}
