// Package limitstest is the conformance suite every limits.Limiter passes:
// limits.Local defines the behaviour, and the Redis and NATS limiters are
// held to it against real servers.
//
// Run covers what one limiter does on its own: the handshake bucket (its
// size, the retry-after it announces, its refill, one bucket per IP), the
// per-IP and per-user caps, a release giving back exactly one slot and an
// extra release nothing, many goroutines against one cap, a done context,
// and Close for a limiter that has one. RunShared covers two limiters on
// one backend, as two nodes: one count and one bucket for both, a release
// freeing only what its own node holds, concurrency across the nodes, and
// Close giving a node's slots back at once.
//
// A limiter with a Held method (the connections its node counts) must
// report 0 once every slot it took is released. The suite decides nothing
// about how a backend counts, nor what happens when it is unreachable.
package limitstest

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/limits"
)

// opTimeout bounds each limiter call made by the suite.
const opTimeout = 5 * time.Second

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// Run runs the single-limiter suite. newLimiter returns a fresh limiter
// with nothing counted (for a shared backend: a new key prefix); the
// caller closes it when t ends, if it needs closing. The Close test runs
// for a limiter that is an io.Closer.
func Run(t *testing.T, newLimiter func(t *testing.T) limits.Limiter) {
	tests := []struct {
		name string
		fn   func(*testing.T, limits.Limiter)
	}{
		{"HandshakeBucketSize", testHandshakeBucketSize},
		{"HandshakeRefill", testHandshakeRefill},
		{"HandshakeBucketPerIP", testHandshakeBucketPerIP},
		{"Caps", testCaps},
		{"ReleaseGivesBackOne", testReleaseGivesBackOne},
		{"ExtraReleaseIgnored", testExtraReleaseIgnored},
		{"ZeroMaxRefuses", testZeroMaxRefuses},
		{"ConcurrentAcquiresExact", testConcurrentExact},
		{"ConcurrentChurnUnderCap", testConcurrentChurn},
		{"DoneContext", testDoneContext},
	}
	if _, ok := newLimiter(t).(io.Closer); ok {
		tests = append(tests, struct {
			name string
			fn   func(*testing.T, limits.Limiter)
		}{"Close", testClose})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newLimiter(t)) })
	}
}

// count is one of the two connection counts, per IP or per user.
type count struct {
	name    string
	acquire func(l limits.Limiter, ctx context.Context, key string, max int) (bool, error)
	release func(l limits.Limiter, key string)
}

var counts = []count{
	{"IP", limits.Limiter.AcquireIP, limits.Limiter.ReleaseIP},
	{"User", limits.Limiter.AcquireUser, limits.Limiter.ReleaseUser},
}

// other is the count of the other kind.
func (c count) other() count {
	if c.name == counts[0].name {
		return counts[1]
	}
	return counts[0]
}

// forEachCount runs fn as one subtest per count.
func forEachCount(t *testing.T, fn func(t *testing.T, c count)) {
	for _, c := range counts {
		t.Run(c.name, func(t *testing.T) { fn(t, c) })
	}
}

// try acquires one slot of key under max and fails t on an error.
func (c count) try(t *testing.T, l limits.Limiter, key string, max int) bool {
	t.Helper()
	ok, err := c.acquire(l, ctxT(t), key, max)
	if err != nil {
		t.Fatalf("Acquire%s(%q, %d): %v", c.name, key, max, err)
	}
	return ok
}

// fill acquires max slots of key, alternating over ls, and checks that
// every limiter then refuses one more.
func (c count) fill(t *testing.T, key string, max int, ls ...limits.Limiter) {
	t.Helper()
	for i := range max {
		if !c.try(t, ls[i%len(ls)], key, max) {
			t.Fatalf("Acquire%s(%q): slot %d of %d refused", c.name, key, i+1, max)
		}
	}
	c.full(t, key, max, ls...)
}

// full checks that every limiter in ls refuses a slot of key under max.
func (c count) full(t *testing.T, key string, max int, ls ...limits.Limiter) {
	t.Helper()
	for i, l := range ls {
		if c.try(t, l, key, max) {
			t.Fatalf("Acquire%s(%q) on limiter %d: a slot beyond max %d allowed", c.name, key, i, max)
		}
	}
}

// free checks that exactly n more slots of key are free under max, then
// gives back those it took.
func (c count) free(t *testing.T, l limits.Limiter, key string, max, n int) {
	t.Helper()
	for i := range n {
		if !c.try(t, l, key, max) {
			t.Fatalf("Acquire%s(%q): %d slots should be free under max %d, number %d was refused", c.name, key, n, max, i+1)
		}
	}
	if c.try(t, l, key, max) {
		t.Fatalf("Acquire%s(%q): %d slots should be free under max %d, one more was allowed", c.name, key, n, max)
	}
	for range n {
		c.release(l, key)
	}
}

