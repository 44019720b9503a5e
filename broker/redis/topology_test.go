package redis_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/broker/brokertest"
	"github.com/rampart-rt/rampart/broker/redis"
	"github.com/rampart-rt/rampart/limits"
	"github.com/rampart-rt/rampart/limits/limitstest"
)

// What the Sentinel and Cluster tests share: the conformance suite and the
// limiter through a topology's client, and the failover of the primary
// holding a channel's keys.

// password is required by every Sentinel and Cluster node and sentinel in
// these tests, so that the broker is seen to authenticate to each.
const password = "rampart-test-password"

// brokerAt returns a broker for o, closed when t ends.
func brokerAt(t testing.TB, o redis.Options) broker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	b, err := redis.New(ctx, o)
	if err != nil {
		t.Fatalf("redis.New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// withPrefix returns o with a fresh key prefix.
func withPrefix(o redis.Options) redis.Options {
	o.Prefix = randomPrefix()
	return o
}

// runSuites runs the conformance suites of the broker (one node, two
// nodes, presence) and of the limiter (two nodes) against the topology o
// reaches.
func runSuites(t *testing.T, o redis.Options) {
	t.Run("Conformance", func(t *testing.T) {
		brokertest.Run(t, func(t *testing.T) broker.Broker { return brokerAt(t, withPrefix(o)) })
	})
	t.Run("Shared", func(t *testing.T) {
		brokertest.RunShared(t, func(t *testing.T) (broker.Broker, broker.Broker) {
			p := withPrefix(o)
			return brokerAt(t, p), brokerAt(t, p)
		})
	})
	t.Run("Presence", func(t *testing.T) {
		brokertest.RunPresence(t, func(t *testing.T) (broker.Broker, broker.Broker) {
			p := withPrefix(o)
			return brokerAt(t, p), brokerAt(t, p)
		})
	})
	t.Run("Limiter", func(t *testing.T) {
		limitstest.RunShared(t, func(t *testing.T) (limits.Limiter, limits.Limiter) {
			p := withPrefix(o)
			return limiterAt(t, p), limiterAt(t, p)
		})
	})
}

func limiterAt(t *testing.T, o redis.Options) *redis.Limiter {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	l, err := redis.NewLimiter(ctx, redis.LimiterOptions{Options: o})
	if err != nil {
		t.Fatalf("NewLimiter: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// recorder keeps, in order, what a broker delivers on one channel.
type recorder struct {
	channel string
	mu      sync.Mutex // guards got
	got     []broker.Publication
}

func record(t *testing.T, b broker.Broker, channel string) *recorder {
	t.Helper()
	r := &recorder{channel: channel}
	if err := b.Run(func(p broker.Publication) {
		if p.Channel == channel {
			r.mu.Lock()
			r.got = append(r.got, p)
			r.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := b.Subscribe(ctx, channel); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *recorder) pubs() []broker.Publication {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *recorder) has(pos broker.Position) bool {
	return slices.ContainsFunc(r.pubs(), func(p broker.Publication) bool { return p.Offset == pos.Offset && p.Epoch == pos.Epoch })
}

// waitFor polls until the recorder holds a publication at pos.
func (r *recorder) waitFor(t *testing.T, pos broker.Position) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !r.has(pos) {
		if time.Now().After(deadline) {
			t.Fatalf("publication %+v not delivered within 10s; got %s", pos, positions(r.pubs()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func positions(ps []broker.Publication) string {
	var s []string
	for _, p := range ps {
		s = append(s, fmt.Sprintf("%s/%d=%s", p.Epoch, p.Offset, p.Data))
	}
	return fmt.Sprint(s)
}

// primaryFault kills the primary holding a key, for testFailoverLosingWrites.
type primaryFault struct {
	hold func(t *testing.T, key string) // the replicas miss writes from now on
	kill func(t *testing.T, key string) // SIGKILL the primary
	wait func(t *testing.T)             // until a replica has been promoted
}

// serviceWithin bounds how long after the primary's death publishes must
// succeed again: a failover takes 2 to 4 s with the timeouts redistest
// sets, then go-redis finds the new primary.
const serviceWithin = 10 * time.Second

// testFailoverLosingWrites: two brokers, as two nodes, both subscribed to
// a channel; its last three publications reach the subscribers but not the
// replica, then the primary dies. The replica promoted in its place lacks
// them: the channel must start a new epoch, never hand out those offsets
// again in the old one. Publishes succeed again within serviceWithin, and
// deliveries resume on both nodes.
func testFailoverLosingWrites(t *testing.T, o redis.Options, f primaryFault) {
	o = withPrefix(o)
	const ch = "failover"
	key := o.Prefix + ":{" + ch + "}:top"
	a, b := brokerAt(t, o), brokerAt(t, o)
	ra, rb := record(t, a, ch), record(t, b, ch)
	publish := func(n int) broker.Position {
		t.Helper()
		pos, err := a.Publish(t.Context(), ch, fmt.Appendf(nil, `{"n":%d}`, n), "", "", broker.PublishOptions{HistorySize: 100, HistoryTTL: time.Minute})
		if err != nil || pos.Offset != uint64(n) {
			t.Fatalf("publish %d: %+v, %v", n, pos, err)
		}
		ra.waitFor(t, pos)
		rb.waitFor(t, pos)
		return pos
	}
	for n := 1; n <= 3; n++ {
		publish(n)
	}
	f.hold(t, key)
	var last broker.Position
	for n := 4; n <= 6; n++ {
		last = publish(n) // acknowledged and delivered, never replicated
	}

	killed := time.Now()
	f.kill(t, key)
	after, tries := publishUntilOK(t, b, ch, killed)
	served := time.Since(killed)
	f.wait(t)
	t.Logf("primary killed: a publish succeeded again after %v (%d tries), in %+v; the topology reported the failover done after %v",
		served.Round(time.Millisecond), tries, after, time.Since(killed).Round(time.Millisecond))
	if after.Epoch == last.Epoch && after.Offset <= last.Offset {
		t.Fatalf("after the failover a publish got offset %d of epoch %q again: subscribers already had %s",
			after.Offset, after.Epoch, positions(ra.pubs()))
	}
	if after.Epoch == last.Epoch {
		t.Fatalf("after a failover to a replica that lacks offsets 4..6 the channel went on in its epoch at %d", after.Offset)
	}
	// Recovery from the last position before the failover: another epoch,
	// so a client is told it cannot recover. Node a has not spoken to the
	// cluster since the kill: its first calls may still go to the dead
	// primary and be refused (unavailable) until it finds the new one,
	// within serviceWithin like any call.
	pubs, pos, err := historyUntilServed(t, a, ch, broker.HistoryRequest{Since: &last, Limit: -1}, killed)
	if err != nil || pos != after {
		t.Fatalf("History since %+v on the other node = %s at %+v, %v; want position %+v", last, positions(pubs), pos, err, after)
	}
	for _, p := range pubs {
		if p.Epoch != after.Epoch {
			t.Fatalf("History since %+v on the other node = %s, want only epoch %q", last, positions(pubs), after.Epoch)
		}
	}
	// A node's pub/sub connection comes back by itself, up to a second or
	// so after the new primary; what is published before is in history
	// only. Publish until both nodes hear the channel again.
	deadline := time.Now().Add(10 * time.Second)
	for heard := false; !heard && time.Now().Before(deadline); {
		resumed, _ := publishUntilOK(t, a, ch, time.Now())
		for wait := time.Now().Add(200 * time.Millisecond); !heard && time.Now().Before(wait); time.Sleep(10 * time.Millisecond) {
			heard = ra.has(resumed) && rb.has(resumed)
		}
	}
	for _, r := range []*recorder{ra, rb} {
		got := r.pubs()
		if last := got[len(got)-1]; last.Epoch != after.Epoch {
			t.Fatalf("no delivery of the new epoch %q within 10s; got %s", after.Epoch, positions(got))
		}
		checkNoReuse(t, got)
	}
}

// publishUntilOK publishes on ch until a call succeeds, every 20 ms with
// 1 s per call, for at most serviceWithin after since; it returns the
// position and the number of calls.
func publishUntilOK(t *testing.T, b broker.Broker, ch string, since time.Time) (broker.Position, int) {
	t.Helper()
	for tries := 1; ; tries++ {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		pos, err := b.Publish(ctx, ch, fmt.Appendf(nil, `{"after":%d}`, tries), "", "", broker.PublishOptions{HistorySize: 100, HistoryTTL: time.Minute})
		cancel()
		if err == nil {
			return pos, tries
		}
		if time.Since(since) > serviceWithin {
			t.Fatalf("publishes still failing %v after the primary died: %v", serviceWithin, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// historyUntilServed asks b for ch's history until it is not refused as
// unavailable, for up to serviceWithin after since; it returns the first
// answer that is not such a refusal.
func historyUntilServed(t *testing.T, b broker.Broker, ch string, req broker.HistoryRequest, since time.Time) ([]broker.Publication, broker.Position, error) {
	t.Helper()
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		pubs, pos, err := b.History(ctx, ch, req)
		cancel()
		if !errors.Is(err, broker.ErrUnavailable) || time.Since(since) > serviceWithin {
			return pubs, pos, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkNoReuse fails unless every (epoch, offset) was delivered once and
// offsets rise within each epoch.
func checkNoReuse(t *testing.T, ps []broker.Publication) {
	t.Helper()
	top := map[string]uint64{}
	for _, p := range ps {
		if p.Offset <= top[p.Epoch] {
			t.Fatalf("offset %d of epoch %q delivered after offset %d: %s", p.Offset, p.Epoch, top[p.Epoch], positions(ps))
		}
		top[p.Epoch] = p.Offset
	}
}
