package redis_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/broker/redis"
	"github.com/rampart-rt/rampart/limits"
	"github.com/rampart-rt/rampart/limits/limitstest"
)

func newLimiter(t *testing.T, prefix string, lease time.Duration) *redis.Limiter {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	l, err := redis.NewLimiter(ctx, redis.LimiterOptions{
		Options: redis.Options{Addrs: []string{srv.addr}, Prefix: prefix},
		Lease:   lease,
	})
	if err != nil {
		t.Fatalf("NewLimiter: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// count returns how many connections Redis counts under key.
func count(t *testing.T, key string) int64 {
	t.Helper()
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.addr})
	defer rdb.Close()
	n, err := rdb.ZCount(t.Context(), key, "("+nowMS(t, rdb), "+inf").Result()
	if err != nil {
		t.Fatalf("ZCOUNT %s: %v", key, err)
	}
	return n
}

func nowMS(t *testing.T, rdb *goredis.Client) string {
	t.Helper()
	now, err := rdb.Time(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(now.UnixMilli(), 10)
}

func acquire(t *testing.T, f func(context.Context, string, int) (bool, error), key string, max int) bool {
	t.Helper()
	ok, err := f(t.Context(), key, max)
	if err != nil {
		t.Fatalf("acquire %q: %v", key, err)
	}
	return ok
}

func TestLimiterConformance(t *testing.T) {
	limitstest.Run(t, func(t *testing.T) limits.Limiter { return newLimiter(t, randomPrefix(), 30*time.Second) })
}

func TestLimiterShared(t *testing.T) {
	limitstest.RunShared(t, func(t *testing.T) (limits.Limiter, limits.Limiter) {
		p := randomPrefix()
		return newLimiter(t, p, 30*time.Second), newLimiter(t, p, 30*time.Second)
	})
}

// TestLimiterCrashedNode: a node that stops refreshing (crash, partition)
// stops counting after the lease; a live node's counts stay.
func TestLimiterCrashedNode(t *testing.T) {
	p := randomPrefix()
	const lease = 1500 * time.Millisecond
	live := newLimiter(t, p, lease)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	// The crashed node: a client of its own that is closed without Close
	// on the limiter would leak its goroutine, so use Client and stop it
	// by closing that client.
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.addr})
	crashed, err := redis.NewLimiter(ctx, redis.LimiterOptions{
		Options: redis.Options{Client: rdb, Prefix: p}, Lease: lease,
	})
	if err != nil {
		t.Fatal(err)
	}
	key := p + ":limit:ip:{10.0.0.2}"
	for range 2 {
		if !acquire(t, crashed.AcquireIP, "10.0.0.2", 3) {
			t.Fatal("acquire on the crashed node refused")
		}
	}
	if !acquire(t, live.AcquireIP, "10.0.0.2", 3) {
		t.Fatal("acquire on the live node refused")
	}
	if acquire(t, live.AcquireIP, "10.0.0.2", 3) {
		t.Fatal("a fourth connection was allowed with max 3")
	}
	_ = rdb.Close() // the node is gone: no refresh, no release
	t.Cleanup(func() { _ = crashed.Close() })

	deadline := time.Now().Add(3 * lease)
	for !acquire(t, live.AcquireIP, "10.0.0.2", 3) {
		if time.Now().After(deadline) {
			t.Fatalf("the crashed node's connections still counted %v after it stopped (lease %v)", 3*lease, lease)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The live node's own count survived several leases through refreshes.
	time.Sleep(2 * lease)
	if n := count(t, key); n != 2 {
		t.Fatalf("Redis counts %d, want the live node's 2", n)
	}
}

// TestLimiterKeysExpire: the keys a limiter writes expire by themselves
// (docs/cluster.md): a handshake bucket a minute after its last write, a
// count a lease after its last acquire or refresh.
func TestLimiterKeysExpire(t *testing.T) {
	p := randomPrefix()
	const lease = 10 * time.Second
	l := newLimiter(t, p, lease)
	if ok, _, err := l.Handshake(t.Context(), "10.0.0.8", 60); !ok || err != nil {
		t.Fatalf("Handshake = %v, %v", ok, err)
	}
	if !acquire(t, l.AcquireIP, "10.0.0.8", 2) || !acquire(t, l.AcquireUser, "dave", 2) {
		t.Fatal("acquire refused")
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.addr})
	defer rdb.Close()
	for key, most := range map[string]time.Duration{
		p + ":limit:hs:{10.0.0.8}": time.Minute,
		p + ":limit:ip:{10.0.0.8}": lease,
		p + ":limit:user:{dave}":   lease,
	} {
		ttl, err := rdb.PTTL(t.Context(), key).Result()
		if err != nil || ttl <= 0 || ttl > most {
			t.Errorf("PTTL %s = %v, %v; want more than 0 and at most %v", key, ttl, err, most)
		}
	}
}

// TestLimiterUnavailable: with Redis unreachable the limiter fails closed,
// with broker.ErrUnavailable.
func TestLimiterUnavailable(t *testing.T) {
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.addr})
	l, err := redis.NewLimiter(t.Context(), redis.LimiterOptions{Options: redis.Options{Client: rdb, OpTimeout: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_ = rdb.Close()
	if _, err := redis.NewLimiter(t.Context(), redis.LimiterOptions{Options: redis.Options{Addrs: []string{"127.0.0.1:1"}}}); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("NewLimiter without Redis = %v, want broker.ErrUnavailable", err)
	}
	if ok, err := l.AcquireIP(t.Context(), "10.0.0.5", 5); ok || !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("AcquireIP with Redis gone = %v, %v; want false and broker.ErrUnavailable", ok, err)
	}
	if ok, _, err := l.Handshake(t.Context(), "10.0.0.5", 5); ok || !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Handshake with Redis gone = %v, %v; want false and broker.ErrUnavailable", ok, err)
	}
}

