package rampart

import (
	"context"
	"time"

	"github.com/rampart-rt/rampart/policy"
)

// Limiter enforces the connection limits: handshakes per IP per minute and
// open connections per IP and per user. The default counts on this node; a
// shared implementation (over the cluster's broker) makes the limits hold
// across nodes. Every Acquire that returns true is matched by one Release.
type Limiter interface {
	Handshake(ctx context.Context, ip string, perMinute int) (ok bool, retryAfter time.Duration, err error)
	AcquireIP(ctx context.Context, ip string, max int) (bool, error)
	ReleaseIP(ip string)
	AcquireUser(ctx context.Context, user string, max int) (bool, error)
	ReleaseUser(user string)
}

// localLimiter is the single-node Limiter.
type localLimiter struct{ c *policy.Counter }

func (l localLimiter) Handshake(_ context.Context, ip string, perMinute int) (bool, time.Duration, error) {
	ok, wait := l.c.Handshake(ip, perMinute)
	return ok, wait, nil
}

func (l localLimiter) AcquireIP(_ context.Context, ip string, max int) (bool, error) {
	return l.c.AcquireIP(ip, max), nil
}

func (l localLimiter) ReleaseIP(ip string) { l.c.ReleaseIP(ip) }

func (l localLimiter) AcquireUser(_ context.Context, user string, max int) (bool, error) {
	return l.c.AcquireUser(user, max), nil
}

func (l localLimiter) ReleaseUser(user string) { l.c.ReleaseUser(user) }
