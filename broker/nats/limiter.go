package nats

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rampart-rt/rampart/broker"
)

// LimiterOptions configures Limiter.
type LimiterOptions struct {
	// Options says how to reach NATS, the prefix (the bucket is
	// "<prefix>_limits"), replicas, storage and timeouts, as for the broker.
	// MaxHistory and IdleTimeout are not used.
	Options
	// Conn, if set, is used instead of connecting to Options.URL; Close
	// leaves it open.
	Conn *nats.Conn
	// Node names this process in the leases it adds. Default: random.
	Node string
	// Lease is how long an open connection stays counted without its node
	// refreshing it. It bounds how long a crashed node's connections keep
	// counting. Default 30s; at least 1s.
	Lease time.Duration
	// LeaseRefresh is how often the node refreshes the leases it holds.
	// Default Lease/3; at most Lease/2.
	LeaseRefresh time.Duration
}

// Limiter enforces Rampart's connection limits across every node sharing
// one NATS (it implements limits.Limiter). Everything lives in the KV
// bucket "<prefix>_limits", one entry per IP or user:
//
//   - "hs.<token>": the IP's handshake token bucket, holding perMinute
//     tokens and refilled at perMinute a minute (JSON: tokens, and the time
//     they were counted, in ms on the nodes' clocks, never moved back);
//     the entry expires a minute after its last write.
//   - "ip.<token>" and "user.<token>": the open connections of the IP or
//     user, as a list of leases (node, number, expiry). An expiry is either
//     absolute, in ms on the NATS server's clock, or "the time this entry
//     was stored + Lease", for the leases the writer adds or refreshes.
//
// <token> is the IP or user in unpadded base32hex ("_" for the empty
// string), so any string makes one valid key token.
//
// Every change reads the entry and writes it back with the revision it
// read (compare-and-swap), retrying on a conflicting write; so checking the
// count and adding a lease is one atomic step and two nodes never both
// take the last place. A writer takes the entry's stored time (the
// server's clock) as now: it drops the leases that expired by then and
// converts the relative ones to absolute. That time is at most the real
// time, so a lease never expires early whatever the nodes' clocks say.
// Each write carries a per-message TTL reaching the latest expiry in the
// entry, so an entry nobody writes to disappears once its leases are over.
//
// Within one process the operations on a key run one at a time, so
// conflicts come only from other nodes. Each node refreshes the leases it
// holds every LeaseRefresh, adding back any that NATS lost; the leases of
// a node that stops (crash, partition) stop counting about Lease plus
// LeaseRefresh after its last refresh. Close removes the node's leases.
//
// When NATS cannot be reached, Handshake and Acquire return an error
// wrapping broker.ErrUnavailable (the server then refuses the handshake
// with 503): the limits fail closed.
type Limiter struct {
	o      LimiterOptions
	nc     *nats.Conn
	ownsNC bool
	js     jetstream.JetStream
	bucket string
	kv     atomic.Pointer[jetstream.KeyValue] // set by ensure
	ctx    context.Context                    // ends when Close starts
	cancel context.CancelFunc
	done   chan struct{}  // closed when the refresh loop returns
	undo   sync.WaitGroup // removals after failed acquires: added to under mu, only while !closed

	lmu   sync.Mutex // guards locks
	locks map[string]*keyLock

	mu     sync.Mutex          // guards the fields below
	held   map[string][]uint64 // KV key -> numbers of this node's leases there
	seq    uint64              // numbers the leases
	closed bool
}

// keyLock serializes this process's operations on one key.
type keyLock struct {
	ch   chan struct{}
	refs int
}

const (
	kindHandshake = "hs."
	kindIP        = "ip."
	kindUser      = "user."
	// maxAttempts bounds the compare-and-swap retries of one operation.
	maxAttempts = 64
)

