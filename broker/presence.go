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

// PresenceEvent is a client joining or leaving a channel, told to every
// node that hears the channel.
type PresenceEvent struct {
	Channel string
	Leave   bool // false: a join
	Entry   PresenceEntry
}

// PresenceEventHandler receives the presence events of the channels a
// node subscribed to. It must not block.
type PresenceEventHandler func(PresenceEvent)

// PresenceEvents carries presence events between the nodes subscribed to
// a channel, next to its publications. Delivery is at most once and in no
// set order with the channel's publications; nothing is kept, so a node
// subscribing later hears only later events.
type PresenceEvents interface {
	// HandlePresenceEvents sets the handler; it is called once, before
	// Run.
	HandlePresenceEvents(h PresenceEventHandler)
	// PublishPresenceEvent delivers e to every node subscribed to
	// e.Channel, this one included.
	PublishPresenceEvent(ctx context.Context, e PresenceEvent) error
}