func handshake(t *testing.T, l limits.Limiter, ip string, perMinute int) (bool, time.Duration) {
	t.Helper()
	ok, wait, err := l.Handshake(ctxT(t), ip, perMinute)
	if err != nil {
		t.Fatalf("Handshake(%q, %d): %v", ip, perMinute, err)
	}
	if ok && wait != 0 {
		t.Fatalf("Handshake(%q, %d) allowed with a retry-after of %v", ip, perMinute, wait)
	}
	return ok, wait
}

// checkRefused checks that a handshake of ip is refused with a retry-after
// of more than 0 and at most one refill interval, and returns it.
func checkRefused(t *testing.T, l limits.Limiter, ip string, perMinute int) time.Duration {
	t.Helper()
	ok, wait := handshake(t, l, ip, perMinute)
	every := time.Minute / time.Duration(perMinute)
	if ok || wait <= 0 || wait > every {
		t.Fatalf("Handshake(%q, %d) on an empty bucket = %v, retry after %v; want refused, 0 < retry-after <= %v", ip, perMinute, ok, wait, every)
	}
	return wait
}

// testHandshakeBucketSize: a bucket holds perMinute handshakes; the next
// is refused with a retry-after of at most one refill interval.
func testHandshakeBucketSize(t *testing.T, l limits.Limiter) {
	const perMinute = 30 // one every 2s: the loop is far quicker
	start := time.Now()
	for i := range perMinute {
		if ok, _ := handshake(t, l, "10.0.0.1", perMinute); !ok {
			t.Fatalf("handshake %d of %d refused", i+1, perMinute)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Logf("the %d handshakes took %v: a refill may have come in between", perMinute, d)
	}
	checkRefused(t, l, "10.0.0.1", perMinute)
	checkRefused(t, l, "10.0.0.1", perMinute) // a refusal takes nothing, gives nothing
}

// testHandshakeRefill: an empty bucket allows a handshake again no sooner
// than the retry-after it announced, and by then; then exactly one.
func testHandshakeRefill(t *testing.T, l limits.Limiter) {
	const ip, perMinute = "10.0.0.2", 60 // one a second
	drain(t, l, ip, perMinute)
	asked := time.Now()
	wait := checkRefused(t, l, ip, perMinute)
	// Not sooner: the refusal was decided after asked, the success before
	// the poll returns, so a retry-after longer than needed shows.
	got := pollAllowed(t, l, ip, perMinute, asked, wait)
	if got < wait-50*time.Millisecond {
		t.Fatalf("allowed again %v after a refusal with retry-after %v: the retry-after was too long", got, wait)
	}
	// By then: a client that waits out the retry-after from the answer is
	// let in, however late this goroutine runs.
	wait = checkRefused(t, l, ip, perMinute)
	answered := time.Now()
	time.Sleep(time.Until(answered.Add(wait + 25*time.Millisecond)))
	if ok, _ := handshake(t, l, ip, perMinute); !ok {
		t.Fatalf("refused %v after a refusal with retry-after %v: the retry-after was too short", time.Since(answered), wait)
	}
	checkRefused(t, l, ip, perMinute)
}

// pollAllowed polls ip's bucket until a handshake is allowed, and returns
// how long after asked; it fails t if that takes over a second more than
// wait.
func pollAllowed(t *testing.T, l limits.Limiter, ip string, perMinute int, asked time.Time, wait time.Duration) time.Duration {
	t.Helper()
	for {
		if ok, _ := handshake(t, l, ip, perMinute); ok {
			return time.Since(asked)
		}
		if time.Since(asked) > wait+time.Second {
			t.Fatalf("still refused %v after a retry-after of %v", time.Since(asked), wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// drain takes handshakes of ip until one is refused and checks that the
// bucket held at least perMinute.
func drain(t *testing.T, l limits.Limiter, ip string, perMinute int) {
	t.Helper()
	n := 0
	for ok := true; ok; n++ {
		if n > 2*perMinute {
			t.Fatalf("Handshake(%q, %d): %d allowed in a row", ip, perMinute, n)
		}
		ok, _ = handshake(t, l, ip, perMinute)
	}
	if n-1 < perMinute {
		t.Fatalf("Handshake(%q, %d): refused after %d", ip, perMinute, n-1)
	}
}

// testHandshakeBucketPerIP: each IP has a bucket of its own, whatever the
// characters that tell two IPs apart.
func testHandshakeBucketPerIP(t *testing.T, l limits.Limiter) {
	const perMinute = 3
	for _, p := range [][2]string{
		{"10.0.0.3", "10.0.0.30"},
		{"2001:db8::1", "2001:db8::2"},
		{"2001:db8::1:0", "2001:db8::10"},
		{"a.b *>/ü", ""},
	} {
		drain(t, l, p[0], perMinute)
		for i := range perMinute {
			if ok, _ := handshake(t, l, p[1], perMinute); !ok {
				t.Fatalf("handshake %d of %q refused after %q emptied its bucket", i+1, p[1], p[0])
			}
		}
		checkRefused(t, l, p[1], perMinute)
	}
}

// keys are pairs of keys that must be counted apart.
var keys = [][2]string{
	{"10.0.0.1", "10.0.0.10"},
	{"2001:db8::1", "2001:db8::2"},
	{"alice", "alice."},
	{"{bob}", "bob"},
	{"a.b *>/ü", ""},
}

// testCaps: max slots per key, each key counted apart. The users are
// filled after the IPs of the same names, so they are counted apart too.
func testCaps(t *testing.T, l limits.Limiter) {
	forEachCount(t, func(t *testing.T, c count) {
		for _, k := range keys {
			c.fill(t, k[0], 3, l)
			if !c.try(t, l, k[1], 1) {
				t.Fatalf("%q shares the count of %q", k[1], k[0])
			}
		}
	})
}

// testReleaseGivesBackOne: a release frees exactly one slot; releasing
// every slot frees them all.
func testReleaseGivesBackOne(t *testing.T, l limits.Limiter) {
	forEachCount(t, func(t *testing.T, c count) {
		const key, max = "10.0.1.1", 3
		c.fill(t, key, max, l)
		c.release(l, key)
		c.free(t, l, key, max, 1)
		c.release(l, key)
		c.release(l, key)
		c.free(t, l, key, max, max)
	})
}

// testExtraReleaseIgnored: a release with nothing held under its key
// frees nothing, now or later, and never someone else's slot.
func testExtraReleaseIgnored(t *testing.T, l limits.Limiter) {
	forEachCount(t, func(t *testing.T, c count) {
		const max = 2
		t.Run("NeverAcquired", func(t *testing.T) {
			for range 3 {
				c.release(l, "10.0.2.1")
			}
			c.free(t, l, "10.0.2.1", max, max)
		})
		t.Run("ReleasedTwice", func(t *testing.T) {
			if !c.try(t, l, "10.0.2.2", max) {
				t.Fatal("first slot refused")
			}
			c.release(l, "10.0.2.2")
			c.release(l, "10.0.2.2")
			c.free(t, l, "10.0.2.2", max, max)
		})
		t.Run("OtherKeys", func(t *testing.T) {
			c.fill(t, "10.0.2.3", max, l)
			c.other().release(l, "10.0.2.3")
			c.release(l, "10.0.2.30")
			c.release(l, "10.0.2.")
			c.full(t, "10.0.2.3", max, l)
		})
	})
}

// testZeroMaxRefuses: max 0 or less refuses and counts nothing.
func testZeroMaxRefuses(t *testing.T, l limits.Limiter) {
	forEachCount(t, func(t *testing.T, c count) {
		for _, max := range []int{0, -1} {
			if c.try(t, l, "10.0.3.1", max) {
				t.Fatalf("a slot allowed under max %d", max)
			}
		}
		c.free(t, l, "10.0.3.1", 1, 1)
	})
}

// race runs n goroutines that start together, spread over ls, and waits
// for them; each calls fn with the index of its limiter.
func race(ls []limits.Limiter, n int, fn func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i % len(ls))
		})
	}
	close(start)
	wg.Wait()
}

// acquire1 is one Acquire bounded by opTimeout, for goroutines.
func (c count) acquire1(l limits.Limiter, key string, max int) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	return c.acquire(l, ctx, key, max)
}

