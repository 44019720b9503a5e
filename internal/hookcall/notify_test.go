package hookcall

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/rampart-rt/rampart/hooks"
	"github.com/rampart-rt/rampart/internal/metrics"
	"github.com/rampart-rt/rampart/settings"
)

// A full queue drops the event (counted), and Close gives up what it could
// not deliver by its deadline (counted), aborts the call in flight, and
// leaves no goroutine behind.
func TestNotifyQueueFullAndClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	var got atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server notices a client gone only once the body is read
		got.Add(1)
		<-r.Context().Done() // never answers: only the caller's deadline ends it
	}))
	defer backend.Close()
	h := &settings.Hooks{Key: []byte("k-0123456789abcdef0123456789abcdef"), Notify: settings.Notify{URL: backend.URL}}
	h.Notify.Queue, h.Notify.Workers, h.Notify.MaxAttempts = 1, 1, 3
	h.Timeout, h.Notify.RetryBackoff, h.MaxConcurrent, h.MaxResponseBytes = time.Minute, time.Millisecond, 1, 1024
	h.Notify.Events = []string{hooks.EventConnect, hooks.EventDisconnect}
	m := metrics.NewHooks(nil)
	c := New(Options{Current: func() *settings.Hooks { return h }, Metrics: m})

	c.Notify(hooks.Event{Event: hooks.EventConnect, User: "a"})
	deadline := time.Now().Add(5 * time.Second)
	for got.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling interval
	}
	if got.Load() != 1 {
		t.Fatal("the first event did not reach the backend")
	}
	c.Notify(hooks.Event{Event: hooks.EventDisconnect, User: "a"}) // waits in the queue
	c.Notify(hooks.Event{Event: hooks.EventConnect, User: "b"})    // the queue is full
	c.Notify(hooks.Event{Event: "ignored", User: "c"})             // not an event configured: not queued
	if v := count(m, "queue_full"); v != 1 {
		t.Fatalf("queue_full drops: %v, want 1", v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c.Close(ctx)
	if v := count(m, "shutdown"); v != 2 {
		t.Fatalf("shutdown drops: %v, want 2 (the one in flight and the one queued)", v)
	}
	c.Notify(hooks.Event{Event: hooks.EventConnect, User: "late"})
	if v := count(m, "shutdown"); v != 3 {
		t.Fatalf("an event after Close: shutdown drops %v, want 3", v)
	}
	c.Close(context.Background()) // twice is fine
}

func count(m *metrics.Hooks, reason string) float64 {
	var d dto.Metric
	_ = m.Dropped.WithLabelValues(reason).Write(&d)
	return d.GetCounter().GetValue()
}
