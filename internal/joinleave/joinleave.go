package joinleave

import (
	"sync"
	"time"

	"github.com/rampart-rt/rampart/broker"
)

// Batch is what one window of a channel's events comes to.
type Batch struct {
	Channel string
	Joins   []broker.PresenceEntry // clients that subscribed, in the order first heard
	Leaves  []broker.PresenceEntry // clients that left
	// Overflow: more than the limit's clients changed within the window;
	// Joins and Leaves are then empty, and the receiver should read
	// presence again.
	Overflow bool
	// Events is how many events the batch folds (for counting; after an
	// overflow, the events dropped are counted too).
	Events int
}

// Limits are read for each window, so a reload applies to the next one.
type Limits func() (window time.Duration, maxClients int)

// Coalescer batches events per channel. Create it with New; Close stops
// it.
type Coalescer struct {
	limits Limits
	flush  func(Batch)
	wg     sync.WaitGroup // scheduled and running flushes

	mu     sync.Mutex // guards chans and closed
	chans  map[string]*window
	closed bool
}

// window is one channel's events since its last batch. A channel has a
// window exactly while a flush of it is scheduled or running, so batches
// of a channel are at least the window's length apart and never overlap.
type window struct {
	timer    *time.Timer
	flushing bool               // flush is running: new events wait for the next
	order    []string           // client ids, first heard first
	clients  map[string]*netted // by client id
	overflow bool               // more than maxClients: order and clients are dropped
	events   int                // added since the last batch
}

// netted is one client's events within a window: what it was before the
// window (present when its first event was a leave) and after it.
type netted struct {
	entry        broker.PresenceEntry
	firstLeave   bool
	presentAfter bool
}

// New returns a coalescer calling flush with each channel's batches, from
// its own goroutines, one at a time per channel. flush must not block.
func New(limits Limits, flush func(Batch)) *Coalescer {
	return &Coalescer{limits: limits, flush: flush, chans: make(map[string]*window)}
}

// Add records one event. A channel's first event after a quiet window is
// flushed at once; later ones wait for the end of the window.
func (c *Coalescer) Add(e broker.PresenceEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	w := c.chans[e.Channel]
	if w == nil {
		w = &window{clients: make(map[string]*netted)}
		c.chans[e.Channel] = w
		c.schedule(e.Channel, w, 0)
	}
	_, max := c.limits()
	w.add(e, max)
}

func (w *window) add(e broker.PresenceEvent, max int) {
	w.events++
	if w.overflow {
		return
	}
	n := w.clients[e.Entry.Client]
	if n == nil {
		if len(w.order) >= max {
			w.overflow, w.order, w.clients = true, nil, nil
			return
		}
		n = &netted{entry: e.Entry, firstLeave: e.Leave}
		w.clients[e.Entry.Client] = n
		w.order = append(w.order, e.Entry.Client)
	}
	n.presentAfter = !e.Leave
}

// schedule runs flush for channel after d. Called with c.mu held.
func (c *Coalescer) schedule(channel string, w *window, d time.Duration) {
	c.wg.Add(1)
	w.timer = time.AfterFunc(d, func() {
		defer c.wg.Done()
		c.flushChannel(channel)
	})
}

// flushChannel hands the window's batch to flush and opens the next
// window; a window that heard nothing ends the channel's entry.
func (c *Coalescer) flushChannel(channel string) {
	c.mu.Lock()
	w := c.chans[channel]
	if c.closed || w == nil {
		c.mu.Unlock()
		return
	}
	if w.events == 0 {
		delete(c.chans, channel)
		c.mu.Unlock()
		return
	}
	b := w.take(channel)
	w.flushing = true
	c.mu.Unlock()
	if b.Overflow || len(b.Joins) > 0 || len(b.Leaves) > 0 {
		c.flush(b)
	}
	next, _ := c.limits()
	c.mu.Lock()
	defer c.mu.Unlock()
	w.flushing = false
	if !c.closed {
		c.schedule(channel, w, next)
	}
}

// take empties the window into a batch. A client that joined and left
// within it, or left and came back, changed nothing and is not listed.
func (w *window) take(channel string) Batch {
	b := Batch{Channel: channel, Overflow: w.overflow, Events: w.events}
	for _, id := range w.order {
		n := w.clients[id]
		switch {
		case !n.firstLeave && n.presentAfter:
			b.Joins = append(b.Joins, n.entry)
		case n.firstLeave && !n.presentAfter:
			b.Leaves = append(b.Leaves, n.entry)
		}
	}
	w.order, w.clients, w.overflow, w.events = nil, make(map[string]*netted), false, 0
	return b
}

// Idle reports whether no channel has events waiting or a batch being
// flushed: every batch of the events added so far has been handed over.
func (c *Coalescer) Idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.chans) == 0
}

// Close drops the events not flushed yet and waits for flushes running.
// It is safe to call more than once.
func (c *Coalescer) Close() {
	c.mu.Lock()
	c.closed = true
	for ch, w := range c.chans {
		if !w.flushing && w.timer.Stop() {
			c.wg.Done()
		}
		delete(c.chans, ch)
	}
	c.mu.Unlock()
	c.wg.Wait()
}
