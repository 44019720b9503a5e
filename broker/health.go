package broker

import "context"

// Pinger is implemented by a broker (or a connection limiter) that can tell
// whether its backend answers. A server reports itself unready while a
// Ping fails: it could not serve the clients a load balancer sends it.
type Pinger interface {
	// Ping returns nil when the backend answered within ctx.
	Ping(ctx context.Context) error
}
