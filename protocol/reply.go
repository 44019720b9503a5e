package protocol

import (
	"strconv"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Error is the error object of an error reply, and the error the
// server-side Go API returns. errors.Is(err, CodeForbidden) tells its code.
type Error struct {
	Code         Code   `json:"code"`
	Message      string `json:"message"`
	RequestID    string `json:"request_id"`
	RetryAfterMS int64  `json:"retry_after_ms,omitzero"`

	// Cause is what failed inside the server (a broker's error), for the
	// server's own log and the embedding program; it never reaches a
	// client.
	Cause error `json:"-"`
}

func (e *Error) Error() string {
	if e.Message == "" {
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Message
}

// Is reports whether target is e's Code.
func (e *Error) Is(target error) bool {
	c, ok := target.(Code)
	return ok && c == e.Code
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Publication is one message in a channel, as clients see it.
type Publication struct {
	Offset uint64         `json:"offset"`
	Data   jsontext.Value `json:"data"`
	Info   *ClientInfo    `json:"info,omitzero"`
}

// ClientInfo says who published.
type ClientInfo struct {
	User   string `json:"user"`
	Client string `json:"client,omitzero"`
}

// Welcome is the first frame after the upgrade.
type Welcome struct {
	Push      string        `json:"push"`
	Client    string        `json:"client"`
	User      string        `json:"user"`
	ExpiresAt int64         `json:"expires_at"`
	Limits    WelcomeLimits `json:"limits"`
}

// WelcomeLimits tells the client what it may send, and how often it will
// hear from the server: the server pings a connection it has heard nothing
// from for PingIntervalMS and drops it when no pong comes within
// PongTimeoutMS, so a client that has received nothing for longer than
// their sum (plus the network's delay) can count the connection lost.
// Both are 0 from a server that does not announce them.
type WelcomeLimits struct {
	MaxMessageBytes   int   `json:"max_message_bytes"`
	MessagesPerMinute int   `json:"messages_per_minute"`
	PingIntervalMS    int64 `json:"ping_interval_ms"`
	PongTimeoutMS     int64 `json:"pong_timeout_ms"`
}

// Push names.
const (
	PushWelcome         = "welcome"
	PushPublication     = "publication"
	PushRefreshRequired = "refresh_required"
	PushSubscribe       = "subscribe"        // the server subscribed the connection
	PushUnsubscribe     = "unsubscribe"      // the server ended a subscription
	PushJoin            = "join"             // clients subscribed to a channel whose rule asks for join_leave
	PushLeave           = "leave"            // clients unsubscribed from it
	PushPresenceChanged = "presence_changed" // too many joined or left at once: fetch presence again
)

// Pushes lists every push, in the order the protocol documents them.
var Pushes = []string{PushWelcome, PushPublication, PushRefreshRequired, PushSubscribe, PushUnsubscribe,
	PushJoin, PushLeave, PushPresenceChanged}

// EncodeResult encodes the reply {"id": id, "result": result}.
func EncodeResult(id uint64, result any) ([]byte, error) {
	body, err := json.Marshal(result)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(body)+32)
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, `,"result":`...)
	b = append(b, body...)
	return append(b, '}'), nil
}

// EncodeError encodes the reply {"id": id, "error": e}; id 0 is left out
// (the frame had no readable id).
func EncodeError(id uint64, e Error) []byte {
	body, _ := json.Marshal(e) // strings and ints only: cannot fail
	b := make([]byte, 0, len(body)+32)
	b = append(b, '{')
	if id != 0 {
		b = append(b, `"id":`...)
		b = strconv.AppendUint(b, id, 10)
		b = append(b, ',')
	}
	b = append(b, `"error":`...)
	b = append(b, body...)
	return append(b, '}')
}

// EncodePublication encodes a publication push. It runs once per
// publication; every subscriber gets the same bytes.
func EncodePublication(channel string, offset uint64, epoch string, data []byte, user string) []byte {
	b := make([]byte, 0, len(data)+len(channel)+len(epoch)+len(user)+96)
	b = append(b, `{"push":"publication","channel":`...)
	b, _ = jsontext.AppendQuote(b, channel)
	b = append(b, `,"offset":`...)
	b = strconv.AppendUint(b, offset, 10)
	b = append(b, `,"epoch":`...)
	b, _ = jsontext.AppendQuote(b, epoch)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	if user == "" { // published by the server itself
		return append(b, '}')
	}
	b = append(b, `,"info":{"user":`...)
	b, _ = jsontext.AppendQuote(b, user)
	return append(b, `}}`...)
}

// EncodeRefreshRequired encodes the push sent before a token expires.
func EncodeRefreshRequired(expiresAtMS int64) []byte {
	b := append([]byte(nil), `{"push":"refresh_required","expires_at":`...)
	b = strconv.AppendInt(b, expiresAtMS, 10)
	return append(b, '}')
}

// EncodeSubscribe encodes the push sent when the server subscribes a
// connection: publications of channel after offset, in epoch, follow.
func EncodeSubscribe(channel string, offset uint64, epoch string) []byte {
	b := append([]byte(nil), `{"push":"subscribe","channel":`...)
	b, _ = jsontext.AppendQuote(b, channel)
	b = append(b, `,"offset":`...)
	b = strconv.AppendUint(b, offset, 10)
	b = append(b, `,"epoch":`...)
	b, _ = jsontext.AppendQuote(b, epoch)
	return append(b, '}')
}

// EncodeUnsubscribe encodes the push sent when the server ends a
// subscription on its own.
func EncodeUnsubscribe(channel, reason string) []byte {
	b := append([]byte(nil), `{"push":"unsubscribe","channel":`...)
	b, _ = jsontext.AppendQuote(b, channel)
	b = append(b, `,"reason":`...)
	b, _ = jsontext.AppendQuote(b, reason)
	return append(b, '}')
}

// EncodeJoinLeave encodes a join or leave push (push is PushJoin or
// PushLeave) listing clients.
func EncodeJoinLeave(push, channel string, clients []PresenceEntry) []byte {
	b := make([]byte, 0, 64+len(channel)+len(clients)*48)
	b = append(b, `{"push":`...)
	b, _ = jsontext.AppendQuote(b, push)
	b = append(b, `,"channel":`...)
	b, _ = jsontext.AppendQuote(b, channel)
	b = append(b, `,"clients":[`...)
	for i, e := range clients {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"user":`...)
		b, _ = jsontext.AppendQuote(b, e.User)
		b = append(b, `,"client":`...)
		b, _ = jsontext.AppendQuote(b, e.Client)
		b = append(b, '}')
	}
	return append(b, `]}`...)
}

// EncodePresenceChanged encodes the push that replaces join and leave
// pushes when more clients changed at once than one push may list.
func EncodePresenceChanged(channel string) []byte {
	b := append([]byte(nil), `{"push":"presence_changed","channel":`...)
	b, _ = jsontext.AppendQuote(b, channel)
	return append(b, '}')
}
