package joinleave

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rampart-rt/rampart/broker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitFor = 10 * time.Second

// sink keeps the batches flushed, with when each came.
type sink struct {
	mu      sync.Mutex
	batches []Batch
	at      []time.Time
	wake    chan struct{}
}

func newSink() *sink { return &sink{wake: make(chan struct{})} }

func (s *sink) flush(b Batch) {
	s.mu.Lock()
	s.batches = append(s.batches, b)
	s.at = append(s.at, time.Now())
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

// wait returns the batches once there are at least n.
func (s *sink) wait(t *testing.T, n int) []Batch {
	t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, wake := slices.Clone(s.batches), s.wake
		s.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-wake:
		case <-deadline.C:
			t.Fatalf("%d batches after %v, want %d: %+v", len(got), waitFor, n, got)
		}
	}
}

// until waits until cond holds on the batches so far.
func (s *sink) until(t *testing.T, what string, cond func([]Batch) bool) {
	t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, wake := slices.Clone(s.batches), s.wake
		s.mu.Unlock()
		if cond(got) {
			return
		}
		select {
		case <-wake:
		case <-deadline.C:
			t.Fatalf("waited %v for %s: %+v", waitFor, what, got)
		}
	}
}

func fixed(window time.Duration, max int) Limits {
	return func() (time.Duration, int) { return window, max }
}

func join(ch, client string) broker.PresenceEvent {
	return broker.PresenceEvent{Channel: ch, Entry: broker.PresenceEntry{User: "u-" + client, Client: client}}
}

func leave(ch, client string) broker.PresenceEvent {
	e := join(ch, client)
	e.Leave = true
	return e
}

func clients(es []broker.PresenceEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Client)
	}
	return out
}

// TestFirstEventAtOnceThenNetted: a quiet channel's first event goes out
// alone; what follows within the window comes as one batch, in which a
// client that came and went, or went and came back, is not listed.
func TestFirstEventAtOnceThenNetted(t *testing.T) {
	s := newSink()
	c := New(fixed(200*time.Millisecond, 100), s.flush)
	defer c.Close()
	c.Add(join("ch", "a"))
	first := s.wait(t, 1)[0]
	if first.Channel != "ch" || !slices.Equal(clients(first.Joins), []string{"a"}) || len(first.Leaves) != 0 || first.Overflow {
		t.Fatalf("first batch %+v, want the join of a alone", first)
	}
	for _, e := range []broker.PresenceEvent{join("ch", "b"), leave("ch", "b"), leave("ch", "a"), join("ch", "a"),
		join("ch", "d"), leave("ch", "e"), join("ch", "f")} {
		c.Add(e)
	}
	second := s.wait(t, 2)[1]
	if !slices.Equal(clients(second.Joins), []string{"d", "f"}) || !slices.Equal(clients(second.Leaves), []string{"e"}) || second.Overflow {
		t.Fatalf("second batch %+v, want joins [d f] and leaves [e]", second)
	}
	if second.Joins[0].User != "u-d" {
		t.Fatalf("join %+v lost its user", second.Joins[0])
	}
}

// TestBoundedPerWindow: a burst of events on one channel comes as batches
// at least a window apart, each within the cap, and every client is told
// unless a batch overflowed; another channel is batched on its own.
func TestBoundedPerWindow(t *testing.T) {
	const window, burst = 50 * time.Millisecond, 300
	s := newSink()
	c := New(fixed(window, 40), s.flush)
	defer c.Close()
	start := time.Now()
	for i := range burst {
		c.Add(join("busy", fmt.Sprint(i)))
		if i%20 == 0 {
			c.Add(join("other", fmt.Sprint(i)))
		}
	}
	elapsed := time.Since(start)
	var overflows, joined int
	s.until(t, "every event folded into a batch", func(bs []Batch) bool {
		events := 0
		overflows, joined = 0, 0
		for _, b := range bs {
			if b.Channel == "busy" {
				events += b.Events
				joined += len(b.Joins)
				if b.Overflow {
					overflows++
				}
			}
		}
		return events == burst
	})
	if overflows == 0 && joined != burst {
		t.Errorf("%d of %d joins listed, and no overflow", joined, burst)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var busyAt []time.Time
	for i, b := range s.batches {
		if b.Channel == "busy" {
			if len(b.Joins)+len(b.Leaves) > 40 || b.Overflow && len(b.Joins)+len(b.Leaves) != 0 {
				t.Errorf("batch %d lists %d clients (overflow %v), cap 40", i, len(b.Joins)+len(b.Leaves), b.Overflow)
			}
			busyAt = append(busyAt, s.at[i])
		}
	}
	for i := 1; i < len(busyAt); i++ {
		if gap := busyAt[i].Sub(busyAt[i-1]); gap < window {
			t.Errorf("batches %d and %d only %v apart, window %v", i-1, i, gap, window)
		}
	}
	if max := int(elapsed/window) + 2; overflows == 0 && len(busyAt) > burst/40+max {
		t.Errorf("%d batches for %d joins added in %v", len(busyAt), burst, elapsed)
	}
	if overflows == 0 {
		t.Logf("no overflow: the burst was spread over %v", elapsed)
	}
}

// TestOverflow: more distinct clients than the cap within one window come
// as one overflow batch listing nobody; the next window lists again.
func TestOverflow(t *testing.T) {
	s := newSink()
	c := New(fixed(200*time.Millisecond, 3), s.flush)
	defer c.Close()
	c.Add(join("ch", "first"))
	s.wait(t, 1)
	for i := range 10 {
		c.Add(join("ch", fmt.Sprint(i)))
	}
	b := s.wait(t, 2)[1]
	if !b.Overflow || len(b.Joins) != 0 || len(b.Leaves) != 0 {
		t.Fatalf("batch %+v, want an overflow listing nobody", b)
	}
	c.Add(leave("ch", "first"))
	b = s.wait(t, 3)[2]
	if b.Overflow || !slices.Equal(clients(b.Leaves), []string{"first"}) {
		t.Fatalf("batch after the overflow %+v, want the leave of first", b)
	}
}

// TestClose: events not flushed yet are dropped, no flush runs after
// Close, and no goroutine is left (goleak).
func TestClose(t *testing.T) {
	s := newSink()
	c := New(fixed(time.Minute, 100), s.flush)
	c.Add(join("ch", "a"))
	s.wait(t, 1)
	c.Add(join("ch", "b")) // waits a minute: dropped by Close
	c.Close()
	c.Close()
	c.Add(join("ch", "c"))
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.batches) != 1 {
		t.Fatalf("batches after Close: %+v", s.batches)
	}
}
