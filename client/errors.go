package client

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/rampart-rt/rampart/protocol"
)

var (
	// ErrClosed is returned by calls on a Client that was closed, or that
	// stopped reconnecting (Err then also says why).
	ErrClosed = errors.New("client: closed")
	// ErrDisconnected is returned by a call whose connection dropped before
	// the reply came. The server may or may not have run the command.
	ErrDisconnected = errors.New("client: connection lost before the reply")
	// ErrMessageTooBig is returned, before anything is sent, for a command
	// larger than the server's max_message_bytes (the server would close
	// the connection with 1009).
	ErrMessageTooBig = errors.New("client: message larger than the server accepts")
	// ErrAlreadySubscribed is returned by Subscribe for a channel this
	// Client already subscribes to.
	ErrAlreadySubscribed = errors.New("client: already subscribed")
)

// Error is an error reply from the server. Code is one of the protocol's
// codes; RequestID finds the server's log line for it.
type Error struct {
	Code       protocol.Code
	Message    string
	RequestID  string
	RetryAfter time.Duration // with protocol.CodeRateLimited: when to try again
}

func (e *Error) Error() string {
	return fmt.Sprintf("client: server answered %s: %s (request_id %s)", e.Code, e.Message, e.RequestID)
}

// CloseError says why a connection ended. Code 1006 means it ended without
// a close frame (the network dropped it).
type CloseError struct {
	Code   int
	Reason string
}

// CloseAbnormal is the code of a CloseError for a connection that ended
// without a close frame.
const CloseAbnormal = 1006

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("client: connection closed with %d", e.Code)
	}
	return fmt.Sprintf("client: connection closed with %d (%s)", e.Code, e.Reason)
}

// HandshakeError is a refused WebSocket handshake: the server answered
// with a plain HTTP status instead of upgrading.
type HandshakeError struct {
	StatusCode int           // 401: token refused, 403: origin or CSRF, 429 and 503: try later...
	Code       string        // the "error" field of the answer's body, when it could be read
	RequestID  string        // the answer's X-Request-Id
	RetryAfter time.Duration // the answer's Retry-After, or 0
}

// Temporary reports whether the refusal may heal by itself, so that the
// same attempt later may succeed: the server was busy or draining (503),
// or rate limited this client (429). A refused token (401) heals only with
// another token; the others (403 origin or CSRF, 400, 404, 426) only with
// another configuration.
func (e *HandshakeError) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

func (e *HandshakeError) Error() string {
	s := fmt.Sprintf("client: handshake refused with HTTP %d", e.StatusCode)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.RequestID != "" {
		s += " (request_id " + e.RequestID + ")"
	}
	return s
}