// NewLimiter connects to NATS, creates or updates the bucket and starts
// refreshing leases; Close stops it. It fails, wrapping
// broker.ErrUnavailable, if NATS cannot be reached before ctx ends.
func NewLimiter(ctx context.Context, opts LimiterOptions) (*Limiter, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("nats limiter: %w", err)
	}
	l := &Limiter{
		o: o, nc: o.Conn, bucket: o.Prefix + "_limits",
		done:  make(chan struct{}),
		locks: make(map[string]*keyLock),
		held:  make(map[string][]uint64),
	}
	if l.nc == nil {
		l.ownsNC = true
		l.nc, err = nats.Connect(o.URL, append([]nats.Option{
			nats.Timeout(o.DialTimeout),
			nats.MaxReconnects(-1),
			nats.ReconnectWait(o.ReconnectWait),
			nats.ReconnectJitter(50*time.Millisecond, 50*time.Millisecond),
		}, o.NATS...)...)
		if err != nil {
			return nil, limiterError("connect", err)
		}
	}
	l.js, err = jetstream.New(l.nc)
	if err == nil {
		err = l.ensure(ctx)
	}
	if err != nil {
		if l.ownsNC {
			l.nc.Close()
		}
		return nil, limiterError("connect", err)
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	go l.refreshLoop()
	return l, nil
}

func (o LimiterOptions) withDefaults() (LimiterOptions, error) {
	var errs []error
	var err error
	if o.Options, err = o.Options.withDefaults(); err != nil {
		errs = append(errs, err)
	}
	o.NATS = slices.Clone(o.NATS)
	if o.Node == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		o.Node = hex.EncodeToString(b[:])
	}
	o.Lease = cmp.Or(o.Lease, 30*time.Second)
	o.LeaseRefresh = cmp.Or(o.LeaseRefresh, o.Lease/3)
	if o.Lease < time.Second {
		errs = append(errs, errors.New("nats: option Lease must be at least 1s"))
	}
	if o.LeaseRefresh <= 0 || o.LeaseRefresh > o.Lease/2 {
		errs = append(errs, errors.New("nats: option LeaseRefresh must be positive and at most Lease/2"))
	}
	return o, errors.Join(errs...)
}

// ensure creates or updates the bucket. LimitMarkerTTL lets each write
// carry its own TTL.
func (l *Limiter) ensure(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.o.OpTimeout)
	defer cancel()
	storage := jetstream.FileStorage
	if l.o.MemoryStorage {
		storage = jetstream.MemoryStorage
	}
	kv, err := l.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         l.bucket,
		History:        1,
		Storage:        storage,
		Replicas:       l.o.Replicas,
		LimitMarkerTTL: time.Second,
	})
	if err != nil {
		return fmt.Errorf("bucket %s: %w", l.bucket, err)
	}
	l.kv.Store(&kv)
	return nil
}

// keyToken makes s one KV key token.
func keyToken(s string) string {
	if s == "" {
		return "_"
	}
	return token(s)
}

// Handshake takes one handshake from ip's bucket, shared by every node.
func (l *Limiter) Handshake(ctx context.Context, ip string, perMinute int) (bool, time.Duration, error) {
	capacity := float64(max(perMinute, 1))
	var ok bool
	var wait time.Duration
	err := l.update(ctx, "handshake", kindHandshake+keyToken(ip), func(e entry) (*change, error) {
		now := time.Now().UnixMilli()
		b := tokenBucket{N: capacity, T: now}
		if e.found {
			if err := json.Unmarshal(e.val, &b); err != nil {
				return nil, fmt.Errorf("nats limiter: handshake: entry %s: %w", e.key, err)
			}
		}
		// Time never moves back: when another node's clock is ahead,
		// nothing refills until this one catches up.
		ahead := max(0, b.T-now)
		now = max(now, b.T)
		n := min(capacity, b.N+float64(now-b.T)*capacity/60000)
		if n < 1 {
			ok = false
			wait = time.Duration(math.Ceil((1-n)*60000/capacity)+float64(ahead)) * time.Millisecond
			return nil, nil
		}
		ok, wait = true, 0
		val, _ := json.Marshal(tokenBucket{N: n - 1, T: now})
		return &change{val: val, ttl: time.Minute}, nil
	})
	if err != nil {
		return false, 0, err
	}
	return ok, wait, nil
}

// tokenBucket is the value of a handshake entry.
type tokenBucket struct {
	N float64 `json:"n"` // tokens at T
	T int64   `json:"t"` // ms since the epoch
}

