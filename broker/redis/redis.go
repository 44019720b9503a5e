// Package redis is the broker for several Rampart nodes sharing one Redis
// (standalone, Sentinel or Cluster, through go-redis's UniversalClient).
//
// What lives where, per channel, all under Options.Prefix:
//   - "<prefix>:{<channel>}:top", a hash: the epoch, the last offset, the
//     history TTL and the replication id (master_replid) of the server that
//     last wrote it. A missing hash means a lost stream: the next call makes
//     a new epoch, so clients know their position no longer applies.
//   - "<prefix>:{<channel>}:hist", a stream capped at the channel's history
//     size (XADD MAXLEN) and trimmed by age (XTRIM MINID).
//   - publications are fanned out on the pub/sub channel
//     "<prefix>:pub:<channel>"; every node holds one pub/sub connection.
//
// One Lua script assigns the offset, appends to the history and publishes,
// so offsets go up by exactly 1 and Redis sends publications in offset
// order. Both keys expire max(history TTL, Options.IdleTimeout) after the
// channel's last publication: memory in Redis is bounded by the number of
// active channels times (one small hash + history size × publication size).
//
// When Redis loses keys (FLUSHALL, eviction, expiry, a restart without
// persistence), no call fails: the scripts find "top" missing and start the
// channel again at offset 1 in a new epoch, in the same step that assigns
// the offset, so no node can go on in the old one. They do the same when
// a replica was promoted (by Sentinel or Cluster) since the channel was
// last written: replication is asynchronous, so the publications the old
// primary did not pass on may be gone, and their offsets must not be
// handed out again in the same epoch. go-redis sends
// a script again when Redis forgot it (NOSCRIPT) and subscribes again
// after a reconnect. Only a Redis that does not answer, or answers that it cannot
// serve now (see transient), is broker.ErrUnavailable.
//
// The package decides nothing about who may publish or subscribe.
package redis

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rampart-rt/rampart/broker"
)

// Options configures the Redis broker. The zero value talks to a
// standalone Redis on 127.0.0.1:6379.
type Options struct {
	// Addrs of Redis (one for standalone), the Sentinels when MasterName is
	// set, or the Cluster seed nodes when Cluster is set.
	// Default: ["127.0.0.1:6379"].
	Addrs []string
	// MasterName selects Sentinel mode: the name of the monitored master.
	MasterName string
	// Cluster selects Redis Cluster mode.
	Cluster bool
	// Username and Password authenticate to Redis (and to Sentinel).
	Username string
	Password string
	// DB is the database number; standalone and Sentinel only. Default 0.
	DB int
	// Prefix starts every key and pub/sub channel name. Default "rampart".
	Prefix string
	// TLS, when set, is used for every connection.
	TLS *tls.Config
	// DialTimeout bounds connecting to Redis. Default 2s.
	DialTimeout time.Duration
	// OpTimeout bounds each broker call on top of the caller's context.
	// Default 3s.
	OpTimeout time.Duration
	// IdleTimeout is how long a channel's offset and epoch outlive its last
	// publication when its history TTL is shorter. Default 5m, as the
	// memory broker.
	IdleTimeout time.Duration
	// Client, when set, is used instead of building one from the fields
	// above (which are then ignored except Prefix and the timeouts). The
	// broker does not close it.
	Client redis.UniversalClient
}

func (o Options) withDefaults() (Options, error) {
	var errs []error
	if len(o.Addrs) == 0 {
		o.Addrs = []string{"127.0.0.1:6379"}
	}
	if len(o.Addrs) > 1 && o.MasterName == "" && !o.Cluster {
		errs = append(errs, errors.New("several addresses need MasterName (Sentinel) or Cluster"))
	}
	if o.Cluster && o.MasterName != "" {
		errs = append(errs, errors.New("redis: options Cluster and MasterName exclude each other"))
	}
	if o.Cluster && o.DB != 0 {
		errs = append(errs, errors.New("redis: a Redis Cluster has only DB 0"))
	}
	if o.Prefix == "" {
		o.Prefix = "rampart"
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		errs = append(errs, errors.New("redis: option Prefix must not contain { or }"))
	}
	o.DialTimeout = cmp.Or(o.DialTimeout, 2*time.Second)
	o.OpTimeout = cmp.Or(o.OpTimeout, 3*time.Second)
	o.IdleTimeout = cmp.Or(o.IdleTimeout, 5*time.Minute)
	for name, d := range map[string]time.Duration{"DialTimeout": o.DialTimeout, "OpTimeout": o.OpTimeout, "IdleTimeout": o.IdleTimeout} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative", name))
		}
	}
	return o, errors.Join(errs...)
}

