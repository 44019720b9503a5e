package nats_test

import (
	"context"
	"errors"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/broker/nats"
	"github.com/rampart-rt/rampart/limits"
	"github.com/rampart-rt/rampart/limits/limitstest"
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

func TestLimiterConformance(t *testing.T) {
	limitstest.Run(t, func(t *testing.T) limits.Limiter { return newLimiter(t, ns.url(), randomPrefix(), 30*time.Second) })
}

func TestLimiterShared(t *testing.T) {
	limitstest.RunShared(t, func(t *testing.T) (limits.Limiter, limits.Limiter) {
		p := randomPrefix()
		return newLimiter(t, ns.url(), p, 30*time.Second), newLimiter(t, ns.url(), p, 30*time.Second)
	})
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

var _ limits.Limiter = (*nats.Limiter)(nil)
