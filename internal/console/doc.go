// Package console is Rampart's web admin console: a page served on the
// admin listener that shows, live, the connections, rates and busiest
// channels of every node and the security events (refused handshakes,
// rate-limit and violation closes, expired tokens, slow consumers, panics),
// and lets an admin disconnect a user or a client and drain a node.
//
// It decides how an admin logs in (an API key, or a token with the admin
// role), how the session is kept (a bounded server-side store, an HttpOnly
// SameSite=Strict cookie, a CSRF token per session checked with the
// request's origin on every state-changing request), which log events are
// security events and how they are kept (a bounded ring and per-reason
// counters that count what the log's rate limiter drops), and what each
// node publishes on the reserved console channels.
//
// It does not decide who connects or what a connection may do: that is
// the server's, which it reaches through the small Server interface, and
// the live socket is a Rampart connection the server admits on the
// console's word. It reads no file and no environment variable; its pages
// are embedded and run under a strict Content-Security-Policy.
package console
