package policy

import (
	"sync"
	"time"
)

// Counter keeps the connection limits of one node: open connections per IP
// and per user, and the handshake rate per IP (a token bucket refilled at
// HandshakesPerMinute, holding as many). It is safe for concurrent use and
// exact: every successful Acquire is matched by one Release.
type Counter struct {
	mu    sync.Mutex // guards the maps
	ips   map[string]int
	users map[string]int
	hs    map[string]*bucket
	now   func() time.Time
	swept time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewCounter returns an empty counter.
func NewCounter() *Counter {
	return &Counter{ips: map[string]int{}, users: map[string]int{}, hs: map[string]*bucket{}, now: time.Now}
}

// Handshake takes one handshake from ip's bucket. When it is empty it
// returns false and how long until the next one.
func (c *Counter) Handshake(ip string, perMinute int) (bool, time.Duration) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(now, perMinute)
	rate := float64(perMinute) / float64(time.Minute)
	b := c.hs[ip]
	if b == nil {
		b = &bucket{tokens: float64(perMinute), at: now}
		c.hs[ip] = b
	}
	b.tokens = min(float64(perMinute), b.tokens+float64(now.Sub(b.at))*rate)
	b.at = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / rate)
	}
	b.tokens--
	return true, 0
}

// sweep forgets buckets that are full again, at most once a minute, so the
// map holds only IPs seen in the last minute or so.
func (c *Counter) sweep(now time.Time, perMinute int) {
	if now.Sub(c.swept) < time.Minute {
		return
	}
	c.swept = now
	for ip, b := range c.hs {
		if now.Sub(b.at) >= time.Minute || b.tokens >= float64(perMinute) {
			delete(c.hs, ip)
		}
	}
}

// AcquireIP counts one more open connection from ip unless it has max.
func (c *Counter) AcquireIP(ip string, max int) bool { return c.acquire(c.ips, ip, max) }

// ReleaseIP counts one connection from ip closed.
func (c *Counter) ReleaseIP(ip string) { c.release(c.ips, ip) }

// AcquireUser counts one more open connection of user unless it has max.
func (c *Counter) AcquireUser(user string, max int) bool { return c.acquire(c.users, user, max) }

// ReleaseUser counts one connection of user closed.
func (c *Counter) ReleaseUser(user string) { c.release(c.users, user) }

func (c *Counter) acquire(m map[string]int, key string, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m[key] >= max {
		return false
	}
	m[key]++
	return true
}

func (c *Counter) release(m map[string]int, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m[key] <= 1 {
		delete(m, key)
		return
	}
	m[key]--
}

// Size returns how many IPs and users have open connections (for tests
// and metrics: both are zero when nothing is open).
func (c *Counter) Size() (ips, users int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ips), len(c.users)
}
