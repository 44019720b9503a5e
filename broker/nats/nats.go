// Package nats is the broker for several Rampart nodes sharing a NATS
// server or cluster with JetStream (NATS 2.11 or later: per-message TTL).
//
// What lives where, under Options.Prefix (a single subject token):
//   - every publication is a message of the JetStream stream
//     "<prefix>_hist" on subject "<prefix>.hist.<token>", where token is the
//     channel name in unpadded base32hex (channel names may hold '.', which
//     subjects reserve). Its headers carry the offset, the epoch, and the
//     channel's history size and TTL. The last message of a subject is the
//     channel's position: a publisher reads it and appends with
//     Nats-Expected-Last-Subject-Sequence, retrying on conflict, so offsets
//     go up by exactly 1 and JetStream orders them.
//   - the stream republishes each stored message to "<prefix>.pub.<token>";
//     nodes subscribe there with core NATS, one subscription per channel, and
//     receive publications in stream (so offset) order.
//   - presence lives in the stream "<prefix>_presence": one message per
//     entry on "<prefix>.presence.<token>.<client token>" (one kept per
//     subject), holding the user and carrying a per-message TTL, so
//     JetStream drops an entry its node stops refreshing.
//   - the KV bucket "<prefix>_epochs" holds the epoch handed out for a
//     channel that has no message yet; the first publication takes it
//     (and deletes it), so a lost stream never reuses an epoch.
//
// When JetStream loses the streams or the bucket (deleted, or a server
// restarted on an empty store), the next call recreates them and the
// channel starts a new epoch at offset 1; see lost for how that is told
// apart from a server that cannot be reached.
//
// Memory in JetStream: per channel at most Options.MaxHistory messages
// (MaxMsgsPerSubject, trimmed further to the channel's own history size
// every 16 publications), each kept max(history TTL, Options.IdleTimeout).
// When a channel's last message expires its position is lost and the next
// publication starts a new epoch.
//
// The package decides nothing about who may publish or subscribe.
package nats

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rampart-rt/rampart/broker"
)

// Options configures the NATS broker. The zero value talks to a server on
// nats://127.0.0.1:4222.
type Options struct {
	// URL of the NATS server; several may be given comma-separated.
	// Default nats.DefaultURL.
	URL string
	// Prefix names the stream, the KV bucket and the subjects. Letters,
	// digits, '_' and '-'. Default "rampart".
	Prefix string
	// NATS holds extra connection options (credentials, TLS, name).
	NATS []nats.Option
	// Replicas of the stream and bucket. Default 1.
	Replicas int
	// MemoryStorage keeps history in memory instead of files.
	MemoryStorage bool
	// MaxHistory is the most publications kept per channel, whatever the
	// channel's history size asks. Default 1000.
	MaxHistory int
	// DialTimeout bounds connecting. Default 2s.
	DialTimeout time.Duration
	// OpTimeout bounds each broker call on top of the caller's context.
	// Default 3s.
	OpTimeout time.Duration
	// ReconnectWait is the pause between reconnect attempts. Default 250ms.
	ReconnectWait time.Duration
	// IdleTimeout is how long a channel's position outlives its last
	// publication when its history TTL is shorter. Default 5m, as the
	// memory broker.
	IdleTimeout time.Duration
}

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.URL == "" {
		o.URL = nats.DefaultURL
	}
	if o.Prefix == "" {
		o.Prefix = "rampart"
	}
	if !prefixRE.MatchString(o.Prefix) {
		errs = append(errs, errors.New("nats: option Prefix must be 1 to 32 letters, digits, '_' or '-'"))
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.MaxHistory == 0 {
		o.MaxHistory = 1000
	}
	if o.Replicas < 1 || o.MaxHistory < 1 {
		errs = append(errs, errors.New("nats: options Replicas and MaxHistory must be positive"))
	}
	o.DialTimeout = cmp.Or(o.DialTimeout, 2*time.Second)
	o.OpTimeout = cmp.Or(o.OpTimeout, 3*time.Second)
	o.ReconnectWait = cmp.Or(o.ReconnectWait, 250*time.Millisecond)
	o.IdleTimeout = cmp.Or(o.IdleTimeout, 5*time.Minute)
	if o.DialTimeout < 0 || o.OpTimeout < 0 || o.ReconnectWait < 0 || o.IdleTimeout < time.Second {
		errs = append(errs, errors.New("timeouts must not be negative, IdleTimeout at least 1s"))
	}
	return o, errors.Join(errs...)
}