// AcquireIP counts one more open connection from ip, unless every node
// together already holds max.
func (l *Limiter) AcquireIP(ctx context.Context, ip string, max int) (bool, error) {
	return l.acquire(ctx, kindIP+keyToken(ip), max)
}

// ReleaseIP counts one connection from ip closed.
func (l *Limiter) ReleaseIP(ip string) { l.release(kindIP + keyToken(ip)) }

// AcquireUser counts one more open connection of user, unless every node
// together already holds max.
func (l *Limiter) AcquireUser(ctx context.Context, user string, max int) (bool, error) {
	return l.acquire(ctx, kindUser+keyToken(user), max)
}

// ReleaseUser counts one connection of user closed.
func (l *Limiter) ReleaseUser(user string) { l.release(kindUser + keyToken(user)) }

// CountIP returns how many connections from ip every node together holds.
func (l *Limiter) CountIP(ctx context.Context, ip string) (int, error) {
	return l.count(ctx, kindIP+keyToken(ip))
}

// CountUser returns how many connections of user every node together
// holds.
func (l *Limiter) CountUser(ctx context.Context, user string) (int, error) {
	return l.count(ctx, kindUser+keyToken(user))
}

// lease is one open connection in an "ip." or "user." entry.
type lease struct {
	Node string `json:"n"`
	ID   uint64 `json:"i"`
	// Exp is the expiry in ms since the epoch, on the server's clock; when
	// zero, the lease ends For ms after the entry's stored time.
	Exp int64 `json:"e,omitempty"`
	For int64 `json:"d,omitempty"`
}

type leaseList struct {
	Leases []lease `json:"l"`
}

// leases decodes e's live leases with absolute expiries; at is e's stored
// time in ms (0 if e was not found).
func leases(e entry) (ls []lease, at int64, err error) {
	if !e.found {
		return nil, 0, nil
	}
	var v leaseList
	if err := json.Unmarshal(e.val, &v); err != nil {
		return nil, 0, fmt.Errorf("nats limiter: entry %s: %w", e.key, err)
	}
	at = e.at.UnixMilli()
	ls = v.Leases[:0]
	for _, x := range v.Leases {
		if x.Exp == 0 {
			x.Exp, x.For = at+x.For, 0
		}
		if x.Exp > at {
			ls = append(ls, x)
		}
	}
	return ls, at, nil
}

// leaseChange encodes ls as the entry's next value, with a TTL that
// outlasts every lease in it (the entry is stored at or after at).
func (l *Limiter) leaseChange(ls []lease, at int64) *change {
	ttl := time.Second
	for _, x := range ls {
		if x.Exp == 0 {
			ttl = max(ttl, time.Duration(x.For)*time.Millisecond)
		} else {
			ttl = max(ttl, time.Duration(x.Exp-at)*time.Millisecond)
		}
	}
	val, _ := json.Marshal(leaseList{Leases: ls})
	return &change{val: val, ttl: ttl}
}

func (l *Limiter) ownLease(id uint64) lease {
	return lease{Node: l.o.Node, ID: id, For: l.o.Lease.Milliseconds()}
}

func (l *Limiter) acquire(ctx context.Context, key string, limit int) (bool, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false, errors.New("nats limiter: closed")
	}
	l.seq++
	id := l.seq
	l.mu.Unlock()
	added, closed := false, false
	err := l.update(ctx, "acquire", key, func(e entry) (*change, error) {
		ls, at, err := leases(e)
		if err != nil {
			return nil, err
		}
		added = len(ls) < limit
		if !added {
			return nil, nil
		}
		c := l.leaseChange(append(ls, l.ownLease(id)), at)
		c.commit = func() {
			l.mu.Lock()
			if closed = l.closed; !closed {
				l.held[key] = append(l.held[key], id)
			}
			l.mu.Unlock()
		}
		return c, nil
	})
	if closed { // stored as Close started: remove it, or let it run out
		l.remove(key, id)
		return false, errors.New("nats limiter: closed")
	}
	if err != nil {
		// The lease may have been stored before the error: remove it, or
		// let it run out. Not here: the caller's context is done or NATS
		// is slow, and the answer must not wait for the removal.
		l.removeLater(key, id)
		return false, err
	}
	return added, nil
}

