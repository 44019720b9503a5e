package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// subscriber is one bench connection subscribed to one channel. Its
// counters are written by its reader and read by anyone.
type subscriber struct {
	gws.BuiltinEventHandler // answers pings
	hist                    *histogram
	ready                   chan error // the subscribe reply, once

	last       atomic.Uint64 // highest offset seen
	received   atomic.Uint64 // publications with a new offset
	duplicates atomic.Uint64 // publications with an offset already seen
	gaps       atomic.Uint64 // offsets skipped
	lastAt     atomic.Int64  // unix nanoseconds of the last publication
	closed     atomic.Bool   // the connection ended
}

func newSubscriber(h *histogram) *subscriber {
	return &subscriber{hist: h, ready: make(chan error, 1)}
}

var (
	publicationPrefix = []byte(`{"push":"publication",`)
	subscribeReply    = []byte(`{"id":1,`)
)

// subscribe sends the subscribe command and waits for its reply.
func (s *subscriber) subscribe(ctx context.Context, ws *gws.Conn, channel string) error {
	if err := ws.WriteMessage(gws.OpcodeText, subscribeFrame(channel)); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	select {
	case err := <-s.ready:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(replyTimeout):
		return fmt.Errorf("subscribe: no reply within %s", replyTimeout)
	}
}

func (s *subscriber) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	b := msg.Bytes()
	switch {
	case bytes.HasPrefix(b, publicationPrefix):
		s.publication(b)
	case bytes.HasPrefix(b, subscribeReply):
		s.replied(b)
	}
}

func (s *subscriber) OnClose(*gws.Conn, error) {
	s.closed.Store(true)
	s.signal(fmt.Errorf("connection closed before the subscribe reply"))
}

func (s *subscriber) signal(err error) {
	select {
	case s.ready <- err:
	default:
	}
}

func (s *subscriber) replied(b []byte) {
	var r struct {
		Result *struct{ Offset uint64 }
		Error  *struct{ Code string }
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Result == nil {
		s.signal(fmt.Errorf("subscribe refused: %s", b))
		return
	}
	s.last.Store(r.Result.Offset)
	s.signal(nil)
}

// publication counts a publication by its offset and records its latency
// from the send time the publisher put in data.t.
func (s *subscriber) publication(b []byte) {
	now := time.Now()
	off, ok := scanUint(b, `"offset":`)
	if !ok {
		return
	}
	switch last := s.last.Load(); {
	case off <= last:
		s.duplicates.Add(1)
		return
	case off > last+1:
		s.gaps.Add(off - last - 1)
	}
	s.last.Store(off)
	s.received.Add(1)
	s.lastAt.Store(now.UnixNano())
	if t, ok := scanUint(b, `"t":`); ok && s.hist != nil {
		s.hist.record(now.Sub(time.Unix(0, int64(t))))
	}
}

// scanUint reads the unsigned integer after the first occurrence of key.
func scanUint(b []byte, key string) (uint64, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	var n uint64
	j := 0
	for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		n = n*10 + uint64(b[j]-'0')
	}
	return n, j > 0
}

// group is a set of subscribers held by one process, with the latency
// histogram they share.
type group struct {
	subs  []*subscriber
	conns []*gws.Conn
	hist  *histogram
	prev  groupResult // the counts at the previous delta
}

// openGroup opens cfg.Conns subscribers, connection k (from cfg.First) on
// cfg.channelOf(k).
func openGroup(ctx context.Context, cfg Options) (*group, error) {
	d := newDialer(cfg)
	g := &group{subs: make([]*subscriber, cfg.Conns), conns: make([]*gws.Conn, cfg.Conns), hist: new(histogram)}
	var opened atomic.Int64
	err := openAll(ctx, cfg.Conns, cfg.Concurrency, func(i int) error {
		k := cfg.First + i
		s := newSubscriber(g.hist)
		ws, err := d.dial(k, "bench-"+strconv.Itoa(k%cfg.Users), s)
		if err != nil {
			return err
		}
		g.subs[i], g.conns[i] = s, ws
		if err := s.subscribe(ctx, ws, cfg.channelOf(k)); err != nil {
			return err
		}
		opened.Add(1)
		return nil
	})
	if err != nil {
		g.close()
		return nil, fmt.Errorf("after %d of %d subscribers: %w", opened.Load(), cfg.Conns, err)
	}
	return g, nil
}

func (g *group) close() { closeAll(g.conns) }

// waitFinal waits until every subscriber still open has seen offset
// final, at most drain.
func (g *group) waitFinal(ctx context.Context, final uint64, drain time.Duration) {
	deadline := time.Now().Add(drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		done := true
		for _, s := range g.subs {
			if s.last.Load() < final && !s.closed.Load() {
				done = false
				break
			}
		}
		if done {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// total sums the group's counters since it opened; missing counts offsets
// up to final that a subscriber never saw after its last one.
func (g *group) total(final uint64) groupResult {
	r := groupResult{Subscribers: len(g.subs), Buckets: g.hist.sparse()}
	for _, s := range g.subs {
		r.Received += s.received.Load()
		r.Duplicates += s.duplicates.Load()
		r.Gaps += s.gaps.Load()
		if last := s.last.Load(); last < final {
			r.Missing += final - last
		}
		r.LastAt = max(r.LastAt, s.lastAt.Load())
		if s.closed.Load() {
			r.Closed++
		}
	}
	return r
}

// delta returns what the group saw since the previous delta (since it
// opened, the first time): one step of a ramp.
func (g *group) delta(final uint64) groupResult {
	cur := g.total(final)
	d := cur
	d.Received -= g.prev.Received
	d.Duplicates -= g.prev.Duplicates
	d.Gaps -= g.prev.Gaps
	d.Closed -= g.prev.Closed
	d.Buckets = make(map[int]uint64, len(cur.Buckets))
	for i, c := range cur.Buckets {
		if c > g.prev.Buckets[i] {
			d.Buckets[i] = c - g.prev.Buckets[i]
		}
	}
	g.prev = cur
	return d
}
