package redis

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rampart-rt/rampart/broker"
)

// LimiterOptions configures Limiter.
type LimiterOptions struct {
	// Options says how to reach Redis, the key prefix and the timeouts,
	// exactly as for the broker (the limiter opens its own client unless
	// Options.Client is set).
	Options
	// Node names this process in the members it adds. Default: random.
	Node string
	// Lease is how long an open connection stays counted without its node
	// refreshing it; the node refreshes every Lease/3. It bounds how long a
	// crashed node's connections keep counting. Default 30s; at least 1s.
	Lease time.Duration
}

// Limiter enforces Rampart's connection limits across every node sharing
// one Redis (it implements limits.Limiter):
//
//   - handshakes per IP per minute: a token bucket holding perMinute tokens
//     and refilled at perMinute a minute, in the hash
//     "<prefix>:limit:hs:{<ip>}" (expires after a minute unused);
//   - open connections per IP and per user: the sorted sets
//     "<prefix>:limit:ip:{<ip>}" and "<prefix>:limit:user:{<user>}", one
//     member "<node>/<n>" per open connection, scored by its lease expiry.
//
// One Lua script removes expired members, counts the rest and adds the new
// one, so the count is exact whatever the number of nodes. Each node
// refreshes the leases of the members it holds every Lease/3; the members
// of a node that stops (crash, partition) expire after Lease. After Redis
// loses its data, the next refresh adds the live members again.
//
// When Redis cannot be reached, Handshake and Acquire return an error (the
// server then refuses the handshake with 503): the limits fail closed.
type Limiter struct {
	o       LimiterOptions
	rdb     redis.UniversalClient
	ownsRDB bool
	stop    chan struct{}
	done    chan struct{}
	undo    sync.WaitGroup // removals after failed acquires: added to under mu, only while !closed

	mu         sync.Mutex          // guards the fields below
	held       map[string][]string // key -> members this node added and has not released
	refreshing bool                // a refresh is in flight
	late       []heldMember        // released while a refresh was in flight
	seq        uint64              // numbers the members
	closed     bool
}

type heldMember struct{ key, member string }

// acquireScript. KEYS: the set. ARGV: max, member, lease ms.
// Returns 1 if the member was added, 0 at the limit.
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
local lease = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + lease, ARGV[2])
redis.call('PEXPIRE', KEYS[1], lease)
return 1
`)

// refreshScript. KEYS: the set. ARGV: lease ms, members...
var refreshScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + lease, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], lease)
return 1
`)

// handshakeScript is a token bucket. KEYS: the bucket. ARGV: perMinute.
// Returns 0 when a token was taken, else the milliseconds until one is.
var handshakeScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap = tonumber(ARGV[1])
local b = redis.call('HMGET', KEYS[1], 'n', 't')
local n, at = tonumber(b[1]), tonumber(b[2])
if not n or not at then n, at = cap, now end
n = math.min(cap, n + math.max(0, now - at) * cap / 60000)
local wait = 0
if n < 1 then
  wait = math.ceil((1 - n) * 60000 / cap)
else
  n = n - 1
