package client

import "github.com/rampart-rt/rampart/protocol"

// ReasonDisconnected is the reason OnUnsubscribed is given when a
// subscription the server made ends with its connection.
const ReasonDisconnected = "disconnected"

// serverSubscribed takes a subscribe push, on the reader of s: a
// subscription the server made, live from the push's position. It is
// announced to OnServerSubscribe before any of its publications, which
// are queued after the announcement. A push for a channel the client
// already subscribes to is ignored.
func (c *Client) serverSubscribed(s *session, p protocol.SubscribePush) {
	sub := &Subscription{c: c, channel: p.Channel, server: true, sess: s,
		pos: Position{Offset: p.Offset, Epoch: p.Epoch}, hasPos: true}
	c.mu.Lock()
	_, dup := c.subs[p.Channel]
	if !dup {
		c.subs[p.Channel] = sub
	}
	c.mu.Unlock()
	if dup {
		c.log.Warn("subscribe push for a channel already subscribed; ignored", "channel", p.Channel)
		return
	}
	c.log.Debug("subscribed by the server", "channel", p.Channel, "offset", p.Offset)
	c.enqueue(sub.announce)
}

// announce asks OnServerSubscribe for the handlers, on the handlers'
// goroutine.
func (sub *Subscription) announce() {
	on := sub.c.cfg.OnServerSubscribe
	if on == nil || sub.stopped.Load() {
		return
	}
	h, opts := on(sub)
	sub.onPub = h
	for _, o := range opts {
		o(sub)
	}
}

// endServerSubscriptions ends the subscriptions the server made on s, which
// ended: they do not outlive their connection.
func (c *Client) endServerSubscriptions(s *session) {
	c.mu.Lock()
	var gone []*Subscription
	for _, sub := range c.subs {
		if sub.server && sub.sess == s {
			gone = append(gone, sub)
		}
	}
	c.mu.Unlock()
	for _, sub := range gone {
		sub.end(ReasonDisconnected)
	}
}
