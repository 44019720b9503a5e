package hub

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/internal/deflate"
	"github.com/rampart-rt/rampart/protocol"
)

// Subscriber is a connection as the hub sees it. Both methods must return
// at once: the hub calls them under its locks, once per publication.
type Subscriber interface {
	comparable
	// Send queues an encoded message for the connection without blocking;
	// a connection that cannot take it closes itself (a slow consumer).
	// The same message goes to every subscriber of a publication, so that
	// its compressed form is made once for all of them.
	Send(m *deflate.Message) bool
	// Close closes the connection with a close code and its reason,
	// without blocking.
	Close(code uint16, reason string)
}

// Options configure a Hub.
type Options struct {
	// Broker carries the channels between nodes; the hub asks it to
	// deliver a channel here while a local connection subscribes to it.
	Broker broker.Broker
	// Queue bounds the publications buffered for one subscriber whose
	// subscribe reply is not queued yet, as its send queue does: past it,
	// the subscriber is closed as a slow consumer.
	Queue int
	// Timeout bounds the broker calls the hub makes on its own (leaving a
	// channel nobody here subscribes to any more).
	Timeout time.Duration
	// Delivered, when set, is told after each fan-out how many frames were
	// queued and when the publication was published.
	Delivered func(n int, published time.Time)
}

// Hub knows which local connections subscribe to which channel, and fans
// each publication out to them: encoded once, the same bytes queued to each
// subscriber without blocking. S is the connection type (a pointer), so the
// hub's maps hold it directly.
type Hub[S Subscriber] struct {
	opts   Options
	seed   maphash.Seed
	shards [hubShards]hubShard[S]
}

const hubShards = 64

// Lock order: hubChan.memb, then hubShard.mu, then hubChan.pmu, then
// conn.mu. No network call runs under a shard lock.
type hubShard[S Subscriber] struct {
	mu    sync.RWMutex // guards chans and each hubChan's subs and refs
	chans map[string]*hubChan[S]
}

type hubChan[S Subscriber] struct {
	// subs maps each live subscriber to its floor: the offset its
	// subscribe reply reached, in epoch. A publication of that epoch at or
	// under a subscriber's floor was already counted by the reply (the
	// broker can deliver it after the history read), so it is not sent to
	// that subscriber again: each subscription gets strictly increasing
	// offsets.
	subs  members[S]
	epoch string // the epoch of the floors in subs

	refs int        // local subscribers, pending ones included
	pmu  sync.Mutex // guards the buffers in pending; taken under the shard lock
	// pending holds the subscribers whose reply is not queued yet, with
	// the publications buffered for them; nil when there are none. It is
	// changed only under the shard's write lock, so a fan-out (under the
	// read lock) may look at it without pmu.
	pending map[S]*[]broker.Publication

	pubs atomic.Uint64 // publications delivered here, counted for the console's busiest channels

	memb   sync.Mutex // serialises this node's broker Subscribe and Unsubscribe of the channel
	joined bool       // the broker delivers the channel here; guarded by memb
}

// New returns a hub over o.Broker; the broker's deliveries go to Deliver.
func New[S Subscriber](o Options) *Hub[S] {
	if o.Delivered == nil {
		o.Delivered = func(int, time.Time) {}
	}
	h := &Hub[S]{opts: o, seed: maphash.MakeSeed()}
	for i := range h.shards {
		h.shards[i].chans = make(map[string]*hubChan[S])
	}
	return h
}

func (h *Hub[S]) shard(channel string) *hubShard[S] {
	return &h.shards[maphash.String(h.seed, channel)%hubShards]
}

// Channels returns how many channels this node hears: those with a local
// subscriber, pending or live.
func (h *Hub[S]) Channels() int {
	n := 0
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		n += len(sh.chans)
		sh.mu.RUnlock()
	}
	return n
}

