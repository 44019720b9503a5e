// Package hookcall calls the application backend's hooks for the server:
// it signs each request, bounds it (timeout, calls in flight, reply
// size, no redirects), decodes the reply strictly, and maps every failure
// to the hook's on_error decision, counting and logging it. It also
// queues and delivers the connect and disconnect notifications, with
// retries and backoff.
//
// It decides how a call is made and what a failed call means; what the
// server does with a decision (refuse the handshake, answer an error,
// publish the replaced data) is the server's.
package hookcall
