package limits

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Local is the Limiter of a single node: it counts in memory what this
// process sees, so with several nodes each enforces the limits on its own.
// Create it with NewLocal; it needs no Close.
type Local struct {
	hs handshakes

	mu    sync.Mutex     // guards ips and users; never held with hs.mu
	ips   map[string]int // open connections per IP, only keys above zero
	users map[string]int // open connections per user, only keys above zero
}

// NewLocal returns a Local with nothing counted.
func NewLocal() *Local {
	return &Local{
		hs:    newHandshakes(maxBuckets),
		ips:   make(map[string]int),
		users: make(map[string]int),
	}
}

// Handshake takes one handshake from ip's bucket.
func (l *Local) Handshake(ctx context.Context, ip string, perMinute int) (bool, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, fmt.Errorf("limits: handshake: %w", err)
	}
	ok, wait := l.hs.take(time.Now(), ip, perMinute)
	return ok, wait, nil
}

// AcquireIP counts one more open connection from ip unless it has max.
func (l *Local) AcquireIP(ctx context.Context, ip string, max int) (bool, error) {
	return l.acquire(ctx, l.ips, ip, max)
}

// ReleaseIP counts one connection from ip closed.
func (l *Local) ReleaseIP(ip string) { l.release(l.ips, ip) }

// AcquireUser counts one more open connection of user unless it has max.
func (l *Local) AcquireUser(ctx context.Context, user string, max int) (bool, error) {
	return l.acquire(ctx, l.users, user, max)
}

// ReleaseUser counts one connection of user closed.
func (l *Local) ReleaseUser(user string) { l.release(l.users, user) }

func (l *Local) acquire(ctx context.Context, m map[string]int, key string, max int) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("limits: acquire: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if m[key] >= max {
		return false, nil
	}
	m[key]++
	return true, nil
}

func (l *Local) release(m map[string]int, key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch n := m[key]; {
	case n > 1:
		m[key] = n - 1
	case n == 1:
		delete(m, key)
	}
}

// Size returns how many IPs and how many users have connections counted
// (for tests and metrics: both are zero when nothing is open).
func (l *Local) Size() (ips, users int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ips), len(l.users)
}