// Broker is the Redis broker. Create it with New.
type Broker struct {
	opts    Options
	rdb     redis.UniversalClient
	ownsRDB bool

	mu      sync.Mutex // guards the fields below
	handler broker.Handler
	events  broker.PresenceEventHandler
	ps      *redis.PubSub        // set by Run
	subs    map[string]*subState // channels this node hears, by Rampart name
	closed  bool
	done    chan struct{} // closed when the receive loop has returned
}

// subState is one subscribed channel; ready is closed once Redis has
// confirmed the subscription.
type subState struct {
	ready     chan struct{}
	confirmed bool
}

// New connects to Redis and returns a broker; call Run before use. It
// fails, wrapping broker.ErrUnavailable, if Redis cannot be reached
// before ctx ends.
func New(ctx context.Context, opts Options) (*Broker, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("redis broker: %w", err)
	}
	o.Addrs = append([]string(nil), o.Addrs...)
	rdb, owns, err := dial(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("redis broker: connect: %w", err)
	}
	return &Broker{opts: o, rdb: rdb, ownsRDB: owns, subs: make(map[string]*subState), done: make(chan struct{})}, nil
}

// dial returns o.Client, or a client built from o that it checked with a
// PING (owned by the caller). Errors wrap broker.ErrUnavailable when Redis
// cannot be reached.
func dial(ctx context.Context, o Options) (redis.UniversalClient, bool, error) {
	rdb, owns := o.Client, false
	if rdb == nil {
		rdb, owns = newClient(o), true
	}
	ctx, cancel := context.WithTimeout(ctx, o.OpTimeout)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		if owns {
			_ = rdb.Close()
		}
		if transient(err) {
			err = fmt.Errorf("%w: %w", broker.ErrUnavailable, err)
		}
		return nil, false, err
	}
	return rdb, owns, nil
}

// clusterReload is how old a Redis Cluster client's slot map may get
// before a call makes it load the map again. go-redis otherwise reloads it
// after a MOVED reply, which a dead primary never sends, or after 60 s:
// calls for the slots of a failed-over primary would fail that long.
const clusterReload = time.Second

// newClient builds the go-redis client for o.
func newClient(o Options) redis.UniversalClient {
	uo := &redis.UniversalOptions{
		Addrs:                 o.Addrs,
		MasterName:            o.MasterName,
		IsClusterMode:         o.Cluster,
		Username:              o.Username,
		Password:              o.Password,
		SentinelUsername:      o.Username, // as Options promises: Sentinel too
		SentinelPassword:      o.Password,
		DB:                    o.DB,
		TLSConfig:             o.TLS,
		DialTimeout:           o.DialTimeout,
		ReadTimeout:           o.OpTimeout,
		WriteTimeout:          o.OpTimeout,
		PoolTimeout:           o.OpTimeout,
		ContextTimeoutEnabled: true,
		MaxRetries:            1,
		DialerRetries:         2,
		DisableIdentity:       true,
	}
	if o.Cluster {
		co := uo.Cluster()
		co.ClusterStateReloadInterval = clusterReload
		return redis.NewClusterClient(co)
	}
	return redis.NewUniversalClient(uo)
}

// Run implements broker.Broker: it opens the pub/sub connection and starts
// the goroutine that delivers publications to h, in the order Redis sends
// them. go-redis reconnects that connection and subscribes again by itself.
func (b *Broker) Run(h broker.Handler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return broker.ErrClosed
	case b.ps != nil:
		return errors.New("redis broker: Run called twice")
	}
	b.handler = h
	b.ps = b.rdb.Subscribe(context.Background())
	msgs := b.ps.ChannelWithSubscriptions(redis.WithChannelSize(4096), redis.WithChannelHealthCheckInterval(time.Second))
	go b.receive(msgs)
	return nil
}

