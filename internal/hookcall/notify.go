package hookcall

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/rampart-rt/rampart/hooks"
)

// maxBackoff caps the wait between two tries of a notification.
const maxBackoff = 30 * time.Second

// notifier queues notifications and delivers them from a few workers,
// started with the first notification and stopped by close.
type notifier struct {
	c       *Client
	mu      sync.Mutex // guards the fields below; a leaf lock
	queue   []pending
	started bool
	closed  bool
	wake    chan struct{}      // a notification was queued, or close began
	abort   context.Context    // canceled when close's deadline passed
	cancel  context.CancelFunc //
	workers sync.WaitGroup
}

type pending struct {
	id   string
	body []byte
}

func (n *notifier) init(c *Client) {
	n.c = c
	n.wake = make(chan struct{}, 1)
	n.abort, n.cancel = context.WithCancel(context.Background())
}

// NewEventID returns a random event id.
func NewEventID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Notify queues ev for delivery without blocking, when notifications of
// its kind are configured. Its ID and Time are set when empty. A full
// queue drops it, counted and logged.
func (c *Client) Notify(ev hooks.Event) {
	h := c.opts.Current()
	if h.Notify.URL == "" || !slices.Contains(h.Notify.Events, ev.Event) {
		return
	}
	if ev.ID == "" {
		ev.ID = NewEventID()
	}
	if ev.Time == 0 {
		ev.Time = time.Now().UnixMilli()
	}
	body, err := jsonv2.Marshal(ev)
	if err != nil {
		c.dropped("error", ev.ID, err.Error())
		return
	}
	n := &c.notifier
	n.mu.Lock()
	switch {
	case n.closed:
		n.mu.Unlock()
		c.dropped("shutdown", ev.ID, "the server is shutting down")
		return
	case len(n.queue) >= h.Notify.Queue:
		n.mu.Unlock()
		c.dropped("queue_full", ev.ID, "hooks.notify.queue is full")
		return
	}
	n.queue = append(n.queue, pending{id: ev.ID, body: body})
	if !n.started {
		n.started = true
		for range h.Notify.Workers {
			n.workers.Add(1)
			go n.work()
		}
	}
	n.mu.Unlock()
	n.signal()
}

func (n *notifier) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// work delivers queued notifications until the queue is empty after
// close began.
func (n *notifier) work() {
	defer n.workers.Done()
	for {
		p, ok, done := n.next()
		switch {
		case done:
			n.signal() // pass the word on to the next worker
			return
		case ok:
			n.deliver(p)
		default:
			<-n.wake
		}
	}
}

func (n *notifier) next() (p pending, ok, done bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.abort.Err() != nil { // close gave up: what is left is dropped there
		return p, false, true
	}
	if len(n.queue) > 0 {
		p = n.queue[0]
		n.queue[0] = pending{}
		n.queue = n.queue[1:]
		if len(n.queue) == 0 {
			n.queue = nil
		}
		if len(n.queue) > 0 {
			defer n.signal() // another worker may take the next one
		}
		return p, true, false
	}
	return p, false, n.closed
}

// deliver tries p up to hooks.notify.max_attempts times, waiting a
// doubling, jittered backoff between tries.
func (n *notifier) deliver(p pending) {
	c := n.c
	for attempt := 1; ; attempt++ {
		h := c.opts.Current()
		if h.Notify.URL == "" {
			c.dropped("disabled", p.id, "hooks.notify.url was removed")
			return
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(n.abort, h.Timeout)
		_, result, err := c.post(ctx, hooks.HookNotify, h, h.Notify.URL, "", p.body)
		cancel()
		c.opts.Metrics.Duration.WithLabelValues(hooks.HookNotify).Observe(time.Since(start).Seconds())
		if err == nil {
			c.opts.Metrics.Calls.WithLabelValues(hooks.HookNotify, "ok").Inc()
			return
		}
		c.opts.Metrics.Calls.WithLabelValues(hooks.HookNotify, result).Inc()
		if attempt >= h.Notify.MaxAttempts {
			c.dropped("attempts", p.id, err.Error())
			return
		}
		t := time.NewTimer(backoff(h.Notify.RetryBackoff, attempt))
		select {
		case <-t.C:
		case <-n.abort.Done():
			t.Stop()
			c.dropped("shutdown", p.id, err.Error())
			return
		}
	}
}

// backoff is base doubled per try made, capped at maxBackoff, between
// half and all of that.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base << min(attempt-1, 20)
	if d <= 0 || d > maxBackoff {
		d = maxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

func (c *Client) dropped(reason, id, why string) {
	c.opts.Metrics.Dropped.WithLabelValues(reason).Inc()
	c.opts.Log.Warn("notification dropped", "event", "hook_notification_dropped", "reason", reason, "event_id", id, "error", why)
}

// close stops taking notifications; the workers deliver what is queued
// until ctx is done, then give up the rest.
func (n *notifier) close(ctx context.Context) {
	n.mu.Lock()
	already := n.closed
	n.closed = true
	n.mu.Unlock()
	if !already {
		n.signal()
	}
	done := make(chan struct{})
	go func() {
		n.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		n.cancel()
		<-done
	}
	n.cancel()
	n.mu.Lock()
	rest := n.queue
	n.queue = nil
	n.mu.Unlock()
	for _, p := range rest {
		n.c.dropped("shutdown", p.id, "not delivered before shutdown")
	}
}
