package limits

import (
	"context"
	"time"
)

// Limiter enforces the connection limits: handshakes per IP per minute and
// open connections per IP and per user. It is safe for concurrent use.
//
// Every Acquire that returns true is matched by one Release of the same key
// on the same Limiter. A Release with nothing held under its key on this
// Limiter is ignored: a count never goes below zero and never gives back a
// slot that another key, the other kind (IP or user) or another node holds.
//
// Handshake and the Acquires return an error, and take nothing, when ctx is
// done or the limiter cannot count (its backend does not answer); the
// caller then refuses the connection, so the limits fail closed. Releases
// do not take a context: each is bounded by the implementation's own
// timeout, and a slot it could not give back is freed by the backend later
// (a lease running out).
type Limiter interface {
	// Handshake takes one handshake from ip's token bucket, which holds
	// perMinute handshakes and refills at perMinute a minute (less than 1
	// counts as 1). When the bucket is empty it returns false and how long
	// until the next handshake is allowed: more than 0, at most a minute
	// divided by perMinute.
	Handshake(ctx context.Context, ip string, perMinute int) (ok bool, retryAfter time.Duration, err error)
	// AcquireIP counts one more open connection from ip, unless max are
	// already counted (max 0 or less: always refused).
	AcquireIP(ctx context.Context, ip string, max int) (bool, error)
	// ReleaseIP counts one connection from ip closed.
	ReleaseIP(ip string)
	// AcquireUser counts one more open connection of user, unless max are
	// already counted (max 0 or less: always refused).
	AcquireUser(ctx context.Context, user string, max int) (bool, error)
	// ReleaseUser counts one connection of user closed.
	ReleaseUser(user string)
}
