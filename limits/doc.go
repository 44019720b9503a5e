// Package limits decides whether a new connection may be opened: it counts
// the handshakes each client IP makes per minute and the connections open
// per IP and per user, against the limits the server passes in.
//
// Limiter is what the server asks during a handshake. Local counts on one
// node and is the server's default; broker/redis.Limiter and
// broker/nats.Limiter count on the cluster's broker, so that the limits
// hold across every node using it. Package limitstest is the conformance
// suite all of them pass.
//
// It does not decide the limits' values (the configuration does), the
// node's total of connections (the server's max_connections), the rate of
// messages on an open connection (the server's), or who may do what on a
// channel (package policy).
package limits
