package protocol

import (
	"github.com/go-json-experiment/json/jsontext"
)

// The results of the client's commands, as the "result" of a reply.

// SubscribeResult is the result of subscribe.
type SubscribeResult struct {
	Offset       uint64        `json:"offset"`
	Epoch        string        `json:"epoch"`
	Recovered    bool          `json:"recovered"`
	Publications []Publication `json:"publications"`
}

// PublishResult is the result of publish: where the publication was stored.
type PublishResult struct {
	Offset uint64 `json:"offset"`
}

// HistoryResult is the result of history (and the HTTP API's history).
type HistoryResult struct {
	Publications []Publication `json:"publications"`
	Offset       uint64        `json:"offset"`
	Epoch        string        `json:"epoch"`
}

// PresenceEntry is one subscribed connection in a presence result.
type PresenceEntry struct {
	User   string `json:"user"`
	Client string `json:"client"`
}

// PresenceResult is the result of presence (and the HTTP API's presence).
type PresenceResult struct {
	Clients []PresenceEntry `json:"clients"`
}

// RefreshResult is the result of refresh: the new token's expiry, unix
// milliseconds (0: never).
type RefreshResult struct {
	ExpiresAt int64 `json:"expires_at"`
}

// RPCResult is the result of rpc: the application backend's answer.
type RPCResult struct {
	Data jsontext.Value `json:"data"`
}
