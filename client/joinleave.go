package client

import "github.com/rampart-rt/rampart/protocol"

// presenceHandlers are a subscription's join and leave handlers. Of a
// subscription the server made, they are set on the handlers' goroutine,
// and read only there.
type presenceHandlers struct {
	onJoin, onLeave   func([]PresenceEntry)
	onPresenceChanged func()
}

// OnJoin sets f to be told of clients that subscribed to the channel, on a
// channel whose rule sets join_leave, when this client may read the
// channel's presence. Several may come at once (the server batches them
// per channel); this connection is never among them. f runs on the
// handlers' goroutine, in order with the publications. Joins and leaves
// are not recovered after a reconnect: read Presence again then.
func OnJoin(f func([]PresenceEntry)) SubscribeOption {
	return func(s *Subscription) { s.onJoin = f }
}

// OnLeave sets f to be told of clients that left the channel, as OnJoin.
func OnLeave(f func([]PresenceEntry)) SubscribeOption {
	return func(s *Subscription) { s.onLeave = f }
}

// OnPresenceChanged sets f to be told when more clients joined or left
// the channel at once than the server lists in a push: read Presence
// again for the whole picture.
func OnPresenceChanged(f func()) SubscribeOption {
	return func(s *Subscription) { s.onPresenceChanged = f }
}

// joinLeave takes a join or leave push, on the reader of s.
func (c *Client) joinLeave(s *session, p protocol.JoinLeavePush) {
	sub := c.subscription(s, p.Channel)
	if sub == nil {
		return
	}
	entries := make([]PresenceEntry, len(p.Clients))
	for i, e := range p.Clients {
		entries[i] = PresenceEntry(e)
	}
	leave := p.Push == protocol.PushLeave
	c.enqueue(func() {
		f := sub.onJoin
		if leave {
			f = sub.onLeave
		}
		if f != nil && !sub.stopped.Load() {
			f(entries)
		}
	})
}

// presenceChanged takes a presence_changed push, on the reader of s.
func (c *Client) presenceChanged(s *session, p protocol.PresenceChangedPush) {
	sub := c.subscription(s, p.Channel)
	if sub == nil {
		return
	}
	c.enqueue(func() {
		if f := sub.onPresenceChanged; f != nil && !sub.stopped.Load() {
			f()
		}
	})
}
