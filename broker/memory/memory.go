// Package memory is the single-node broker: streams, offsets and history in
// this process's memory. It is the default, and what the conformance suite
// holds the other backends to.
//
// Memory is bounded by configuration: each channel keeps at most its rule's
// history size, publications older than the rule's TTL are dropped, and a
// channel idle for longer than its TTL (or IdleTimeout without history) is
// forgotten; it comes back with a new epoch.
package memory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/rampart-rt/rampart/broker"
)

// IdleTimeout is how long a channel without history keeps its offset
// counter after its last publication.
const IdleTimeout = 5 * time.Minute

// Broker is the in-memory broker. Create it with New.
type Broker struct {
	mu       sync.Mutex // guards streams, presence, handler, events, closed
	streams  map[string]*stream
	presence map[string]presence
	handler  broker.Handler
	events   broker.PresenceEventHandler
	closed   bool

	now  func() time.Time
	stop chan struct{}
	done chan struct{}
}

// stream is one channel. Its own lock orders offsets and delivery.
type stream struct {
	mu      sync.Mutex // guards the fields below; taken after Broker.mu
	epoch   string
	top     uint64
	kept    []broker.Publication // oldest first, at most size
	ttl     time.Duration
	lastPub time.Time
	seen    map[string]seenKey // idempotency keys within broker.IdempotencyWindow
	order   []string           // keys of seen, oldest first
}

// seenKey is where the publish with an idempotency key landed, and when.
type seenKey struct {
	pos broker.Position
	at  time.Time
}

// recall returns the position of an earlier publish with key within the
// window, forgetting keys older than it.
func (s *stream) recall(key string, now time.Time) (broker.Position, bool) {
	for len(s.order) > 0 {
		old := s.order[0]
		if now.Sub(s.seen[old].at) <= broker.IdempotencyWindow {
			break
		}
		delete(s.seen, old)
		s.order = s.order[1:]
	}
	k, ok := s.seen[key]
	return k.pos, ok
}

func (s *stream) remember(key string, pos broker.Position, now time.Time) {
	if s.seen == nil {
		s.seen = make(map[string]seenKey)
	}
	s.seen[key] = seenKey{pos: pos, at: now}
	s.order = append(s.order, key)
}

// New returns a running in-memory broker.
func New() *Broker {
	b := &Broker{
		streams:  make(map[string]*stream),
		presence: make(map[string]presence),
		now:      time.Now,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go b.janitor(30 * time.Second)
	return b
}

// Run implements broker.Broker.
func (b *Broker) Run(h broker.Handler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handler = h
	return nil
}

// Subscribe implements broker.Broker; on one node every channel is heard.
func (b *Broker) Subscribe(context.Context, string) error { return b.open() }

// Unsubscribe implements broker.Broker.
func (b *Broker) Unsubscribe(context.Context, string) error { return b.open() }

func (b *Broker) open() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return broker.ErrClosed
	}
	return nil
}

func (b *Broker) stream(channel string, create bool) (*stream, broker.Handler, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, nil, broker.ErrClosed
	}
	s := b.streams[channel]
	if s == nil && create {
		s = &stream{epoch: newEpoch()}
		b.streams[channel] = s
	}
	return s, b.handler, nil
}

// Publish implements broker.Broker.
func (b *Broker) Publish(_ context.Context, channel string, data []byte, user, client string, opts broker.PublishOptions) (broker.Position, error) {
	s, h, err := b.stream(channel, true)
	if err != nil {
		return broker.Position{}, err
	}
	now := b.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if opts.IdempotencyKey != "" {
		if pos, ok := s.recall(opts.IdempotencyKey, now); ok {
			return pos, nil
		}
		defer func() { s.remember(opts.IdempotencyKey, broker.Position{Offset: s.top, Epoch: s.epoch}, now) }()
	}
	s.top++
	s.lastPub = now
	s.ttl = opts.HistoryTTL
	p := broker.Publication{Channel: channel, Offset: s.top, Epoch: s.epoch, Data: data, User: user, Client: client, Time: now}
	if opts.HistorySize > 0 {
		s.kept = append(s.kept, p)
		if over := len(s.kept) - opts.HistorySize; over > 0 {
			s.kept = append(s.kept[:0], s.kept[over:]...)
		}
	} else {
		s.kept = nil
	}
	if h != nil {
		h(p) // under the stream lock: delivery follows offset order
	}
	return broker.Position{Offset: s.top, Epoch: s.epoch}, nil
}

// History implements broker.Broker.
func (b *Broker) History(_ context.Context, channel string, req broker.HistoryRequest) ([]broker.Publication, broker.Position, error) {
	s, _, err := b.stream(channel, true)
	if err != nil {
		return nil, broker.Position{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(b.now())
	pos := broker.Position{Offset: s.top, Epoch: s.epoch}
	kept := s.kept
	if req.Since != nil {
		i := 0
		for i < len(kept) && kept[i].Offset <= req.Since.Offset {
			i++
		}
		kept = kept[i:]
		if req.Limit >= 0 && len(kept) > req.Limit {
			kept = kept[:req.Limit]
		}
	} else if req.Limit >= 0 && len(kept) > req.Limit {
		kept = kept[len(kept)-req.Limit:]
	}
	return append([]broker.Publication(nil), kept...), pos, nil
}

// expire drops publications older than the TTL. Called with s.mu held.
func (s *stream) expire(now time.Time) {
	if s.ttl <= 0 {
		return
	}
	i := 0
	for i < len(s.kept) && now.Sub(s.kept[i].Time) > s.ttl {
		i++
	}
	if i > 0 {
		s.kept = append(s.kept[:0], s.kept[i:]...)
	}
}

// Close implements broker.Broker.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	return nil
}

func (b *Broker) janitor(every time.Duration) {
	defer close(b.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.forgetIdle()
		}
	}
}

// forgetIdle drops channels idle for longer than they keep anything.
func (b *Broker) forgetIdle() {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expirePresence(now)
	for name, s := range b.streams {
		s.mu.Lock()
		idle := max(s.ttl, IdleTimeout)
		if now.Sub(s.lastPub) > idle {
			delete(b.streams, name)
		}
		s.mu.Unlock()
	}
}

func newEpoch() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
