package policy

import (
	"sync"
	"testing"
	"time"
)

func TestCounterLimits(t *testing.T) {
	c := NewCounter()
	for i := 0; i < 3; i++ {
		if !c.AcquireIP("1.2.3.4", 3) {
			t.Fatalf("acquire %d refused", i)
		}
	}
	if c.AcquireIP("1.2.3.4", 3) {
		t.Fatal("fourth connection from one IP allowed")
	}
	if !c.AcquireIP("5.6.7.8", 3) {
		t.Fatal("another IP refused")
	}
	c.ReleaseIP("1.2.3.4")
	if !c.AcquireIP("1.2.3.4", 3) {
		t.Fatal("released slot not reusable")
	}
	if !c.AcquireUser("alice", 1) || c.AcquireUser("alice", 1) {
		t.Fatal("per-user limit of 1 not kept")
	}
}

func TestHandshakeBucket(t *testing.T) {
	c := NewCounter()
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	for i := 0; i < 60; i++ {
		if ok, _ := c.Handshake("ip", 60); !ok {
			t.Fatalf("handshake %d refused", i)
		}
	}
	ok, wait := c.Handshake("ip", 60)
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("61st handshake: ok=%v wait=%v, want refused with about 1s", ok, wait)
	}
	now = now.Add(time.Second)
	if ok, _ := c.Handshake("ip", 60); !ok {
		t.Fatal("bucket did not refill")
	}
	if ok, _ := c.Handshake("other", 60); !ok {
		t.Fatal("another IP shares the bucket")
	}
	now = now.Add(2 * time.Minute)
	c.Handshake("third", 60)
	if len(c.hs) != 1 {
		t.Fatalf("idle buckets kept: %d", len(c.hs))
	}
}

func TestCounterConcurrentIsExact(t *testing.T) {
	c := NewCounter()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				if c.AcquireIP("ip", 1<<20) {
					c.ReleaseIP("ip")
				}
				if c.AcquireUser("u", 4) {
					c.ReleaseUser("u")
				}
			}
		}()
	}
	wg.Wait()
	if ips, users := c.Size(); ips != 0 || users != 0 {
		t.Fatalf("counters not back to zero: %d ips, %d users", ips, users)
	}
}
