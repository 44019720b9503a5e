package limits

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// ip returns a distinct IPv6 address for each n.
func ip(n int) string { return "2001:db8::" + strconv.FormatUint(uint64(n), 16) }

func take(t *testing.T, h *handshakes, now time.Time, ip string, perMinute int) (bool, time.Duration) {
	t.Helper()
	ok, wait := h.take(now, ip, perMinute)
	if ok != (wait == 0) {
		t.Fatalf("take(%q) = %v, %v: allowed with a wait, or refused without", ip, ok, wait)
	}
	return ok, wait
}

// TestHandshakeFloodBounded: a flood of distinct IPs, each making one
// handshake, keeps only the IPs whose bucket is still refilling, and a
// minute later their memory is given back.
func TestHandshakeFloodBounded(t *testing.T) {
	h := newHandshakes(maxBuckets)
	t0 := time.Unix(1000, 0)
	// 10,000 new IPs a second for 10 s; with 60 a minute, one handshake
	// takes a second to refill, so about 10,000 buckets are live at once.
	const perSecond, seconds = 10_000, 10
	step := time.Second / perSecond
	peak := 0
	for n := range perSecond * seconds {
		if ok, _ := take(t, &h, t0.Add(time.Duration(n)*step), ip(n), 60); !ok {
			t.Fatalf("the first handshake of IP %d was refused", n)
		}
		peak = max(peak, h.size())
	}
	if limit := 2*perSecond + minSweep; peak > limit {
		t.Fatalf("%d buckets kept at once for %d live ones; want at most %d", peak, perSecond, limit)
	}
	later := t0.Add(seconds*time.Second + time.Minute)
	take(t, &h, later, "192.0.2.1", 60)
	if n := h.size(); n != 1 {
		t.Fatalf("a minute after the flood %d buckets kept, want 1", n)
	}
}

// TestHandshakeMemoryGivenBack: buckets take about what maxBuckets'
// comment says, and once they are full again a sweep gives their memory
// back (a map that only deletes would keep its size).
func TestHandshakeMemoryGivenBack(t *testing.T) {
	const n = 100_000 // all within the same second: all live
	ips := make([]string, n)
	for i := range ips {
		ips[i] = ip(i)
	}
	before := heap()
	h := newHandshakes(maxBuckets)
	t0 := time.Unix(1000, 0)
	for _, ip := range ips {
		take(t, &h, t0, ip, 60)
	}
	if h.size() != n {
		t.Fatalf("%d buckets kept, want all %d", h.size(), n)
	}
	full := heap()
	take(t, &h, t0.Add(time.Minute), "192.0.2.1", 60)
	after := heap()
	per := (full - before) / n
	t.Logf("heap: %d bytes before, %d with %d buckets (%d per bucket), %d after the sweep", before, full, n, per, after)
	if per > 160 {
		t.Fatalf("%d bytes per bucket; maxBuckets' comment says about 115", per)
	}
	if after > before+1<<20 {
		t.Fatalf("heap %d bytes after the sweep, %d before the flood: the memory was not given back", after, before)
	}
	if h.size() != 1 {
		t.Fatalf("%d buckets kept after the sweep, want 1", h.size())
	}
	runtime.KeepAlive(ips)
}

func heap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestHandshakeCap: with max buckets kept, a new IP drops an arbitrary one
// instead of growing the map.
func TestHandshakeCap(t *testing.T) {
	const max = 1000
	h := newHandshakes(max)
	t0 := time.Unix(1000, 0)
	for n := range 10 * max {
		if ok, _ := take(t, &h, t0, ip(n), 1); !ok {
			t.Fatalf("the first handshake of IP %d was refused", n)
		}
		if s := h.size(); s > max {
			t.Fatalf("%d buckets kept, max %d", s, max)
		}
	}
	// The last IP is kept: its bucket of 1 is empty.
	if ok, wait := take(t, &h, t0, ip(10*max-1), 1); ok || wait != time.Minute {
		t.Fatalf("the last IP's second handshake = %v, retry after %v; want refused for a minute", ok, wait)
	}
}