func (b *Broker) receive(msgs <-chan any) {
	defer close(b.done)
	prefix := b.pubPrefix()
	for m := range msgs {
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				b.confirm(strings.TrimPrefix(m.Channel, prefix))
			}
		case *redis.Message:
			channel := strings.TrimPrefix(m.Channel, prefix)
			if e, ok := decodeEvent(channel, m.Payload); ok {
				b.heardEvent(e)
				continue
			}
			p, err := decodeMessage(channel, m.Payload)
			if err != nil {
				continue // not written by this package's script
			}
			if h := b.listener(channel); h != nil {
				h(p)
			}
		}
	}
}

func (b *Broker) confirm(channel string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.subs[channel]; s != nil && !s.confirmed {
		s.confirmed = true
		close(s.ready)
	}
}

// listener returns the handler if this node hears channel.
func (b *Broker) listener(channel string) broker.Handler {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs[channel] == nil {
		return nil
	}
	return b.handler
}

func (b *Broker) pubPrefix() string { return b.opts.Prefix + ":pub:" }

// Subscribe implements broker.Broker. It returns once Redis has confirmed
// the subscription, so a publication made after it returns is delivered.
func (b *Broker) Subscribe(ctx context.Context, channel string) error {
	b.mu.Lock()
	if err := b.usable(); err != nil {
		b.mu.Unlock()
		return err
	}
	s := b.subs[channel]
	fresh := s == nil
	if fresh {
		s = &subState{ready: make(chan struct{})}
		b.subs[channel] = s
	}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
	defer cancel()
	var err error
	if fresh {
		err = b.ps.Subscribe(ctx, b.pubPrefix()+channel)
	}
	if err == nil {
		select {
		case <-s.ready:
			return nil
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if fresh {
		b.forget(channel, s)
	}
	return b.fail("subscribe", err)
}

// forget drops a subscription that failed, unless another call replaced it.
func (b *Broker) forget(channel string, s *subState) {
	b.mu.Lock()
	if b.subs[channel] != s {
		b.mu.Unlock()
		return
	}
	delete(b.subs, channel)
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.OpTimeout)
	defer cancel()
	_ = b.ps.Unsubscribe(ctx, b.pubPrefix()+channel)
}

// Unsubscribe implements broker.Broker. Deliveries stop at once; if Redis
// cannot be told, the connection's next reconnect drops the subscription.
func (b *Broker) Unsubscribe(ctx context.Context, channel string) error {
	b.mu.Lock()
	if err := b.usable(); err != nil {
		b.mu.Unlock()
		return err
	}
	_, ok := b.subs[channel]
	delete(b.subs, channel)
	b.mu.Unlock()
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
	defer cancel()
	if err := b.ps.Unsubscribe(ctx, b.pubPrefix()+channel); err != nil {
		return b.fail("unsubscribe", err)
	}
	return nil
}

// usable reports ErrClosed after Close and an error before Run. Called
// with b.mu held.
func (b *Broker) usable() error {
	switch {
	case b.closed:
		return broker.ErrClosed
	case b.ps == nil:
		return errors.New("redis broker: Run not called")
	}
	return nil
}

func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Close implements broker.Broker: it closes the pub/sub connection, waits
// for the delivery goroutine and closes the client it created.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	ps := b.ps
	b.mu.Unlock()
	var errs []error
	if ps != nil {
		errs = append(errs, ps.Close())
		<-b.done
	}
	if b.ownsRDB {
		errs = append(errs, b.rdb.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("redis broker: close: %w", err)
	}
	return nil
}

// fail names the operation and marks errors that mean "Redis cannot be
// reached or cannot serve now" with broker.ErrUnavailable.
func (b *Broker) fail(op string, err error) error {
	if b.isClosed() {
		return broker.ErrClosed
	}
	if transient(err) {
		return fmt.Errorf("redis broker: %s: %w: %w", op, broker.ErrUnavailable, err)
	}
	return fmt.Errorf("redis broker: %s: %w", op, err)
}

// transient: network and timeout errors, and the replies Redis gives while
// it loads, fails over or reshards.
func transient(err error) bool {
	var rerr redis.Error
	if errors.As(err, &rerr) && !errors.Is(err, redis.ErrClosed) {
		msg := rerr.Error()
		for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS", "BUSY"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	return true // no reply from Redis: dial, network, timeout, pool errors
}
