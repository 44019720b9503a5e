package hooks

import "encoding/json"

// The hooks, the values of the Rampart-Hook header.
const (
	HookConnect   = "connect"
	HookSubscribe = "subscribe"
	HookPublish   = "publish"
	HookNotify    = "notify"
)

// The results a reply gives.
const (
	Allow = "allow"
	Deny  = "deny"
)

// ConnectRequest is the body of the connect hook, sent once the token is
// verified and before the connection is upgraded.
type ConnectRequest struct {
	RequestID string   `json:"request_id"` // the handshake's, as in Rampart's log
	User      string   `json:"user"`       // the token's sub
	Roles     []string `json:"roles"`      // the token's roles
	IP        string   `json:"ip"`
	Origin    string   `json:"origin,omitempty"`
	ExpiresAt int64    `json:"expires_at,omitempty"` // the token's exp, unix milliseconds
}

// ConnectReply is the connect hook's answer. Deny refuses the handshake
// with Code: "forbidden" (403, the default) or "unauthorized" (401).
// Allow may add roles to the token's (for the channel rules and the rpc
// methods) and set the connection's info, a JSON object (at most 4096
// bytes) that later hooks and notifications of the connection carry.
type ConnectReply struct {
	Result string          `json:"result"` // allow or deny
	Code   string          `json:"code,omitempty"`
	Roles  []string        `json:"roles,omitempty"`
	Info   json.RawMessage `json:"info,omitempty"`
}

// SubscribeRequest is the body of the subscribe hook, sent when the
// channel rules allow a client's subscribe.
type SubscribeRequest struct {
	RequestID string          `json:"request_id"`
	Client    string          `json:"client"`
	User      string          `json:"user"`
	Roles     []string        `json:"roles"`
	Info      json.RawMessage `json:"info,omitempty"`
	Channel   string          `json:"channel"`
}

// SubscribeReply is the subscribe hook's answer. Deny refuses the
// subscribe with Code: "forbidden" (the default), "not_found",
// "unauthorized", "bad_request" or "limit_exceeded".
type SubscribeReply struct {
	Result string `json:"result"`
	Code   string `json:"code,omitempty"`
}

// PublishRequest is the body of the publish hook, sent when the channel
// rules and the payload checks allow a client's publish.
type PublishRequest struct {
	RequestID string          `json:"request_id"`
	Client    string          `json:"client"`
	User      string          `json:"user"`
	Roles     []string        `json:"roles"`
	Info      json.RawMessage `json:"info,omitempty"`
	Channel   string          `json:"channel"`
	Data      json.RawMessage `json:"data"`
}

// PublishReply is the publish hook's answer. Deny refuses the publish
// with a code as SubscribeReply's. Allow with Data replaces the data
// before it is stored; the replacement goes through the channel's schema,
// sanitizing and size limit again.
type PublishReply struct {
	Result string          `json:"result"`
	Code   string          `json:"code,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// The events a notification reports.
const (
	EventConnect    = "connect"
	EventDisconnect = "disconnect"
)

// Event is the body of a notification. Delivery is at least once: a
// retried notification has the same ID, which the backend uses to
// deduplicate. Any 2xx answer acknowledges it; its body is not read.
type Event struct {
	ID         string          `json:"id"`    // unique per event
	Event      string          `json:"event"` // connect or disconnect
	Time       int64           `json:"time"`  // when it happened, unix milliseconds
	Client     string          `json:"client"`
	User       string          `json:"user"`
	IP         string          `json:"ip"`
	Info       json.RawMessage `json:"info,omitempty"`
	Code       int             `json:"code,omitempty"`        // disconnect: the close code, 0 when none
	Reason     string          `json:"reason,omitempty"`      // disconnect: the close reason
	DurationMS int64           `json:"duration_ms,omitempty"` // disconnect: how long the connection lived
}
