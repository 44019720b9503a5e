package redis_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/broker/redis"
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

// TestLimiterAcrossNodes: two limiters on one Redis, as two nodes, share
// the per-IP and per-user counts.
func TestLimiterAcrossNodes(t *testing.T) {
	p := randomPrefix()
	a, b := newLimiter(t, p, 30*time.Second), newLimiter(t, p, 30*time.Second)
	for _, tc := range []struct {
		name       string
		acqA, acqB func(context.Context, string, int) (bool, error)
		relA, relB func(string)
		key        string
		redisKey   string
		max        int
	}{
		{"ip", a.AcquireIP, b.AcquireIP, a.ReleaseIP, b.ReleaseIP, "10.0.0.1", p + ":limit:ip:{10.0.0.1}", 2},
		{"user", a.AcquireUser, b.AcquireUser, a.ReleaseUser, b.ReleaseUser, "alice", p + ":limit:user:{alice}", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range tc.max {
				acq := tc.acqA
				if i%2 == 1 {
					acq = tc.acqB
				}
				if !acquire(t, acq, tc.key, tc.max) {
					t.Fatalf("acquire %d of %d refused", i+1, tc.max)
				}
			}
			if acquire(t, tc.acqA, tc.key, tc.max) || acquire(t, tc.acqB, tc.key, tc.max) {
				t.Fatalf("acquire beyond %d allowed", tc.max)
			}
			tc.relA(tc.key)
			if !acquire(t, tc.acqB, tc.key, tc.max) {
				t.Fatal("acquire on b after a released refused")
			}
			if acquire(t, tc.acqA, tc.key, tc.max) {
				t.Fatalf("acquire beyond %d allowed after release and acquire", tc.max)
			}
			if n := count(t, tc.redisKey); n != int64(tc.max) {
				t.Fatalf("Redis counts %d, want %d", n, tc.max)
			}
		})
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// Closing a node removes its counts at once.
	if n := count(t, p+":limit:ip:{10.0.0.1}"); n != 2 {
		t.Fatalf("after a closed: Redis counts %d connections from the IP, want b's 2", n)
	}
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

// TestLimiterConcurrent: many goroutines on two nodes acquire and release
// at once; the count never passes max and ends at zero.
func TestLimiterConcurrent(t *testing.T) {
	p := randomPrefix()
	nodes := []*redis.Limiter{newLimiter(t, p, 30*time.Second), newLimiter(t, p, 30*time.Second)}
	const max, workers, rounds = 5, 32, 40
	var held, peak, refused atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		l := nodes[w%2]
		wg.Go(func() {
			for range rounds {
				ok, err := l.AcquireUser(t.Context(), "bob", max)
				if err != nil {
					errs <- err
					return
				}
				if !ok {
					refused.Add(1)
					continue
				}
				n := held.Add(1)
				for {
					old := peak.Load()
					if n <= old || peak.CompareAndSwap(old, n) {
						break
					}
				}
				held.Add(-1)
				l.ReleaseUser("bob")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if peak.Load() > max {
		t.Fatalf("%d connections held at once, max %d", peak.Load(), max)
	}
	if refused.Load() == 0 {
		t.Log("no acquire was refused: the test did not reach the limit")
	}
	if n := count(t, p+":limit:user:{bob}"); n != 0 {
		t.Fatalf("Redis counts %d after every release, want 0", n)
	}
	for i, l := range nodes {
		if n := l.Held(); n != 0 {
			t.Fatalf("node %d holds %d after every release", i, n)
		}
	}
}

// TestLimiterHandshakes: the handshake bucket is shared and refills.
func TestLimiterHandshakes(t *testing.T) {
	p := randomPrefix()
	a, b := newLimiter(t, p, 30*time.Second), newLimiter(t, p, 30*time.Second)
	const perMinute = 30 // one every 2s: the loop below is far quicker
	for i := range perMinute {
		l := a
		if i%2 == 1 {
			l = b
		}
		ok, _, err := l.Handshake(t.Context(), "10.0.0.3", perMinute)
		if err != nil || !ok {
			t.Fatalf("handshake %d of %d = %v, %v", i+1, perMinute, ok, err)
		}
	}
	ok, wait, err := b.Handshake(t.Context(), "10.0.0.3", perMinute)
	if err != nil || ok || wait <= 0 || wait > 2*time.Second {
		t.Fatalf("handshake beyond the bucket = %v, retry after %v, %v; want refused with 0 < wait <= 2s", ok, wait, err)
	}
	if ok, _, _ := a.Handshake(t.Context(), "10.0.0.4", perMinute); !ok {
		t.Fatal("another IP was refused")
	}
	time.Sleep(wait + 20*time.Millisecond)
	if ok, _, err := a.Handshake(t.Context(), "10.0.0.3", perMinute); err != nil || !ok {
		t.Fatalf("handshake after the refill = %v, %v", ok, err)
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

var _ rampart.Limiter = (*redis.Limiter)(nil)
