package nats

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rampart-rt/rampart/broker"
)

// hdrPresenceTTL is the entry's TTL in ms: JetStream's per-message TTL
// counts whole seconds, so readers also check stored time + TTL.
const hdrPresenceTTL = "Rampart-Presence-TTL"

func (b *Broker) presenceSubject(channel, client string) string {
	return b.opts.Prefix + ".presence." + token(channel) + "." + token(client)
}

// AddPresence implements broker.Presence. The entry replaces the client's
// previous one (one message kept per subject).
func (b *Broker) AddPresence(ctx context.Context, channel string, e broker.PresenceEntry, ttl time.Duration) error {
	ttl = max(ttl, time.Millisecond)
	msg := &nats.Msg{Subject: b.presenceSubject(channel, e.Client), Data: []byte(e.User), Header: nats.Header{}}
	msg.Header.Set(hdrPresenceTTL, strconv.FormatInt(ttl.Milliseconds(), 10))
	keep := (ttl + time.Second - 1).Truncate(time.Second) // whole seconds, rounded up
	return b.call(ctx, "add presence", func(ctx context.Context, _ *handles) error {
		_, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgTTL(keep))
		return err
	})
}

// RemovePresence implements broker.Presence.
func (b *Broker) RemovePresence(ctx context.Context, channel, client string) error {
	return b.call(ctx, "remove presence", func(ctx context.Context, hs *handles) error {
		return hs.pr.Purge(ctx, jetstream.WithPurgeSubject(b.presenceSubject(channel, client)))
	})
}

// Presence implements broker.Presence: the live entries, sorted by user,
// then client, read with a short-lived consumer that delivers the last
// message of each of the channel's subjects.
func (b *Broker) Presence(ctx context.Context, channel string) ([]broker.PresenceEntry, error) {
	var out []broker.PresenceEntry
	err := b.call(ctx, "presence", func(ctx context.Context, hs *handles) error {
		var err error
		out, err = b.readPresence(ctx, hs.pr, channel)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(x, y broker.PresenceEntry) int {
		if c := strings.Compare(x.User, y.User); c != 0 {
			return c
		}
		return strings.Compare(x.Client, y.Client)
	})
	return out, nil
}

func (b *Broker) readPresence(ctx context.Context, st jetstream.Stream, channel string) ([]broker.PresenceEntry, error) {
	prefix := b.opts.Prefix + ".presence." + token(channel) + "."
	cons, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject:     prefix + "*",
		DeliverPolicy:     jetstream.DeliverLastPerSubjectPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: 30 * time.Second, // in case the delete below is lost
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.opts.OpTimeout)
		_ = st.DeleteConsumer(dctx, cons.CachedInfo().Name)
		cancel()
	}()
	out := []broker.PresenceEntry{}
	pending := int(cons.CachedInfo().NumPending)
	if pending == 0 {
		return out, nil
	}
	wait := time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = max(time.Until(dl), 10*time.Millisecond)
	}
	batch, err := cons.Fetch(pending, jetstream.FetchMaxWait(wait))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for m := range batch.Messages() {
		if e, ok := presenceEntry(prefix, m, now); ok {
			out = append(out, e)
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		return nil, err
	}
	return out, nil
}

// presenceEntry decodes one stored entry, unless it has expired.
func presenceEntry(prefix string, m jetstream.Msg, now time.Time) (broker.PresenceEntry, bool) {
	client, ok := channelOf(prefix, m.Subject())
	meta, err := m.Metadata()
	ttl, terr := strconv.ParseInt(m.Headers().Get(hdrPresenceTTL), 10, 64)
	if !ok || err != nil || terr != nil {
		return broker.PresenceEntry{}, false
	}
	if !now.Before(meta.Timestamp.Add(time.Duration(ttl) * time.Millisecond)) {
		return broker.PresenceEntry{}, false
	}
	return broker.PresenceEntry{User: string(m.Data()), Client: client}, true
}

// Presence events are core NATS messages on the channel's publication
// subject "<prefix>.pub.<token>", next to the publications JetStream
// republishes there: header Rampart-Event "join" or "leave", header
// Rampart-Client the client id, the body the user id. Nothing keeps them.
const (
	hdrEvent  = "Rampart-Event"
	hdrClient = "Rampart-Client"
)

// HandlePresenceEvents implements broker.PresenceEvents.
func (b *Broker) HandlePresenceEvents(h broker.PresenceEventHandler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = h
}

// PublishPresenceEvent implements broker.PresenceEvents.
func (b *Broker) PublishPresenceEvent(_ context.Context, e broker.PresenceEvent) error {
	if b.isClosed() {
		return broker.ErrClosed
	}
	if b.nc.Status() != nats.CONNECTED {
		return b.fail("publish presence event", nats.ErrDisconnected)
	}
	kind := "join"
	if e.Leave {
		kind = "leave"
	}
	msg := &nats.Msg{Subject: b.opts.Prefix + ".pub." + token(e.Channel), Data: []byte(e.Entry.User), Header: nats.Header{}}
	msg.Header.Set(hdrEvent, kind)
	msg.Header.Set(hdrClient, e.Entry.Client)
	if err := b.nc.PublishMsg(msg); err != nil {
		return b.fail("publish presence event", err)
	}
	return nil
}

// heardEvent hands the event in m to the handler if this node hears
// channel; a message of another kind is dropped.
func (b *Broker) heardEvent(channel, kind string, m *nats.Msg) {
	if kind != "join" && kind != "leave" {
		return
	}
	e := broker.PresenceEvent{Channel: channel, Leave: kind == "leave",
		Entry: broker.PresenceEntry{User: string(m.Data), Client: m.Header.Get(hdrClient)}}
	b.mu.Lock()
	h := b.events
	if b.subs[channel] == nil {
		h = nil
	}
	b.mu.Unlock()
	if h != nil {
		h(e)
	}
}

var (
	_ broker.Presence       = (*Broker)(nil)
	_ broker.PresenceEvents = (*Broker)(nil)
)
