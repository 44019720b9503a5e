package broker

import (
	"context"
	"time"
)

// PresenceEntry is one connection subscribed to a channel.
type PresenceEntry struct {
	User   string `json:"user"`
	Client string `json:"client"`
}

// Presence keeps who is subscribed to the channels whose rule tracks it,
// across every node sharing the backend. Entries expire after their TTL
// unless added again, so a crashed node's entries vanish by themselves.
type Presence interface {
	AddPresence(ctx context.Context, channel string, e PresenceEntry, ttl time.Duration) error
	RemovePresence(ctx context.Context, channel, client string) error
	Presence(ctx context.Context, channel string) ([]PresenceEntry, error)
}
