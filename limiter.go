package rampart

import "github.com/rampart-rt/rampart/limits"

// Limiter enforces the connection limits: handshakes per IP per minute and
// open connections per IP and per user. It is limits.Limiter, named here
// for Config.Limiter: nil there means limits.NewLocal, which counts on this
// node; broker/redis.Limiter and broker/nats.Limiter make the limits hold
// across every node sharing the broker.
type Limiter = limits.Limiter