// Subscribe registers c as pending on channel (publications are buffered
// for it), makes sure this node hears the channel, and reads the channel's
// position and, with since, the publications missed. The caller queues the
// reply and then calls Activate.
func (h *Hub[S]) Subscribe(ctx context.Context, c S, channel string, since *protocol.Since, maxPubs int) (*protocol.SubscribeResult, error) {
	sh := h.shard(channel)
	sh.mu.Lock()
	hc := sh.chans[channel]
	if hc == nil {
		hc = &hubChan[S]{}
		sh.chans[channel] = hc
	}
	hc.refs++
	hc.pmu.Lock()
	if hc.pending == nil {
		hc.pending = make(map[S]*[]broker.Publication, 1)
	}
	hc.pending[c] = new([]broker.Publication)
	hc.pmu.Unlock()
	sh.mu.Unlock()
	if err := h.join(ctx, hc, channel); err != nil {
		h.Unsubscribe(c, channel)
		return nil, err
	}

	req := broker.HistoryRequest{}
	if since != nil {
		req = broker.HistoryRequest{Since: &broker.Position{Offset: since.Offset, Epoch: since.Epoch}, Limit: maxPubs + 1}
	}
	pubs, pos, err := h.opts.Broker.History(ctx, channel, req)
	if err != nil {
		h.Unsubscribe(c, channel)
		return nil, err
	}
	res := &protocol.SubscribeResult{Offset: pos.Offset, Epoch: pos.Epoch, Publications: []protocol.Publication{}}
	if since != nil && recovered(since, pos, pubs, maxPubs) {
		res.Recovered = true
		res.Publications = Publications(pubs)
		if n := len(pubs); n > 0 {
			res.Offset = pubs[n-1].Offset
		}
	}
	return res, nil
}

// recovered reports whether pubs are exactly every publication after since.
func recovered(since *protocol.Since, pos broker.Position, pubs []broker.Publication, maxPubs int) bool {
	switch {
	case since.Epoch != pos.Epoch || since.Offset > pos.Offset || len(pubs) > maxPubs:
		return false
	case since.Offset == pos.Offset:
		return len(pubs) == 0
	default:
		return len(pubs) > 0 && pubs[0].Offset == since.Offset+1
	}
}

// Activate turns c's pending subscription live: publications buffered
// meanwhile with an offset past the reply's are queued, in order, then
// fan-out reaches c directly, above its floor (after, in epoch).
func (h *Hub[S]) Activate(c S, channel string, after uint64, epoch string) {
	sh := h.shard(channel)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	hc := sh.chans[channel]
	if hc == nil {
		return
	}
	hc.pmu.Lock()
	buf, ok := hc.pending[c]
	hc.forgetPending(c)
	hc.pmu.Unlock()
	if !ok {
		return // unsubscribed meanwhile
	}
	for _, p := range *buf {
		if p.Offset > after || p.Epoch != epoch {
			c.Send(deflate.NewMessage(protocol.EncodePublication(p.Channel, p.Offset, p.Epoch, p.Data, p.User)))
		}
	}
	if epoch != hc.epoch { // the channel started a new epoch: the other floors mean nothing now
		hc.subs.zeroFloors()
		hc.epoch = epoch
	}
	hc.subs.set(c, after)
}

// join makes sure the broker delivers channel to this node.
func (h *Hub[S]) join(ctx context.Context, hc *hubChan[S], channel string) error {
	hc.memb.Lock()
	defer hc.memb.Unlock()
	if hc.joined {
		return nil
	}
	if err := h.opts.Broker.Subscribe(ctx, channel); err != nil {
		return err
	}
	hc.joined = true
	return nil
}

// Unsubscribe removes c from channel; the last local subscriber makes the
// node stop hearing it.
func (h *Hub[S]) Unsubscribe(c S, channel string) {
	sh := h.shard(channel)
	sh.mu.Lock()
	hc := sh.chans[channel]
	if hc == nil {
		sh.mu.Unlock()
		return
	}
	live := hc.subs.remove(c)
	hc.pmu.Lock()
	_, pending := hc.pending[c]
	hc.forgetPending(c)
	hc.pmu.Unlock()
	if live || pending {
		hc.refs--
	}
	last := hc.refs == 0
	sh.mu.Unlock()
	if last {
		h.leave(sh, hc, channel)
	}
}

// leave tells the broker this node no longer needs channel, unless a new
// subscriber came meanwhile, and forgets the channel. The entry stays in
// the map until the broker was told, so a subscriber arriving meanwhile
// waits for the Unsubscribe (on memb) and subscribes again after it.
func (h *Hub[S]) leave(sh *hubShard[S], hc *hubChan[S], channel string) {
	hc.memb.Lock()
	defer hc.memb.Unlock()
	sh.mu.RLock()
	idle := hc.refs == 0
	sh.mu.RUnlock()
	if idle && hc.joined {
		ctx, cancel := context.WithTimeout(context.Background(), h.opts.Timeout)
		_ = h.opts.Broker.Unsubscribe(ctx, channel)
		cancel()
		hc.joined = false
	}
	sh.mu.Lock()
	if hc.refs == 0 && sh.chans[channel] == hc {
		delete(sh.chans, channel)
	}
	sh.mu.Unlock()
}

