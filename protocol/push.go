package protocol

import "github.com/go-json-experiment/json/jsontext"

// The pushes other than the welcome (Welcome, in reply.go), field by field:
// what a client decodes. Push is always the push's name from Pushes.

// PublicationPush is a publication of a subscribed channel.
type PublicationPush struct {
	Push    string         `json:"push"`
	Channel string         `json:"channel"`
	Offset  uint64         `json:"offset"`
	Epoch   string         `json:"epoch"`
	Data    jsontext.Value `json:"data"`
	Info    *ClientInfo    `json:"info,omitzero"` // none when the server itself published
}

// RefreshRequiredPush asks for a new token before ExpiresAt, unix
// milliseconds.
type RefreshRequiredPush struct {
	Push      string `json:"push"`
	ExpiresAt int64  `json:"expires_at"`
}

// SubscribePush says the server subscribed the connection to Channel on
// its own (a server-side subscription). The publications of Channel after
// Offset in Epoch follow, as after a subscribe reply. It lasts until an
// UnsubscribePush, the client's unsubscribe, or the end of the connection.
type SubscribePush struct {
	Push    string `json:"push"`
	Channel string `json:"channel"`
	Offset  uint64 `json:"offset"`
	Epoch   string `json:"epoch"`
}

// UnsubscribePush says the server ended a subscription, the client's or
// its own, for Reason (text for people).
type UnsubscribePush struct {
	Push    string `json:"push"`
	Channel string `json:"channel"`
	Reason  string `json:"reason"`
}

// JoinLeavePush lists clients that subscribed to Channel (Push "join") or
// left it (Push "leave"), on a channel whose rule asks for join_leave. It
// goes only to subscribers that may read the channel's presence, never
// names the receiving connection itself, and lists at most
// limits.join_leave_max_clients entries.
type JoinLeavePush struct {
	Push    string          `json:"push"`
	Channel string          `json:"channel"`
	Clients []PresenceEntry `json:"clients"`
}

// PresenceChangedPush says more clients joined or left Channel within
// limits.join_leave_window than a join or leave push may list: the
// receiver fetches presence again instead.
type PresenceChangedPush struct {
	Push    string `json:"push"`
	Channel string `json:"channel"`
}
