package nats_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/broker/nats"
)

func newLimiter(t *testing.T, url, prefix string, lease time.Duration) *nats.Limiter {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	l, err := nats.NewLimiter(ctx, nats.LimiterOptions{
		Options: nats.Options{URL: url, Prefix: prefix},
		Lease:   lease,
	})
	if err != nil {
		t.Fatalf("NewLimiter: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func acquire(t *testing.T, f func(context.Context, string, int) (bool, error), key string, max int) bool {
	t.Helper()
	ok, err := f(t.Context(), key, max)
	if err != nil {
		t.Fatalf("acquire %q: %v", key, err)
	}
	return ok
}

func count(t *testing.T, f func(context.Context, string) (int, error), key string) int {
	t.Helper()
	n, err := f(t.Context(), key)
	if err != nil {
		t.Fatalf("count %q: %v", key, err)
	}
	return n
}

// TestLimiterAcrossNodes: two limiters on one NATS, as two nodes, share
// the per-IP and per-user counts.
func TestLimiterAcrossNodes(t *testing.T) {
	p := randomPrefix()
	a, b := newLimiter(t, ns.url(), p, 30*time.Second), newLimiter(t, ns.url(), p, 30*time.Second)
	for _, tc := range []struct {
		name       string
		acqA, acqB func(context.Context, string, int) (bool, error)
		relA, relB func(string)
		count      func(context.Context, string) (int, error)
		key, other string // other: a key that must not share key's count
		max        int
	}{
		{"ip", a.AcquireIP, b.AcquireIP, a.ReleaseIP, b.ReleaseIP, b.CountIP, "10.0.0.1", "10.0.0.10", 2},
		{"ipv6", a.AcquireIP, b.AcquireIP, a.ReleaseIP, b.ReleaseIP, b.CountIP, "2001:db8::1", "2001:db8::2", 2},
		{"user", a.AcquireUser, b.AcquireUser, a.ReleaseUser, b.ReleaseUser, b.CountUser, "alice", "alice.", 3},
		{"user with subject characters", a.AcquireUser, b.AcquireUser, a.ReleaseUser, b.ReleaseUser, b.CountUser, "a.b *>/ü", "", 2},
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
			if !acquire(t, tc.acqA, tc.other, 1) {
				t.Fatalf("%q shares the count of %q", tc.other, tc.key)
			}
			tc.relA(tc.other)
			tc.relA(tc.key)
			if !acquire(t, tc.acqB, tc.key, tc.max) {
				t.Fatal("acquire on b after a released refused")
			}
			if acquire(t, tc.acqA, tc.key, tc.max) {
				t.Fatalf("acquire beyond %d allowed after release and acquire", tc.max)
			}
			if n := count(t, tc.count, tc.key); n != tc.max {
				t.Fatalf("NATS counts %d, want %d", n, tc.max)
			}
		})
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Closing a node removes its counts at once: of alice's 3, a held 1.
	if n := count(t, b.CountUser, "alice"); n != 2 {
		t.Fatalf("after a closed: NATS counts %d connections of the user, want b's 2", n)
	}
	if n := count(t, b.CountIP, "10.0.0.1"); n != 2 {
		t.Fatalf("after a closed: NATS counts %d connections from the IP, want b's 2", n)
	}
	if _, err := a.AcquireIP(t.Context(), "10.0.0.1", 5); err == nil {
		t.Fatal("AcquireIP on a closed limiter succeeded")
	}
}

// TestLimiterCrashedNode: a node that stops refreshing (crash, partition)
// stops counting after the lease; a live node's counts stay.
func TestLimiterCrashedNode(t *testing.T) {
	p := randomPrefix()
	const lease = 1500 * time.Millisecond
	live := newLimiter(t, ns.url(), p, lease)
	// The crashed node runs on a connection of its own, closed under it:
	// no refresh, no release.
	nc, err := natsgo.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	crashed, err := nats.NewLimiter(ctx, nats.LimiterOptions{Options: nats.Options{Prefix: p}, Conn: nc, Lease: lease})
	if err != nil {
		t.Fatal(err)
	}
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
	// An IP only the crashed node holds: no live node writes its entry, so
	// it has to expire by its own TTL.
	if !acquire(t, crashed.AcquireIP, "10.0.0.7", 1) {
		t.Fatal("acquire on the crashed node refused")
	}
	nc.Close()
	t.Cleanup(func() { _ = crashed.Close() })

	start := time.Now()
	for !acquire(t, live.AcquireIP, "10.0.0.2", 3) {
		if time.Since(start) > 3*lease {
			t.Fatalf("the crashed node's connections still counted %v after it stopped (lease %v)", 3*lease, lease)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the crashed node's connections stopped counting after %v", time.Since(start).Round(time.Millisecond))
	for !acquire(t, live.AcquireIP, "10.0.0.7", 1) {
		if time.Since(start) > 3*lease {
			t.Fatalf("the crashed node's only connection still counted %v after it stopped (lease %v)", 3*lease, lease)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The live node's own count survives several leases through refreshes.
	time.Sleep(2 * lease)
	if n := count(t, live.CountIP, "10.0.0.2"); n != 2 {
		t.Fatalf("NATS counts %d, want the live node's 2", n)
	}
}

// TestLimiterConcurrent: many goroutines on two nodes acquire and release
// at once; the count never passes max and ends at zero.
func TestLimiterConcurrent(t *testing.T) {
	p := randomPrefix()
	nodes := []*nats.Limiter{newLimiter(t, ns.url(), p, 30*time.Second), newLimiter(t, ns.url(), p, 30*time.Second)}
	const max, workers, rounds = 5, 32, 15
	var held, peak, admitted, refused atomic.Int64
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
				admitted.Add(1)
				n := held.Add(1)
				for {
					old := peak.Load()
					if n <= old || peak.CompareAndSwap(old, n) {
						break
					}
				}
				time.Sleep(5 * time.Millisecond) // held: let others contend
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
	t.Logf("admitted %d, refused %d, peak %d", admitted.Load(), refused.Load(), peak.Load())
	if peak.Load() > max {
		t.Fatalf("%d connections held at once, max %d", peak.Load(), max)
	}
	if refused.Load() == 0 {
		t.Log("no acquire was refused: the test did not reach the limit")
	}
	if n := count(t, nodes[0].CountUser, "bob"); n != 0 {
		t.Fatalf("NATS counts %d after every release, want 0", n)
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
	a, b := newLimiter(t, ns.url(), p, 30*time.Second), newLimiter(t, ns.url(), p, 30*time.Second)
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
	if ok, _, err := b.Handshake(t.Context(), "10.0.0.3", perMinute); err != nil || ok {
		t.Fatalf("second handshake after one refill = %v, %v; want refused", ok, err)
	}
}

// TestLimiterUnavailable: without NATS the limiter fails closed, with
// broker.ErrUnavailable, and does not wait for the timeout.
func TestLimiterUnavailable(t *testing.T) {
	if _, err := nats.NewLimiter(t.Context(), nats.LimiterOptions{Options: nats.Options{URL: "nats://127.0.0.1:1"}}); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("NewLimiter without NATS = %v, want broker.ErrUnavailable", err)
	}
	nc, err := natsgo.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	l, err := nats.NewLimiter(t.Context(), nats.LimiterOptions{Options: nats.Options{Prefix: randomPrefix()}, Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !acquire(t, l.AcquireIP, "10.0.0.5", 5) {
		t.Fatal("acquire refused")
	}
	nc.Close()
	start := time.Now()
	if ok, err := l.AcquireIP(t.Context(), "10.0.0.5", 5); ok || !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("AcquireIP with NATS gone = %v, %v; want false and broker.ErrUnavailable", ok, err)
	}
	if ok, err := l.AcquireUser(t.Context(), "erin", 5); ok || !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("AcquireUser with NATS gone = %v, %v; want false and broker.ErrUnavailable", ok, err)
	}
	if ok, _, err := l.Handshake(t.Context(), "10.0.0.5", 5); ok || !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Handshake with NATS gone = %v, %v; want false and broker.ErrUnavailable", ok, err)
	}
	l.ReleaseIP("10.0.0.5") // must not block
	if d := time.Since(start); d > time.Second {
		t.Fatalf("failing took %v", d)
	}
}

// TestLimiterOutage: while the server is down the limiter refuses; once
// it is back (same store) the counts are there and it works by itself.
func TestLimiterOutage(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	e := &embedded{port: port, store: t.TempDir()}
	if err := e.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.stop)
	l := newLimiter(t, e.url(), randomPrefix(), 30*time.Second)
	if !acquire(t, l.AcquireIP, "10.0.0.6", 2) {
		t.Fatal("acquire refused")
	}
	e.stop()
	if ok, err := l.AcquireIP(t.Context(), "10.0.0.6", 2); ok || !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("AcquireIP with the server down = %v, %v; want false and broker.ErrUnavailable", ok, err)
	}
	if err := e.start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := l.AcquireIP(t.Context(), "10.0.0.6", 2)
		if err == nil {
			if !ok {
				t.Fatal("acquire after the outage refused: 1 of 2 held")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("AcquireIP still failing 10s after the server came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if acquire(t, l.AcquireIP, "10.0.0.6", 2) {
		t.Fatal("a third connection was allowed with max 2")
	}
}

// TestLimiterRebuildsLostCounts: when NATS loses an entry, the next
// refresh adds this node's leases back.
func TestLimiterRebuildsLostCounts(t *testing.T) {
	p := randomPrefix()
	const lease = 1500 * time.Millisecond
	l := newLimiter(t, ns.url(), p, lease)
	for range 2 {
		if !acquire(t, l.AcquireUser, "carol", 2) {
			t.Fatal("acquire refused")
		}
	}
	nc, err := natsgo.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(t.Context(), p+"_limits")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(t.Context())
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v, %v; want the user's entry", keys, err)
	}
	if err := kv.Purge(t.Context(), keys[0]); err != nil {
		t.Fatal(err)
	}
	if n := count(t, l.CountUser, "carol"); n != 0 {
		t.Fatalf("NATS counts %d after the purge", n)
	}
	deadline := time.Now().Add(3 * lease)
	for count(t, l.CountUser, "carol") != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("counts not rebuilt within %v: NATS counts %d, want 2", 3*lease, count(t, l.CountUser, "carol"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.ReleaseUser("carol")
	l.ReleaseUser("carol")
	if n := count(t, l.CountUser, "carol"); n != 0 {
		t.Fatalf("NATS counts %d after both releases, want 0", n)
	}
}

func TestLimiterOptionsValidated(t *testing.T) {
	for _, o := range []nats.LimiterOptions{
		{Options: nats.Options{Prefix: "a.b"}},
		{Lease: 500 * time.Millisecond},
		{Lease: 10 * time.Second, LeaseRefresh: 6 * time.Second},
		{LeaseRefresh: -time.Second},
	} {
		if _, err := nats.NewLimiter(t.Context(), o); err == nil || errors.Is(err, broker.ErrUnavailable) {
			t.Errorf("NewLimiter(%+v) = %v, want an options error", o, err)
		}
	}
}

var _ rampart.Limiter = (*nats.Limiter)(nil)
