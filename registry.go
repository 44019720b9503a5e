package rampart

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// registry owns the life of every connection: it alone holds the set of
// open connections, the count that max_connections is checked against, and
// the wait groups Shutdown waits on. A connection goes through these states,
// each entered once and in this order:
//
//	admitted  counted by admit, before the token is checked; a failed
//	          handshake gives the count back (held.slot)
//	open      listed by open: visible to the sweeper, Drain, Shutdown and
//	          the API; its welcome is written only now
//	closing   a close is decided (conn.closeWith, conn.drop, a failed
//	          write): no further command of the connection runs
//	closed    the socket is gone: conn.closed unlisted it and gave back
//	          every count it held
//
// registry.mu is a leaf lock: nothing else is locked, and no connection,
// hub, broker or network call is made, while it is held.
type registry struct {
	mu       sync.Mutex // guards conns, shut and ended
	conns    map[*conn]struct{}
	shut     bool         // Shutdown began: nothing more is admitted
	ended    bool         // Shutdown saw every connection gone: no goroutine more is started
	draining atomic.Bool  // Drain or Shutdown began: nothing more is admitted
	n        atomic.Int64 // admitted and not given back

	live sync.WaitGroup // admitted connections until they are given back
	work sync.WaitGroup // per-connection goroutines besides the reader: writers, rpc calls

	senders []*sender     // set before the first connection; none: a goroutine per burst
	next    atomic.Uint32 // the sender the next connection gets
}

// pickSender spreads connections over the senders.
func (r *registry) pickSender() *sender {
	if len(r.senders) == 0 {
		return nil
	}
	return r.senders[int(r.next.Add(1))%len(r.senders)]
}

func newRegistry() *registry {
	return &registry{conns: make(map[*conn]struct{})}
}

// admit counts one more connection when the server is accepting and below
// max; every true is matched by exactly one giveBack.
func (r *registry) admit(max int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shut || r.draining.Load() || r.n.Load() >= int64(max) {
		return false
	}
	r.n.Add(1)
	r.live.Add(1)
	return true
}

func (r *registry) giveBack() {
	r.n.Add(-1)
	r.live.Done()
}

// open lists an admitted connection. It returns false when a drain or
// Shutdown began while the connection was upgraded: it is listed all the
// same (so that Shutdown waits for it) and the caller closes it with 1001.
func (r *registry) open(c *conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns[c] = struct{}{}
	return !r.shut && !r.draining.Load()
}

// remove unlists c; called once, by conn.closed, which then gives back
// its admission with the rest of what it holds.
func (r *registry) remove(c *conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
}

// count is the number of admitted connections, open or in their handshake.
func (r *registry) count() int { return int(r.n.Load()) }

func (r *registry) snapshot() []*conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*conn, 0, len(r.conns))
	for c := range r.conns {
		out = append(out, c)
	}
	return out
}

// goWork runs f on a goroutine that Shutdown waits for. Once Shutdown has
// seen every connection gone it runs nothing and returns false.
func (r *registry) goWork(f func()) bool {
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return false
	}
	r.work.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.work.Done()
		f()
	}()
	return true
}

// startWriter runs a connection's writer, which Shutdown waits for. It
// takes no lock: a writer starts only for an open connection (conn.enqueue
// and attach check under conn.mu), which Shutdown waits for before it
// waits for work, so the Add always precedes that Wait. The writer starts
// once per burst of frames, up to once per delivery: a lock here is one
// every subscriber of every channel would share.
func (r *registry) startWriter(c *conn) {
	r.work.Add(1)
	if c.snd != nil && c.snd.push(c) {
		return
	}
	go func() {
		defer r.work.Done()
		c.flush()
	}()
}

// startWriterGoroutine runs c's writer on a goroutine of its own, for
// what c's sender could not send without waiting.
func (r *registry) startWriterGoroutine(c *conn) {
	r.work.Add(1)
	go func() {
		defer r.work.Done()
		c.flush()
	}()
}

// shutdown stops admissions and reports whether this was the first call.
func (r *registry) shutdown() bool {
	r.draining.Store(true)
	r.mu.Lock()
	defer r.mu.Unlock()
	first := !r.shut
	r.shut = true
	return first
}

// closeAll decides a close for every open connection, spread evenly over
// window; ctx ending sends the rest at once.
func (r *registry) closeAll(ctx context.Context, window time.Duration, code uint16, reason string) {
	conns := r.snapshot()
	if len(conns) == 0 {
		return
	}
	step := window / time.Duration(len(conns))
	for i, c := range conns {
		c.closeWith(code, reason)
		if step > 0 && i < len(conns)-1 {
			select {
			case <-time.After(step):
			case <-ctx.Done():
				step = 0
			}
		}
	}
}

// dropAll ends every connection at once, without a close frame.
func (r *registry) dropAll() {
	for _, c := range r.snapshot() {
		c.drop()
	}
}

// wait waits for every admitted connection to be given back, or for ctx;
// when ctx ends first it drops the rest and waits for them. Then it waits
// for the connections' other goroutines.
func (r *registry) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { r.live.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		r.dropAll()
		<-done
		err = ctx.Err()
	}
	r.mu.Lock()
	r.ended = true
	r.mu.Unlock()
	r.work.Wait()
	return err
}