end
redis.call('HSET', KEYS[1], 'n', string.format('%.6f', n), 't', now)
redis.call('PEXPIRE', KEYS[1], 60000)
return wait
`)

// NewLimiter connects to Redis and starts refreshing leases; Close stops
// it. It fails, wrapping broker.ErrUnavailable, if Redis cannot be reached.
func NewLimiter(ctx context.Context, opts LimiterOptions) (*Limiter, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("redis limiter: %w", err)
	}
	rdb, owns, err := dial(ctx, o.Options)
	if err != nil {
		return nil, fmt.Errorf("redis limiter: connect: %w", err)
	}
	l := &Limiter{
		o: o, rdb: rdb, ownsRDB: owns,
		stop: make(chan struct{}), done: make(chan struct{}),
		held: make(map[string][]string),
	}
	go l.refreshLoop()
	return l, nil
}

func (o LimiterOptions) withDefaults() (LimiterOptions, error) {
	var errs []error
	var err error
	if o.Options, err = o.Options.withDefaults(); err != nil {
		errs = append(errs, err)
	}
	o.Options.Addrs = append([]string(nil), o.Options.Addrs...)
	if o.Node == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		o.Node = hex.EncodeToString(b[:])
	}
	o.Lease = cmp.Or(o.Lease, 30*time.Second)
	if o.Lease < time.Second {
		errs = append(errs, errors.New("redis: option Lease must be at least 1s"))
	}
	return o, errors.Join(errs...)
}

// Handshake takes one handshake from ip's bucket, shared by every node.
func (l *Limiter) Handshake(ctx context.Context, ip string, perMinute int) (bool, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, l.o.OpTimeout)
	defer cancel()
	wait, err := handshakeScript.Run(ctx, l.rdb, []string{l.o.Prefix + ":limit:hs:{" + ip + "}"}, max(perMinute, 1)).Int64()
	if err != nil {
		return false, 0, l.fail("handshake", err)
	}
	return wait == 0, time.Duration(wait) * time.Millisecond, nil
}

// AcquireIP counts one more open connection from ip, unless every node
// together already holds max.
func (l *Limiter) AcquireIP(ctx context.Context, ip string, max int) (bool, error) {
	return l.acquire(ctx, l.ipKey(ip), max)
}

// ReleaseIP counts one connection from ip closed.
func (l *Limiter) ReleaseIP(ip string) { l.release(l.ipKey(ip)) }

// AcquireUser counts one more open connection of user, unless every node
// together already holds max.
func (l *Limiter) AcquireUser(ctx context.Context, user string, max int) (bool, error) {
	return l.acquire(ctx, l.userKey(user), max)
}

// ReleaseUser counts one connection of user closed.
func (l *Limiter) ReleaseUser(user string) { l.release(l.userKey(user)) }

func (l *Limiter) ipKey(ip string) string     { return l.o.Prefix + ":limit:ip:{" + ip + "}" }
func (l *Limiter) userKey(user string) string { return l.o.Prefix + ":limit:user:{" + user + "}" }

func (l *Limiter) acquire(ctx context.Context, key string, max int) (bool, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false, errors.New("redis limiter: closed")
	}
	l.seq++
	member := l.o.Node + "/" + strconv.FormatUint(l.seq, 10)
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, l.o.OpTimeout)
	defer cancel()
	added, err := acquireScript.Run(ctx, l.rdb, []string{key}, max, member, l.o.Lease.Milliseconds()).Int()
	if err != nil {
		// The member may have been added before the error: remove it, or
		// let its lease run out. Not here: the caller's context is done or
		// Redis is slow, and the answer must not wait for the removal.
		l.removeLater(key, member)
		return false, l.fail("acquire", err)
	}
	if added == 0 {
		return false, nil
	}
	l.mu.Lock()
	l.held[key] = append(l.held[key], member)
	l.mu.Unlock()
	return true, nil
}

// release removes one member this node added under key. If Redis cannot
// be told, the member stops being refreshed and expires after the lease.
func (l *Limiter) release(key string) {
	l.mu.Lock()
	ms := l.held[key]
	if len(ms) == 0 {
		l.mu.Unlock()
		return
	}
	member := ms[len(ms)-1]
	if len(ms) == 1 {
		delete(l.held, key)
	} else {
		l.held[key] = ms[:len(ms)-1]
	}
	if l.refreshing {
		l.late = append(l.late, heldMember{key, member})
	}
	l.mu.Unlock()
	l.remove(key, member)
}

// removeLater removes member from key in a goroutine that Close waits
// for; once Close has started, the member's lease runs out instead.
func (l *Limiter) removeLater(key, member string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.undo.Go(func() { l.remove(key, member) })
	}
}

func (l *Limiter) remove(key, member string) {
	ctx, cancel := context.WithTimeout(context.Background(), l.o.OpTimeout)
	defer cancel()
	_ = l.rdb.ZRem(ctx, key, member).Err()
}

func (l *Limiter) refreshLoop() {
	defer close(l.done)
	t := time.NewTicker(l.o.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.refresh()
		}
	}
}

// refresh extends the lease of every member this node holds, adding back
// any that Redis lost. A member released while the refresh was in flight
// may have been added back by it, so it is removed once more afterwards.
func (l *Limiter) refresh() {
	l.mu.Lock()
	snap := make(map[string][]string, len(l.held))
	for k, ms := range l.held {
		snap[k] = append([]string(nil), ms...)
	}
	l.refreshing = true
	l.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), l.o.Lease/3)
	pipe := l.rdb.Pipeline()
	for k, ms := range snap {
		args := make([]any, 0, len(ms)+1)
		args = append(args, l.o.Lease.Milliseconds())
		for _, m := range ms {
			args = append(args, m)
		}
		refreshScript.Eval(ctx, pipe, []string{k}, args...)
	}
	if len(snap) > 0 {
		_, _ = pipe.Exec(ctx) // a failed refresh is retried at the next tick
	}
	cancel()

	l.mu.Lock()
	late := l.late
	l.late, l.refreshing = nil, false
	l.mu.Unlock()
	for _, m := range late {
		l.remove(m.key, m.member)
	}
}

// Held returns how many connections this node counts (for tests and
// metrics).
func (l *Limiter) Held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ms := range l.held {
		n += len(ms)
	}
	return n
}

// Close stops refreshing and removes the members this node still holds.
// It is safe to call twice.
func (l *Limiter) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	held := l.held
	l.held = map[string][]string{}
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	l.undo.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), l.o.OpTimeout)
	pipe := l.rdb.Pipeline()
	for k, ms := range held {
		args := make([]any, len(ms))
		for i, m := range ms {
			args[i] = m
		}
		pipe.ZRem(ctx, k, args...)
	}
	if len(held) > 0 {
		_, _ = pipe.Exec(ctx)
	}
	cancel()
	if l.ownsRDB {
		if err := l.rdb.Close(); err != nil {
			return fmt.Errorf("redis limiter: close: %w", err)
		}
	}
	return nil
}

func (l *Limiter) fail(op string, err error) error {
	if transient(err) {
		return fmt.Errorf("redis limiter: %s: %w: %w", op, broker.ErrUnavailable, err)
	}
	return fmt.Errorf("redis limiter: %s: %w", op, err)
}