// release removes one lease this node added under key. If NATS cannot be
// told, the lease stops being refreshed and expires.
func (l *Limiter) release(key string) {
	l.mu.Lock()
	ids := l.held[key]
	if len(ids) == 0 {
		l.mu.Unlock()
		return
	}
	id := ids[len(ids)-1]
	if len(ids) == 1 {
		delete(l.held, key)
	} else {
		l.held[key] = ids[:len(ids)-1]
	}
	l.mu.Unlock()
	l.remove(key, id)
}

// removeLater removes this node's lease id from key in a goroutine that
// Close waits for; once Close has started, the lease runs out instead.
func (l *Limiter) removeLater(key string, id uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.undo.Go(func() { l.remove(key, id) })
	}
}

// remove deletes this node's leases numbered ids from key.
func (l *Limiter) remove(key string, ids ...uint64) {
	_ = l.update(context.Background(), "release", key, func(e entry) (*change, error) {
		ls, at, err := leases(e)
		if err != nil {
			return nil, err
		}
		n := len(ls)
		ls = slices.DeleteFunc(ls, func(x lease) bool {
			return x.Node == l.o.Node && slices.Contains(ids, x.ID)
		})
		if len(ls) == n {
			return nil, nil
		}
		return l.leaseChange(ls, at), nil
	})
}

func (l *Limiter) count(ctx context.Context, key string) (int, error) {
	n := 0
	err := l.update(ctx, "count", key, func(e entry) (*change, error) {
		ls, _, err := leases(e)
		n = len(ls)
		return nil, err
	})
	return n, err
}

func (l *Limiter) refreshLoop() {
	defer close(l.done)
	t := time.NewTicker(l.o.LeaseRefresh)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
			l.refresh()
		}
	}
}

// refresh renews the lease of every connection this node holds, adding
// back any that NATS lost, a few keys at a time. A failed refresh is
// retried at the next tick.
func (l *Limiter) refresh() {
	l.mu.Lock()
	keys := make([]string, 0, len(l.held))
	for k := range l.held {
		keys = append(keys, k)
	}
	l.mu.Unlock()
	l.each(keys, func(key string) {
		_ = l.update(l.ctx, "refresh", key, func(e entry) (*change, error) {
			ls, at, err := leases(e)
			if err != nil {
				return nil, err
			}
			// Read after the entry: a lease released since is left as it
			// is (its release comes next), never added back.
			l.mu.Lock()
			ids := slices.Clone(l.held[key])
			l.mu.Unlock()
			if len(ids) == 0 {
				return nil, nil
			}
			for i, x := range ls {
				if x.Node == l.o.Node && slices.Contains(ids, x.ID) {
					ls[i] = l.ownLease(x.ID)
				}
			}
			for _, id := range ids {
				if !slices.ContainsFunc(ls, func(x lease) bool { return x.Node == l.o.Node && x.ID == id }) {
					ls = append(ls, l.ownLease(id))
				}
			}
			return l.leaseChange(ls, at), nil
		})
	})
}

// each runs f on every key, 8 at a time.
func (l *Limiter) each(keys []string, f func(string)) {
	ch := make(chan string)
	var wg sync.WaitGroup
	for range min(8, len(keys)) {
		wg.Go(func() {
			for k := range ch {
				f(k)
			}
		})
	}
	for _, k := range keys {
		ch <- k
	}
	close(ch)
	wg.Wait()
}

// Held returns how many connections this node counts (for tests and
// metrics).
func (l *Limiter) Held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ids := range l.held {
		n += len(ids)
	}
	return n
}

// Close stops refreshing, removes the leases this node still holds and
// closes the connection it opened. It is safe to call twice.
func (l *Limiter) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	held := l.held
	l.held = map[string][]uint64{}
	l.mu.Unlock()
	l.cancel()
	<-l.done
	l.undo.Wait()
	keys := make([]string, 0, len(held))
	for k := range held {
		keys = append(keys, k)
	}
	l.each(keys, func(k string) { l.remove(k, held[k]...) })
	if l.ownsNC {
		l.nc.Close()
	}
	return nil
}

// entry is a key's value as read, with its revision and stored time.
type entry struct {
	key   string
	val   []byte
	rev   uint64
	at    time.Time
	found bool
}