// Deliver is the broker's handler: it does not block.
func (h *Hub[S]) Deliver(p broker.Publication) {
	sh := h.shard(p.Channel)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	hc := sh.chans[p.Channel]
	if hc == nil {
		return
	}
	hc.pubs.Add(1)
	if hc.subs.len() > 0 {
		b := deflate.NewMessage(protocol.EncodePublication(p.Channel, p.Offset, p.Epoch, p.Data, p.User))
		floors := p.Epoch == hc.epoch
		n := 0
		// A publication at or under a subscriber's floor was counted by
		// its subscribe reply.
		if m := &hc.subs; m.has && (!floors || p.Offset > m.floor) {
			m.one.Send(b)
			n++
		}
		for c, floor := range hc.subs.more {
			if !floors || p.Offset > floor {
				c.Send(b)
				n++
			}
		}
		h.opts.Delivered(n, p.Time)
	}
	if hc.pending == nil {
		return
	}
	hc.pmu.Lock()
	for c, buf := range hc.pending {
		if len(*buf) >= h.opts.Queue {
			c.Close(protocol.CloseSlowConsumer, protocol.CloseCodes[protocol.CloseSlowConsumer])
			continue
		}
		*buf = append(*buf, p)
	}
	hc.pmu.Unlock()
}

// Live returns channel's live local subscribers: those whose subscribe
// reply is queued (a pending one hears of nothing but publications).
func (h *Hub[S]) Live(channel string) []S {
	sh := h.shard(channel)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	hc := sh.chans[channel]
	if hc == nil || hc.subs.len() == 0 {
		return nil
	}
	out := make([]S, 0, hc.subs.len())
	if hc.subs.has {
		out = append(out, hc.subs.one)
	}
	for c := range hc.subs.more {
		out = append(out, c)
	}
	return out
}

// Publications converts a broker's publications to what clients see.
func Publications(pubs []broker.Publication) []protocol.Publication {
	out := make([]protocol.Publication, len(pubs))
	for i, p := range pubs {
		out[i] = protocol.Publication{Offset: p.Offset, Data: p.Data}
		if p.User != "" {
			out[i].Info = &protocol.ClientInfo{User: p.User}
		}
	}
	return out
}

// forgetPending removes c from the pending subscribers; the map goes
// with the last. Called under the shard's write lock and pmu.
func (hc *hubChan[S]) forgetPending(c S) {
	delete(hc.pending, c)
	if len(hc.pending) == 0 {
		hc.pending = nil
	}
}

// members are a channel's live subscribers with their floors. The first
// is kept inline and a map made only for the second: with a channel per
// user, most channels have one subscriber on a node, and a map would cost
// more than the rest of the channel's bookkeeping.
type members[S Subscriber] struct {
	one   S
	floor uint64 // one's
	has   bool   // one is set
	more  map[S]uint64
}

// set adds c with its floor, or changes c's floor.
func (m *members[S]) set(c S, floor uint64) {
	switch _, inMore := m.more[c]; {
	case m.has && m.one == c:
		m.floor = floor
	case inMore:
		m.more[c] = floor
	case !m.has:
		m.one, m.floor, m.has = c, floor, true
	default:
		if m.more == nil {
			m.more = make(map[S]uint64)
		}
		m.more[c] = floor
	}
}

// remove deletes c and reports whether it was there.
func (m *members[S]) remove(c S) bool {
	if m.has && m.one == c {
		var none S
		m.one, m.floor, m.has = none, 0, false
		return true
	}
	if _, ok := m.more[c]; !ok {
		return false
	}
	delete(m.more, c)
	if len(m.more) == 0 {
		m.more = nil
	}
	return true
}

func (m *members[S]) len() int {
	if m.has {
		return len(m.more) + 1
	}
	return len(m.more)
}

// zeroFloors forgets every floor (a new epoch began).
func (m *members[S]) zeroFloors() {
	m.floor = 0
	for c := range m.more {
		m.more[c] = 0
	}
}