// TestHandshakeSweepKeepsRefilling: a sweep drops the buckets that are
// full again and keeps those still refilling, with their state.
func TestHandshakeSweepKeepsRefilling(t *testing.T) {
	h := newHandshakes(maxBuckets)
	t0 := time.Unix(1000, 0)
	for range 30 {
		take(t, &h, t0, "busy", 60) // refills in 30 s
	}
	take(t, &h, t0, "once", 60) // refills in 1 s
	h.sweep(t0.Add(2 * time.Second))
	if _, ok := h.buckets["once"]; ok || h.size() != 1 {
		t.Fatalf("after 2 s the sweep kept %d buckets (once: %v); want only busy's", h.size(), ok)
	}
	at := t0.Add(2 * time.Second)
	for i := range 2 {
		if ok, _ := take(t, &h, at, "busy", 60); !ok {
			t.Fatalf("busy's handshake %d after 2 s refused: its bucket lost its refill", i+1)
		}
	}
	for i := range 30 {
		if ok, _ := take(t, &h, at, "busy", 60); !ok {
			if i != 30-2 {
				t.Fatalf("busy was refused after %d more; it had 30 left", i)
			}
			break
		}
	}
	h.sweep(t0.Add(time.Minute))
	if _, ok := h.buckets["busy"]; !ok {
		t.Fatal("busy's emptied bucket was dropped before it refilled")
	}
	h.sweep(t0.Add(2*time.Second + 2*time.Minute))
	if h.size() != 0 {
		t.Fatalf("%d buckets kept once all are full", h.size())
	}
}

// TestHandshakeLimitReloaded: a new perMinute applies to the buckets
// already kept, at once.
func TestHandshakeLimitReloaded(t *testing.T) {
	h := newHandshakes(maxBuckets)
	t0 := time.Unix(1000, 0)
	for range 5 {
		take(t, &h, t0, "ip", 60)
	}
	// Lowered to 10: the bucket holds 10 at most.
	for i := range 10 {
		if ok, _ := take(t, &h, t0, "ip", 10); !ok {
			t.Fatalf("handshake %d of 10 refused after the limit was lowered", i+1)
		}
	}
	if ok, wait := take(t, &h, t0, "ip", 10); ok || wait != 6*time.Second {
		t.Fatalf("the 11th = %v, retry after %v; want refused for 6 s", ok, wait)
	}
	// Raised to 120: the empty bucket refills at the new rate.
	if ok, wait := take(t, &h, t0, "ip", 120); ok || wait != 500*time.Millisecond {
		t.Fatalf("after raising to 120 = %v, retry after %v; want refused for 500 ms", ok, wait)
	}
	if ok, _ := take(t, &h, t0.Add(500*time.Millisecond), "ip", 120); !ok {
		t.Fatal("refused after the retry-after at the raised limit")
	}
}

// TestHandshakeBelowOne: perMinute below 1 counts as 1.
func TestHandshakeBelowOne(t *testing.T) {
	l := NewLocal()
	for _, perMinute := range []int{0, -5} {
		ip := "10.0.0." + strconv.Itoa(-perMinute)
		if ok, _, err := l.Handshake(context.Background(), ip, perMinute); !ok || err != nil {
			t.Fatalf("Handshake(%d) = %v, %v; want the one handshake of a minute", perMinute, ok, err)
		}
		if ok, wait, _ := l.Handshake(context.Background(), ip, perMinute); ok || wait <= 0 || wait > time.Minute {
			t.Fatalf("second Handshake(%d) = %v, retry after %v; want refused for up to a minute", perMinute, ok, wait)
		}
	}
}

// BenchmarkHandshake: one IP whose bucket never empties, one IP always
// refused, many IPs in turn, a new IP for every handshake (a flood), and
// one IP per goroutine in parallel. docs/decisions/0008 compares it with
// the hand-written bucket this package replaced.
func BenchmarkHandshake(b *testing.B) {
	ctx := context.Background()
	ips := make([]string, 1<<18)
	for i := range ips {
		ips[i] = ip(i)
	}
	b.Run("OneIP", func(b *testing.B) {
		l := NewLocal()
		b.ReportAllocs()
		for b.Loop() {
			l.Handshake(ctx, "192.0.2.1", 1<<30)
		}
	})
	b.Run("OneIPRefused", func(b *testing.B) {
		l := NewLocal()
		b.ReportAllocs()
		for b.Loop() {
			l.Handshake(ctx, "192.0.2.1", 1)
		}
	})
	b.Run("ManyIPs", func(b *testing.B) { // 65,536 IPs in turn
		l := NewLocal()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			l.Handshake(ctx, ips[i%(1<<16)], 60)
			i++
		}
	})
	b.Run("NewIPs", func(b *testing.B) { // an IP never seen before each time
		l := NewLocal()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if i == len(ips) {
				b.StopTimer()
				l, i = NewLocal(), 0
				b.StartTimer()
			}
			l.Handshake(ctx, ips[i], 60)
			i++
		}
	})
	b.Run("Parallel", func(b *testing.B) { // one IP per goroutine
		l := NewLocal()
		var next atomic.Int32
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			ip := ip(int(next.Add(1)))
			for pb.Next() {
				l.Handshake(ctx, ip, 1<<30)
			}
		})
	})
}