// change is a value to write; commit runs once it is stored, with the key
// still locked.
type change struct {
	val    []byte
	ttl    time.Duration
	commit func()
}

// update reads key and writes back what f makes of it (nothing if f
// returns nil), with the revision read: on a conflicting write it reads
// again and calls f again. Within this process the updates of one key run
// one at a time. The whole is bounded by OpTimeout.
func (l *Limiter) update(ctx context.Context, op, key string, f func(entry) (*change, error)) error {
	ctx, cancel := context.WithTimeout(ctx, l.o.OpTimeout)
	defer cancel()
	unlock, err := l.lock(ctx, key)
	if err != nil {
		return limiterError(op, err)
	}
	defer unlock()
	ensured := false
	for attempt := 1; ; attempt++ {
		if l.nc.Status() != nats.CONNECTED {
			return limiterError(op, nats.ErrDisconnected)
		}
		var e entry
		e, err = l.read(ctx, key)
		if err == nil {
			var c *change
			if c, err = f(e); err != nil {
				return err
			}
			if c == nil {
				return nil
			}
			if err = l.write(ctx, e, c); err == nil {
				if c.commit != nil {
					c.commit()
				}
				return nil
			}
		}
		switch {
		case conflict(err) && attempt < maxAttempts:
			select {
			case <-ctx.Done():
				return limiterError(op, ctx.Err())
			case <-time.After(time.Duration(mrand.Int64N(int64(time.Millisecond) << min(attempt, 5)))):
			}
		case lost(err) && !ensured:
			ensured = true
			if err = l.ensure(ctx); err != nil {
				return limiterError(op, err)
			}
		default:
			return limiterError(op, err)
		}
	}
}

func (l *Limiter) lock(ctx context.Context, key string) (func(), error) {
	l.lmu.Lock()
	k := l.locks[key]
	if k == nil {
		k = &keyLock{ch: make(chan struct{}, 1)}
		l.locks[key] = k
	}
	k.refs++
	l.lmu.Unlock()
	drop := func() {
		l.lmu.Lock()
		if k.refs--; k.refs == 0 {
			delete(l.locks, key)
		}
		l.lmu.Unlock()
	}
	select {
	case k.ch <- struct{}{}:
		return func() { <-k.ch; drop() }, nil
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
}

func (l *Limiter) read(ctx context.Context, key string) (entry, error) {
	e, err := (*l.kv.Load()).Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return entry{key: key}, nil
	}
	if err != nil {
		return entry{}, err
	}
	return entry{key: key, val: e.Value(), rev: e.Revision(), at: e.Created(), found: true}, nil
}

// write stores c as the key's next revision after e, with c's TTL rounded
// up to whole seconds (JetStream's granularity). KeyValue.Update takes no
// TTL, so an existing key is written by publishing on its subject with the
// expected revision, as Update does, and the TTL.
func (l *Limiter) write(ctx context.Context, e entry, c *change) error {
	ttl := max(time.Second, (c.ttl + time.Second - 1).Truncate(time.Second))
	if !e.found { // never written, expired or deleted
		_, err := (*l.kv.Load()).Create(ctx, e.key, c.val, jetstream.KeyTTL(ttl))
		return err
	}
	msg := &nats.Msg{Subject: "$KV." + l.bucket + "." + e.key, Data: c.val}
	_, err := l.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(e.rev), jetstream.WithMsgTTL(ttl))
	return err
}

// conflict reports whether err is a compare-and-swap failure: another
// write came first.
func conflict(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return true
	}
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// limiterError marks with broker.ErrUnavailable every error but a
// JetStream API refusal of the request itself (4xx); a conflict still
// unresolved after maxAttempts counts as unavailable.
func limiterError(op string, err error) error {
	var jsErr jetstream.JetStreamError
	if !conflict(err) && errors.As(err, &jsErr) && jsErr.APIError() != nil && jsErr.APIError().Code >= 400 && jsErr.APIError().Code < 500 {
		return fmt.Errorf("nats limiter: %s: %w", op, err)
	}
	return fmt.Errorf("nats limiter: %s: %w: %w", op, broker.ErrUnavailable, err)
}
