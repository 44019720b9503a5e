package limitstest

import (
	"io"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/limits"
)

// RunShared runs the suite for two limiters on one backend, as two Rampart
// nodes would use it. newPair returns two fresh limiters sharing a backend
// with nothing counted; the caller closes them when t ends. The
// CloseGivesBack test runs for limiters that are io.Closers.
func RunShared(t *testing.T, newPair func(t *testing.T) (a, b limits.Limiter)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b limits.Limiter)
	}{
		{"OneCountForBoth", testOneCount},
		{"ReleaseFreesOnlyOwnSlots", testReleaseOwnOnly},
		{"ConcurrentAcquiresExact", testSharedConcurrentExact},
		{"ConcurrentChurnUnderCap", testSharedConcurrentChurn},
		{"OneHandshakeBucket", testOneBucket},
	}
	if a, _ := newPair(t); isCloser(a) {
		tests = append(tests, struct {
			name string
			fn   func(t *testing.T, a, b limits.Limiter)
		}{"CloseGivesBack", testCloseGivesBack})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newPair(t)
			tc.fn(t, a, b)
		})
	}
}

// testOneCount: slots taken on either node count against one cap, and a
// slot released on one node can be taken on the other.
func testOneCount(t *testing.T, a, b limits.Limiter) {
	forEachCount(t, func(t *testing.T, c count) {
		for _, k := range keys {
			c.fill(t, k[0], 3, a, b)
			if !c.try(t, b, k[1], 1) {
				t.Fatalf("%q shares the count of %q", k[1], k[0])
			}
			c.release(a, k[0]) // a took the first and the third
			if !c.try(t, b, k[0], 3) {
				t.Fatalf("Acquire%s(%q) on b refused after a released a slot", c.name, k[0])
			}
			c.full(t, k[0], 3, a, b)
		}
	})
}

// testReleaseOwnOnly: a node releasing a key it holds nothing of frees
// nothing of what the other node holds.
func testReleaseOwnOnly(t *testing.T, a, b limits.Limiter) {
	forEachCount(t, func(t *testing.T, c count) {
		const key, max = "10.1.0.1", 2
		c.fill(t, key, max, a)
		for range 3 {
			c.release(b, key)
		}
		c.full(t, key, max, a, b)
		c.release(a, key)
		c.free(t, b, key, max, 1)
		c.release(a, key)
		c.free(t, b, key, max, max)
	})
}

func testSharedConcurrentExact(t *testing.T, a, b limits.Limiter) {
	forEachCount(t, func(t *testing.T, c count) { concurrentExact(t, c, a, b) })
}

func testSharedConcurrentChurn(t *testing.T, a, b limits.Limiter) {
	forEachCount(t, func(t *testing.T, c count) { concurrentChurn(t, c, a, b) })
}

// testOneBucket: an IP's handshakes on either node come from one bucket,
// which refills for both.
func testOneBucket(t *testing.T, a, b limits.Limiter) {
	const ip, perMinute = "10.1.1.1", 30 // one every 2s
	for i := range perMinute {
		if ok, _ := handshake(t, []limits.Limiter{a, b}[i%2], ip, perMinute); !ok {
			t.Fatalf("handshake %d of %d refused", i+1, perMinute)
		}
	}
	checkRefused(t, a, ip, perMinute)
	asked := time.Now()
	wait := checkRefused(t, b, ip, perMinute)
	if ok, _ := handshake(t, a, "10.1.1.2", perMinute); !ok {
		t.Fatal("another IP was refused")
	}
	if got := pollAllowed(t, a, ip, perMinute, asked, wait); got < wait-50*time.Millisecond {
		t.Fatalf("allowed on a %v after b refused with retry-after %v", got, wait)
	}
	checkRefused(t, b, ip, perMinute)
}

// testCloseGivesBack: closing a node gives back the slots it held at
// once; the other node's stay.
func testCloseGivesBack(t *testing.T, a, b limits.Limiter) {
	cl := a.(io.Closer)
	for _, c := range counts {
		c.fill(t, "10.1.2.1", 3, b, a, b) // a holds 1, b 2
	}
	if err := cl.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, c := range counts {
		c.free(t, b, "10.1.2.1", 3, 1)
	}
}

func isCloser(l limits.Limiter) bool {
	_, ok := l.(io.Closer)
	return ok
}
