package rampart

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/protocol"
)

// hub knows which local connections subscribe to which channel, and fans
// each publication out to them: encoded once, the same bytes queued to each
// subscriber without blocking.
type hub struct {
	broker  broker.Broker
	queue   int // pending buffer bound, as the send queue
	metrics *metrics
	seed    maphash.Seed
	shards  [hubShards]hubShard
}

const hubShards = 64

type hubShard struct {
	mu    sync.RWMutex // guards chans and each hubChan's subs; broker (un)subscribe calls run under it
	chans map[string]*hubChan
}

type hubChan struct {
	subs    map[*conn]struct{}
	pmu     sync.Mutex                      // guards pending; taken under the shard lock
	pending map[*conn]*[]broker.Publication // subscribers whose reply is not queued yet
}

func newHub(b broker.Broker, queue int, m *metrics) *hub {
	h := &hub{broker: b, queue: queue, metrics: m, seed: maphash.MakeSeed()}
	for i := range h.shards {
		h.shards[i].chans = make(map[string]*hubChan)
	}
	return h
}

func (h *hub) shard(channel string) *hubShard {
	return &h.shards[maphash.String(h.seed, channel)%hubShards]
}

// subscribe registers c as pending on channel (publications are buffered
// for it), makes sure this node hears the channel, and reads the channel's
// position and, with since, the publications missed. The caller queues the
// reply and then calls activate.
func (h *hub) subscribe(ctx context.Context, c *conn, channel string, since *protocol.Since, maxPubs int) (*subscribeResult, error) {
	sh := h.shard(channel)
	sh.mu.Lock()
	hc := sh.chans[channel]
	if hc == nil {
		if err := h.broker.Subscribe(ctx, channel); err != nil {
			sh.mu.Unlock()
			return nil, err
		}
		hc = &hubChan{subs: make(map[*conn]struct{}), pending: make(map[*conn]*[]broker.Publication)}
		sh.chans[channel] = hc
	}
	hc.pmu.Lock()
	hc.pending[c] = new([]broker.Publication)
	hc.pmu.Unlock()
	sh.mu.Unlock()

	req := broker.HistoryRequest{}
	if since != nil {
		req = broker.HistoryRequest{Since: &broker.Position{Offset: since.Offset, Epoch: since.Epoch}, Limit: maxPubs + 1}
	}
	pubs, pos, err := h.broker.History(ctx, channel, req)
	if err != nil {
		h.unsubscribe(c, channel)
		return nil, err
	}
	res := &subscribeResult{Offset: pos.Offset, Epoch: pos.Epoch, Publications: []protocol.Publication{}}
	if since != nil && recovered(since, pos, pubs, maxPubs) {
		res.Recovered = true
		res.Publications = clientPublications(pubs)
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

// activate turns c's pending subscription live: publications buffered
// meanwhile with an offset past the reply's are queued, in order, then
// fan-out reaches c directly.
func (h *hub) activate(c *conn, channel string, after uint64) {
	sh := h.shard(channel)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	hc := sh.chans[channel]
	if hc == nil {
		return
	}
	hc.pmu.Lock()
	buf, ok := hc.pending[c]
	delete(hc.pending, c)
	hc.pmu.Unlock()
	if !ok {
		return // unsubscribed meanwhile
	}
	for _, p := range *buf {
		if p.Offset > after {
			c.send(protocol.EncodePublication(p.Channel, p.Offset, p.Epoch, p.Data, p.User))
		}
	}
	hc.subs[c] = struct{}{}
}

// unsubscribe removes c from channel; the last local subscriber makes the
// node stop hearing it.
func (h *hub) unsubscribe(c *conn, channel string) {
	sh := h.shard(channel)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	hc := sh.chans[channel]
	if hc == nil {
		return
	}
	delete(hc.subs, c)
	hc.pmu.Lock()
	delete(hc.pending, c)
	empty := len(hc.subs) == 0 && len(hc.pending) == 0
	hc.pmu.Unlock()
	if empty {
		delete(sh.chans, channel)
		ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
		_ = h.broker.Unsubscribe(ctx, channel)
		cancel()
	}
}

// deliver is the broker's handler: it must not block.
func (h *hub) deliver(p broker.Publication) {
	sh := h.shard(p.Channel)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	hc := sh.chans[p.Channel]
	if hc == nil {
		return
	}
	if len(hc.subs) > 0 {
		b := protocol.EncodePublication(p.Channel, p.Offset, p.Epoch, p.Data, p.User)
		for c := range hc.subs {
			c.send(b)
		}
		h.metrics.deliveries.Add(float64(len(hc.subs)))
		h.metrics.latency.Observe(time.Since(p.Time).Seconds())
	}
	hc.pmu.Lock()
	for c, buf := range hc.pending {
		if len(*buf) >= h.queue {
			c.closeWith(protocol.CloseSlowConsumer, "slow consumer")
			continue
		}
		*buf = append(*buf, p)
	}
	hc.pmu.Unlock()
}
