package protocol

import "github.com/go-json-experiment/json/jsontext"

// The HTTP API's request and response bodies (POST and GET /api/...).

// APIPublish is the body of POST /api/publish.
type APIPublish struct {
	Channel        string         `json:"channel"`
	Data           jsontext.Value `json:"data"`
	IdempotencyKey string         `json:"idempotency_key"`
}

// APIPublishResult answers POST /api/publish.
type APIPublishResult struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// APIBroadcast is the body of POST /api/broadcast: one publication to many
// channels. IdempotencyKey applies per channel.
type APIBroadcast struct {
	Channels       []string       `json:"channels"`
	Data           jsontext.Value `json:"data"`
	IdempotencyKey string         `json:"idempotency_key"`
}

// MaxBroadcastChannels bounds the channels of one broadcast.
const MaxBroadcastChannels = 1000

// BroadcastResult is one channel's outcome in a broadcast: its position, or
// the error code that kept it from being published.
type BroadcastResult struct {
	Channel string `json:"channel"`
	Offset  uint64 `json:"offset,omitzero"`
	Epoch   string `json:"epoch,omitzero"`
	Error   Code   `json:"error,omitzero"`
}

// APIBroadcastResult answers POST /api/broadcast, one result per channel,
// in the request's order.
type APIBroadcastResult struct {
	Results []BroadcastResult `json:"results"`
}

// APIDisconnect is the body of POST /api/disconnect: close every connection
// of User (or the one connection Client) with Code (4000-4999; default
// 4000) and Reason (at most MaxCloseReasonBytes).
type APIDisconnect struct {
	User   string `json:"user"`
	Client string `json:"client,omitzero"`
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

// APIDisconnectResult answers POST /api/disconnect.
type APIDisconnectResult struct {
	Disconnected int `json:"disconnected"`
}

// APISubscribe is the body of POST /api/subscribe and /api/unsubscribe:
// subscribe (or unsubscribe) every connection of User, or the one
// connection Client, to Channel.
type APISubscribe struct {
	User    string `json:"user"`
	Client  string `json:"client,omitzero"`
	Channel string `json:"channel"`
}

// APISubscribeResult answers POST /api/subscribe and /api/unsubscribe: how
// many connections it changed.
type APISubscribeResult struct {
	Connections int `json:"connections"`
}

// APIError is the body of every refused HTTP request, the API's and the
// handshake's: a code and the request id to quote (the server's log has
// the rest under it).
type APIError struct {
	Error     Code   `json:"error"`
	RequestID string `json:"request_id"`
}

// Application close codes the HTTP API's disconnect may use.
const (
	MinApplicationCloseCode = 4000
	MaxApplicationCloseCode = 4999
	MaxCloseReasonBytes     = 100 // the reason of a close frame sent on request
)

// PublishOptions are a server-side publish's options.
type PublishOptions struct {
	// IdempotencyKey makes a retry safe: the same key on the same channel
	// within two minutes publishes once, and the repeat is answered with
	// the first one's position. Empty: no key. When set, 1 to
	// MaxIdempotencyKeyLength characters of A-Z a-z 0-9 _ . : @ -.
	IdempotencyKey string
}

// Target names the connections a server-side call acts on: every
// connection of User, or the one connection Client (the id its welcome
// push carried). Exactly one of them is set.
type Target struct {
	User   string
	Client string
}
