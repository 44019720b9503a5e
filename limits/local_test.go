package limits_test

import (
	"context"
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/rampart-rt/rampart/limits"
	"github.com/rampart-rt/rampart/limits/limitstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestLocal(t *testing.T) {
	limitstest.Run(t, func(*testing.T) limits.Limiter { return limits.NewLocal() })
}

// TestLocalSize: Size counts the IPs and users with connections open, and
// is back to zero once all are released.
func TestLocalSize(t *testing.T) {
	l := limits.NewLocal()
	ctx := t.Context()
	for _, ip := range []string{"10.0.0.1", "10.0.0.1", "10.0.0.2"} {
		if ok, err := l.AcquireIP(ctx, ip, 5); !ok || err != nil {
			t.Fatalf("AcquireIP(%q) = %v, %v", ip, ok, err)
		}
	}
	if ok, err := l.AcquireUser(ctx, "alice", 5); !ok || err != nil {
		t.Fatalf("AcquireUser = %v, %v", ok, err)
	}
	if ips, users := l.Size(); ips != 2 || users != 1 {
		t.Fatalf("Size = %d IPs, %d users; want 2 and 1", ips, users)
	}
	for _, ip := range []string{"10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.2"} {
		l.ReleaseIP(ip)
	}
	l.ReleaseUser("alice")
	if ips, users := l.Size(); ips != 0 || users != 0 {
		t.Fatalf("Size after every release = %d IPs, %d users; want none", ips, users)
	}
}

func ExampleLocal() {
	l := limits.NewLocal()
	ctx := context.Background()
	for range 3 {
		ok, _ := l.AcquireIP(ctx, "192.0.2.1", 2)
		fmt.Println("connection from 192.0.2.1 allowed:", ok)
	}
	l.ReleaseIP("192.0.2.1") // one of them closed
	ok, _ := l.AcquireIP(ctx, "192.0.2.1", 2)
	fmt.Println("after a close:", ok)
	// Output:
	// connection from 192.0.2.1 allowed: true
	// connection from 192.0.2.1 allowed: true
	// connection from 192.0.2.1 allowed: false
	// after a close: true
}
