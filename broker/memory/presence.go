package memory

import (
	"context"
	"sort"
	"time"

	"github.com/rampart-rt/rampart/broker"
)

// presence is one channel's entries with their expiry, by client id.
type presence map[string]presenceEntry

type presenceEntry struct {
	user    string
	expires time.Time
}

// AddPresence implements broker.Presence.
func (b *Broker) AddPresence(_ context.Context, channel string, e broker.PresenceEntry, ttl time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return broker.ErrClosed
	}
	p := b.presence[channel]
	if p == nil {
		p = presence{}
		b.presence[channel] = p
	}
	p[e.Client] = presenceEntry{user: e.User, expires: b.now().Add(ttl)}
	return nil
}

// RemovePresence implements broker.Presence.
func (b *Broker) RemovePresence(_ context.Context, channel, client string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return broker.ErrClosed
	}
	if p := b.presence[channel]; p != nil {
		delete(p, client)
		if len(p) == 0 {
			delete(b.presence, channel)
		}
	}
	return nil
}

// Presence implements broker.Presence; entries come sorted by user, then
// client.
func (b *Broker) Presence(_ context.Context, channel string) ([]broker.PresenceEntry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, broker.ErrClosed
	}
	now := b.now()
	out := []broker.PresenceEntry{}
	for client, e := range b.presence[channel] {
		if now.Before(e.expires) {
			out = append(out, broker.PresenceEntry{User: e.user, Client: client})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].User != out[j].User {
			return out[i].User < out[j].User
		}
		return out[i].Client < out[j].Client
	})
	return out, nil
}

// expirePresence drops expired entries; called by the janitor with b.mu held.
func (b *Broker) expirePresence(now time.Time) {
	for ch, p := range b.presence {
		for client, e := range p {
			if !now.Before(e.expires) {
				delete(p, client)
			}
		}
		if len(p) == 0 {
			delete(b.presence, ch)
		}
	}
}

// HandlePresenceEvents implements broker.PresenceEvents.
func (b *Broker) HandlePresenceEvents(h broker.PresenceEventHandler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = h
}

// PublishPresenceEvent implements broker.PresenceEvents: on one node the
// handler hears every channel, and is called before it returns.
func (b *Broker) PublishPresenceEvent(_ context.Context, e broker.PresenceEvent) error {
	b.mu.Lock()
	h, closed := b.events, b.closed
	b.mu.Unlock()
	if closed {
		return broker.ErrClosed
	}
	if h != nil {
		h(e)
	}
	return nil
}

var (
	_ broker.Presence       = (*Broker)(nil)
	_ broker.PresenceEvents = (*Broker)(nil)
)