// concurrentExact: 16 goroutines acquire one slot each at once, spread
// over ls, under a cap of 5: exactly 5 get one.
func concurrentExact(t *testing.T, c count, ls ...limits.Limiter) {
	const key, max, n = "10.0.4.1", 5, 16
	won := make([]atomic.Int32, len(ls)) // per limiter
	race(ls, n, func(i int) {
		ok, err := c.acquire1(ls[i], key, max)
		if err != nil {
			t.Errorf("Acquire%s: %v", c.name, err)
		}
		if ok {
			won[i].Add(1)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	total := 0
	for i := range won {
		total += int(won[i].Load())
	}
	if total != max {
		t.Fatalf("%d concurrent acquires on %d limiter(s) under a cap of %d: %d passed", n, len(ls), max, total)
	}
	for i, l := range ls {
		for range won[i].Load() {
			c.release(l, key)
		}
	}
	c.free(t, ls[0], key, max, max)
	checkHeld(t, ls...)
}

func testConcurrentExact(t *testing.T, l limits.Limiter) {
	forEachCount(t, func(t *testing.T, c count) { concurrentExact(t, c, l) })
}

// concurrentChurn: 32 goroutines, spread over ls, acquire and release one
// key again and again under a cap of 5: no more than 5 are ever held
// together, and all are free at the end. A goroutine holds its slot until
// max more acquires have been answered (or no other goroutine could answer
// one), so the cap is contended however slow the limiter is.
func concurrentChurn(t *testing.T, c count, ls ...limits.Limiter) {
	const key, max, workers, rounds = "10.0.5.1", 5, 32, 15
	var held, peak, refused, answered, holding, finished atomic.Int64
	race(ls, workers, func(i int) {
		defer finished.Add(1)
		l := ls[i]
		for range rounds {
			ok, err := c.acquire1(l, key, max)
			answered.Add(1)
			if err != nil {
				t.Errorf("Acquire%s: %v", c.name, err)
				return
			}
			if !ok {
				refused.Add(1)
				continue
			}
			n := held.Add(1)
			for old := peak.Load(); n > old && !peak.CompareAndSwap(old, n); old = peak.Load() {
			}
			holding.Add(1)
			for seen := answered.Load(); answered.Load() < seen+max && holding.Load()+finished.Load() < workers; {
				runtime.Gosched()
			}
			holding.Add(-1)
			held.Add(-1)
			c.release(l, key)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("admitted %d, refused %d, peak %d", answered.Load()-refused.Load(), refused.Load(), peak.Load())
	if peak.Load() > max {
		t.Fatalf("%d slots held at once under a cap of %d", peak.Load(), max)
	}
	c.free(t, ls[0], key, max, max)
	checkHeld(t, ls...)
}

func testConcurrentChurn(t *testing.T, l limits.Limiter) {
	forEachCount(t, func(t *testing.T, c count) { concurrentChurn(t, c, l) })
}

// checkHeld checks that a limiter with a Held method holds nothing.
func checkHeld(t *testing.T, ls ...limits.Limiter) {
	t.Helper()
	for i, l := range ls {
		if h, ok := l.(interface{ Held() int }); ok {
			if n := h.Held(); n != 0 {
				t.Fatalf("limiter %d holds %d slots after every release", i, n)
			}
		}
	}
}

// within fails t unless fn returns within d; fn must not use t.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// testDoneContext: with ctx canceled or past its deadline, Handshake and
// the Acquires return ctx's error at once and take nothing.
func testDoneContext(t *testing.T, l limits.Limiter) {
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"Canceled", canceled, context.Canceled},
		{"DeadlineExceeded", expired, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ok bool
			var err error
			within(t, opTimeout, "Handshake", func() { ok, _, err = l.Handshake(tc.ctx, "10.0.6.1", 1) })
			if ok || !errors.Is(err, tc.want) {
				t.Errorf("Handshake = %v, %v; want false and %v", ok, err, tc.want)
			}
			for _, c := range counts {
				within(t, opTimeout, "Acquire"+c.name, func() { ok, err = c.acquire(l, tc.ctx, "10.0.6.1", 1) })
				if ok || !errors.Is(err, tc.want) {
					t.Errorf("Acquire%s = %v, %v; want false and %v", c.name, ok, err, tc.want)
				}
			}
		})
	}
	if t.Failed() {
		t.FailNow()
	}
	if ok, _ := handshake(t, l, "10.0.6.1", 1); !ok {
		t.Fatal("a handshake with a done context took the bucket's only token")
	}
	for _, c := range counts {
		c.free(t, l, "10.0.6.1", 1, 1)
	}
}

// testClose: Close is safe to call twice, and a closed limiter refuses
// with an error.
func testClose(t *testing.T, l limits.Limiter) {
	cl := l.(io.Closer)
	if !counts[0].try(t, l, "10.0.7.1", 2) {
		t.Fatal("acquire refused")
	}
	if err := cl.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := cl.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, c := range counts {
		var ok bool
		var err error
		within(t, opTimeout, "Acquire"+c.name+" and Release"+c.name+" on a closed limiter", func() {
			ok, err = c.acquire1(l, "10.0.7.1", 2)
			c.release(l, "10.0.7.1")
		})
		if ok || err == nil {
			t.Errorf("Acquire%s on a closed limiter = %v, %v; want false and an error", c.name, ok, err)
		}
	}
}
