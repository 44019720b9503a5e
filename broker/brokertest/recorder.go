package brokertest

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/broker"
)

// waitFor bounds every wait in the suite; backends answer in milliseconds.
const waitFor = 10 * time.Second

// recorder is a broker.Handler that keeps what it hears, per channel.
type recorder struct {
	mu   sync.Mutex // guards got
	got  map[string][]broker.Publication
	wake chan struct{} // closed and replaced on each publication
}

func newRecorder() *recorder {
	return &recorder{got: make(map[string][]broker.Publication), wake: make(chan struct{})}
}

func (r *recorder) handle(p broker.Publication) {
	r.mu.Lock()
	r.got[p.Channel] = append(r.got[p.Channel], p)
	close(r.wake)
	r.wake = make(chan struct{})
	r.mu.Unlock()
}

// pubs returns a copy of what channel received so far.
func (r *recorder) pubs(channel string) []broker.Publication {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]broker.Publication(nil), r.got[channel]...)
}

// wait polls until cond holds on channel's publications, or fails t.
func (r *recorder) wait(t *testing.T, channel string, what string, cond func([]broker.Publication) bool) []broker.Publication {
	t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		got := append([]broker.Publication(nil), r.got[channel]...)
		wake := r.wake
		r.mu.Unlock()
		if cond(got) {
			return got
		}
		select {
		case <-wake:
		case <-deadline.C:
			t.Fatalf("channel %q: waited %v for %s; got %d publications: %v", channel, waitFor, what, len(got), offsets(got))
		}
	}
}

// waitCount waits for at least n publications on channel.
func (r *recorder) waitCount(t *testing.T, channel string, n int) []broker.Publication {
	t.Helper()
	return r.wait(t, channel, "publications", func(p []broker.Publication) bool { return len(p) >= n })
}

func offsets(ps []broker.Publication) []uint64 {
	out := make([]uint64, len(ps))
	for i, p := range ps {
		out[i] = p.Offset
	}
	return out
}

// channelName returns a fresh channel name using every allowed punctuation
// character, so backends must encode names they cannot use as they are.
func channelName(t *testing.T) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "t_chan.a:b@c-" + hex.EncodeToString(b[:])
}

// checkRun calls Run with r and registers Close.
func start(t *testing.T, b broker.Broker) *recorder {
	t.Helper()
	r := newRecorder()
	if err := b.Run(r.handle); err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return r
}
