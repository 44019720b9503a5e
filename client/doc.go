// Package client is a Go client for a Rampart server: it dials with a token,
// subscribes to channels, publishes, reads history and presence, calls RPC
// methods, renews its token when the server asks, and reconnects on its own,
// recovering every publication it missed.
//
// # Delivery
//
// A subscription's handler is called in offset order, on one goroutine per
// Client, and never twice for the same offset. After a reconnect the client
// subscribes again with the position of the last publication it handed to the
// handler; when the server cannot recover what was missed (history too short,
// or the channel's epoch changed), the handler set with OnRecoveryFailed is
// told, in order with the publications. Handlers may call the Client, but a
// handler that blocks holds up every subscription: the incoming queue is
// bounded, and once it is full the client stops reading, so the server
// eventually closes the connection as a slow consumer (4009) and the client
// reconnects and recovers.
//
// # Reconnecting
//
// When the connection drops (no close frame, or close codes 1001, 1011,
// 1012, 1013, 1014, 4001, 4009) the client reconnects with jittered
// exponential backoff between Config.MinBackoff and Config.MaxBackoff, asking
// Config.Token for a token before every attempt. After 4029 (rate limit
// abuse) it waits at least RateLimitBackoff. Any other close code (1000,
// 1002, 1003, 1007, 1008, 1009, or a code it does not know) stops it for
// good: Done is closed and Err says why. A refused handshake while
// reconnecting stops it too, except 401 (a new token is fetched), 429 and
// 5xx (retried, honouring Retry-After).
//
// Commands sent when the connection drops before their reply fail with an
// error matching ErrDisconnected: the client cannot know whether the server
// ran them, so it never sends them again. Commands started while the client
// is reconnecting wait for the new connection, bounded by their context.
//
// The package decides how a Go program talks to a Rampart server. It does
// not decide what a token contains or how it is obtained (Config.Token does),
// nor what the server allows.
package client