// Broker is the NATS broker. Create it with New.
type Broker struct {
	opts     Options
	nc       *nats.Conn
	js       jetstream.JetStream
	msgs     chan *nats.Msg // every channel subscription delivers here
	stop     chan struct{}
	done     chan struct{}
	stream   string
	bucket   string
	presence string                  // the presence stream
	hs       atomic.Pointer[handles] // set by ensure

	mu      sync.Mutex // guards the fields below
	handler broker.Handler
	events  broker.PresenceEventHandler
	running bool
	subs    map[string]*nats.Subscription // by Rampart channel name
	closed  bool
}

// New connects, creates or updates the stream and the KV bucket, and
// returns a broker; call Run before use. It fails, wrapping
// broker.ErrUnavailable, if NATS cannot be reached before ctx ends.
func New(ctx context.Context, opts Options) (*Broker, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("nats broker: %w", err)
	}
	b := &Broker{
		opts:     o,
		msgs:     make(chan *nats.Msg, 8192),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		stream:   o.Prefix + "_hist",
		bucket:   o.Prefix + "_epochs",
		presence: o.Prefix + "_presence",
		subs:     make(map[string]*nats.Subscription),
	}
	nopts := append([]nats.Option{
		nats.Timeout(o.DialTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(o.ReconnectWait),
		nats.ReconnectJitter(50*time.Millisecond, 50*time.Millisecond),
	}, o.NATS...)
	b.nc, err = nats.Connect(o.URL, nopts...)
	if err != nil {
		return nil, b.fail("connect", err)
	}
	b.js, err = jetstream.New(b.nc)
	if err == nil {
		err = b.ensure(ctx)
	}
	if err != nil {
		b.nc.Close()
		return nil, b.fail("connect", err)
	}
	return b, nil
}

// handles are the stream and the bucket, as ensure last found them.
type handles struct {
	st jetstream.Stream
	kv jetstream.KeyValue
	pr jetstream.Stream // presence
}

// ensure creates or updates the stream and the bucket.
func (b *Broker) ensure(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
	defer cancel()
	storage := jetstream.FileStorage
	if b.opts.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	p := b.opts.Prefix
	st, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              b.stream,
		Subjects:          []string{p + ".hist.>"},
		Storage:           storage,
		Replicas:          b.opts.Replicas,
		MaxMsgsPerSubject: int64(b.opts.MaxHistory),
		Discard:           jetstream.DiscardOld,
		AllowDirect:       true,
		AllowMsgTTL:       true,
		Duplicates:        broker.IdempotencyWindow, // idempotency keys travel as Nats-Msg-Id
		RePublish:         &jetstream.RePublish{Source: p + ".hist.>", Destination: p + ".pub.>"},
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", b.stream, err)
	}
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   b.bucket,
		History:  1,
		TTL:      b.opts.IdleTimeout,
		Storage:  storage,
		Replicas: b.opts.Replicas,
	})
	if err != nil {
		return fmt.Errorf("bucket %s: %w", b.bucket, err)
	}
	pr, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              b.presence,
		Subjects:          []string{p + ".presence.>"},
		Storage:           storage,
		Replicas:          b.opts.Replicas,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardOld,
		AllowDirect:       true,
		AllowMsgTTL:       true,
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", b.presence, err)
	}
	b.hs.Store(&handles{st: st, kv: kv, pr: pr})
	return nil
}

// Run implements broker.Broker: it starts the goroutine that hands every
// subscribed channel's publications to h, in the order NATS delivers them.
func (b *Broker) Run(h broker.Handler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return broker.ErrClosed
	case b.running:
		return errors.New("nats broker: Run called twice")
	}
	b.handler, b.running = h, true
	go b.receive()
	return nil
}

func (b *Broker) receive() {
	defer close(b.done)
	for {
		select {
		case <-b.stop:
			return
		case m := <-b.msgs:
			channel, ok := channelOf(b.opts.Prefix+".pub.", m.Subject)
			if !ok {
				continue
			}
			if kind := m.Header.Get(hdrEvent); kind != "" {
				b.heardEvent(channel, kind, m)
				continue
			}
			p, err := decode(channel, m.Header, m.Data)
			if err != nil {
				continue // not written by this package
			}
			if h := b.listener(channel); h != nil {
				h(p)
			}
		}
	}
}

func (b *Broker) listener(channel string) broker.Handler {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs[channel] == nil {
		return nil
	}
	return b.handler
}