// TestLimiterStalled: while Redis holds every command (CLIENT PAUSE),
// Handshake and the Acquires answer by the caller's deadline, not by
// Redis', and an acquire that may have been counted before its deadline is
// not counted once Redis goes on.
func TestLimiterStalled(t *testing.T) {
	p := randomPrefix()
	l := newLimiter(t, p, 30*time.Second)
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.addr})
	defer rdb.Close()
	const pause, deadline = 1500 * time.Millisecond, 200 * time.Millisecond
	if err := rdb.Do(t.Context(), "CLIENT", "PAUSE", pause.Milliseconds(), "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	for _, call := range []struct {
		name string
		fn   func(context.Context) (bool, error)
	}{
		{"Handshake", func(ctx context.Context) (bool, error) {
			ok, _, err := l.Handshake(ctx, "10.0.0.9", 5)
			return ok, err
		}},
		{"AcquireIP", func(ctx context.Context) (bool, error) { return l.AcquireIP(ctx, "10.0.0.9", 5) }},
		{"AcquireUser", func(ctx context.Context) (bool, error) { return l.AcquireUser(ctx, "erin", 5) }},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), deadline)
		start := time.Now()
		ok, err := call.fn(ctx)
		took := time.Since(start)
		cancel()
		if ok || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with Redis paused = %v, %v; want false and context.DeadlineExceeded", call.name, ok, err)
		}
		if took > deadline+300*time.Millisecond {
			t.Errorf("%s with Redis paused answered after %v, for a deadline of %v", call.name, took, deadline)
		}
	}
	if time.Since(paused) >= pause {
		t.Fatalf("the calls outlasted the pause (%v): the check above proves nothing", time.Since(paused))
	}
	// Once Redis goes on, what the timed-out acquires may have added is
	// removed again.
	for _, key := range []string{p + ":limit:ip:{10.0.0.9}", p + ":limit:user:{erin}"} {
		end := time.Now().Add(pause + 5*time.Second)
		for count(t, key) != 0 {
			if time.Now().After(end) {
				t.Fatalf("%s still counts %d after the pause", key, count(t, key))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if n := l.Held(); n != 0 {
		t.Fatalf("the node holds %d after acquires that failed", n)
	}
}

// TestLimiterRebuildsLostCounts: when Redis loses the counts (restart
// without persistence, eviction), the next refresh adds them back.
func TestLimiterRebuildsLostCounts(t *testing.T) {
	p := randomPrefix()
	const lease = 1500 * time.Millisecond
	l := newLimiter(t, p, lease)
	key := p + ":limit:user:{carol}"
	for range 2 {
		if !acquire(t, l.AcquireUser, "carol", 2) {
			t.Fatal("acquire refused")
		}
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.addr})
	defer rdb.Close()
	if err := rdb.Del(t.Context(), key).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * lease)
	for count(t, key) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("counts not rebuilt within %v: Redis counts %d, want 2", 3*lease, count(t, key))
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.ReleaseUser("carol")
	l.ReleaseUser("carol")
	if n := count(t, key); n != 0 {
		t.Fatalf("Redis counts %d after both releases, want 0", n)
	}
}

var _ limits.Limiter = (*redis.Limiter)(nil)