// Subscribe implements broker.Broker. It returns once the server has
// registered the subscription, so a publication made after it returns is
// delivered. nats.go subscribes again by itself after a reconnect.
func (b *Broker) Subscribe(ctx context.Context, channel string) error {
	b.mu.Lock()
	defer b.mu.Unlock() // held across the flush: Subscribe is rare, and this keeps subs exact
	if err := b.usable(); err != nil {
		return err
	}
	if b.subs[channel] != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
	defer cancel()
	if b.nc.Status() != nats.CONNECTED {
		return b.failLocked("subscribe", nats.ErrDisconnected)
	}
	sub, err := b.nc.ChanSubscribe(b.opts.Prefix+".pub."+token(channel), b.msgs)
	if err == nil {
		err = b.nc.FlushWithContext(ctx)
		if err != nil {
			_ = sub.Unsubscribe()
		}
	}
	if err != nil {
		return b.failLocked("subscribe", err)
	}
	b.subs[channel] = sub
	return nil
}

// Unsubscribe implements broker.Broker.
func (b *Broker) Unsubscribe(_ context.Context, channel string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usable(); err != nil {
		return err
	}
	sub := b.subs[channel]
	delete(b.subs, channel)
	if sub == nil {
		return nil
	}
	if err := sub.Unsubscribe(); err != nil {
		return b.failLocked("unsubscribe", err)
	}
	return nil
}

// usable is called with b.mu held.
func (b *Broker) usable() error {
	switch {
	case b.closed:
		return broker.ErrClosed
	case !b.running:
		return errors.New("nats broker: Run not called")
	}
	return nil
}

// Close implements broker.Broker: it closes the connection and waits for
// the delivery goroutine.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	running := b.running
	b.mu.Unlock()
	b.nc.Close()
	close(b.stop)
	if running {
		<-b.done
	}
	return nil
}

func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

func (b *Broker) fail(op string, err error) error {
	if b.isClosed() {
		return broker.ErrClosed
	}
	return classify(op, err)
}

// failLocked is fail with b.mu held.
func (b *Broker) failLocked(op string, err error) error {
	if b.closed {
		return broker.ErrClosed
	}
	return classify(op, err)
}

// call runs f with the current handles under OpTimeout. When f finds what
// it needs lost (see lost), call recreates the streams and the bucket and
// runs f once more: so whatever JetStream lost, the next call recovers it,
// and a channel whose last message is gone starts a new epoch (append,
// history).
func (b *Broker) call(ctx context.Context, op string, f func(context.Context, *handles) error) error {
	if b.isClosed() {
		return broker.ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
	defer cancel()
	for ensured := false; ; ensured = true {
		if b.nc.Status() != nats.CONNECTED {
			return b.fail(op, nats.ErrDisconnected)
		}
		err := f(ctx, b.hs.Load())
		switch {
		case err == nil:
			return nil
		case !lost(err) || ensured:
			return b.fail(op, err)
		}
		if err := b.ensure(ctx); err != nil {
			return b.fail(op, err)
		}
	}
}

// lost reports whether err is the server's answer that a stream or bucket
// of ours is not there: deleted, or gone with a server restarted on an
// empty store. It is the one rule for the broker and the Limiter.
//
// Only an answer counts. jetstream.ErrStreamNotFound and ErrBucketNotFound
// are the JetStream API's. nats.ErrNoResponders is the server replying
// (a 503 status) that nothing serves the request's subject: the direct get
// of a stream that does not exist, which is how reading a channel's last
// message fails; jetstream.ErrNoStreamResponse is the same reply to a
// publish on a subject no stream takes. A server that cannot be reached
// answers nothing: the connection is not CONNECTED (checked before each
// call: nats.ErrDisconnected), the request times out (nats.ErrTimeout,
// context.DeadlineExceeded) or the connection closes under it
// (nats.ErrConnectionClosed). Those are broker.ErrUnavailable and never
// recreate anything, so an outage does not start epochs.
//
// Recreating on a reply that meant something else (JetStream still
// starting, a clustered stream between leaders) is harmless: ensure
// creates or updates to the same configuration, never replaces a stream,
// and an epoch changes only when the channel then has no message.
func lost(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrBucketNotFound) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders)
}

// classify marks with broker.ErrUnavailable every error but a JetStream
// API refusal of the request itself (4xx).
func classify(op string, err error) error {
	var jsErr jetstream.JetStreamError
	if errors.As(err, &jsErr) && jsErr.APIError() != nil && jsErr.APIError().Code >= 400 && jsErr.APIError().Code < 500 {
		return fmt.Errorf("nats broker: %s: %w", op, err)
	}
	return fmt.Errorf("nats broker: %s: %w: %w", op, broker.ErrUnavailable, err)
}
