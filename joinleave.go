package rampart

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/internal/hub"
	"github.com/rampart-rt/rampart/internal/joinleave"
	"github.com/rampart-rt/rampart/policy"
	"github.com/rampart-rt/rampart/protocol"
)

// Join and leave pushes: the node where a client subscribes or leaves a
// channel whose rule says join_leave publishes a presence event through
// the broker; every node that hears the channel (this one too) folds the
// events it hears into one batch per channel per limits.join_leave_window
// (joinleave.Coalescer), and pushes each batch to its local subscribers
// that may read the channel's presence, leaving out of each push the
// receiving connection itself.

// startJoinLeave makes the coalescer and hands it the broker's events.
// Called by New before the broker runs.
func (s *Server) startJoinLeave() {
	s.events, _ = s.broker.(broker.PresenceEvents)
	if s.events == nil {
		return
	}
	s.joinLeave = joinleave.New(func() (time.Duration, int) {
		l := s.st().cfg.Limits
		return l.JoinLeaveWindow, l.JoinLeaveMaxClients
	}, s.pushJoinLeave)
	s.events.HandlePresenceEvents(s.heardPresenceEvent)
}

// checkJoinLeave refuses rules asking for join_leave when the broker
// carries no presence events (a broker of the program's own).
func (s *Server) checkJoinLeave(rules []policy.Rule) error {
	if s.events != nil {
		return nil
	}
	var errs []error
	for i, r := range rules {
		if r.JoinLeave {
			errs = append(errs, fmt.Errorf("channels[%d].join_leave: the broker (%T) does not carry presence events", i, s.broker))
		}
	}
	return errors.Join(errs...)
}

// announce publishes sb's join or leave, when its rule asked for them.
func (s *Server) announce(c *conn, sb hub.Sub, leave bool) {
	if !sb.JoinLeave || s.events == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	defer cancel()
	e := broker.PresenceEvent{Channel: sb.Channel, Leave: leave,
		Entry: broker.PresenceEntry{User: c.identityClaims().Subject, Client: c.id}}
	if err := s.events.PublishPresenceEvent(ctx, e); err != nil {
		s.brokerFailed("presence_event", err)
	}
}

// heardPresenceEvent is the broker's handler for presence events: an
// event for a channel whose rule (here, now) does not ask for join_leave
// is dropped. It does not block.
func (s *Server) heardPresenceEvent(e broker.PresenceEvent) {
	defer s.containBackground("presence_event")
	if r := s.serverRule(e.Channel); r == nil || !r.Presence || !r.JoinLeave {
		return
	}
	s.joinLeave.Add(e)
}

// pushJoinLeave sends one batch to the channel's local subscribers that
// may read its presence. A subscriber named in the batch gets a push
// without itself.
func (s *Server) pushJoinLeave(b joinleave.Batch) {
	defer s.containBackground("join_leave")
	subs := s.hub.Live(b.Channel)
	if len(subs) == 0 {
		return
	}
	var frames []jlFrame
	named := map[string]bool{}
	if b.Overflow {
		frames = []jlFrame{{protocol.PushPresenceChanged, protocol.EncodePresenceChanged(b.Channel)}}
	} else {
		frames = joinLeaveFrames(b, "")
		for _, e := range append(b.Leaves, b.Joins...) {
			named[e.Client] = true
		}
	}
	sent := map[string]int{}
	for _, c := range subs {
		if !c.mayReadPresence(b.Channel) {
			continue
		}
		fs := frames
		if named[c.id] {
			fs = joinLeaveFrames(b, c.id)
		}
		for _, f := range fs {
			if c.send(f.data) {
				sent[f.push]++
			}
		}
	}
	for push, n := range sent {
		s.metrics.JoinLeave.WithLabelValues(push).Add(float64(n))
	}
}

// jlFrame is an encoded join, leave or presence_changed push.
type jlFrame struct {
	push string
	data []byte
}

// containBackground is deferred by the server's own callbacks: a panic is
// logged and counted, and the goroutine that called goes on.
func (s *Server) containBackground(where string) {
	if p := recover(); p != nil {
		s.panicked(p, where, "", "")
	}
}

// joinLeaveFrames encodes b's leave push, then its join push, leaving out
// the client self and any push left empty.
func joinLeaveFrames(b joinleave.Batch, self string) []jlFrame {
	var out []jlFrame
	for _, part := range []struct {
		push    string
		entries []broker.PresenceEntry
	}{{protocol.PushLeave, b.Leaves}, {protocol.PushJoin, b.Joins}} {
		list := make([]protocol.PresenceEntry, 0, len(part.entries))
		for _, e := range part.entries {
			if e.Client != self {
				list = append(list, protocol.PresenceEntry{User: e.User, Client: e.Client})
			}
		}
		if len(list) > 0 {
			out = append(out, jlFrame{part.push, protocol.EncodeJoinLeave(part.push, b.Channel, list)})
		}
	}
	return out
}

// mayReadPresence reports whether c may hear who joins and leaves
// channel now: the rule still keeps presence and asks for join_leave, and
// c may read presence there.
func (c *conn) mayReadPresence(channel string) bool {
	rule, e := c.allowPresence(channel)
	return e == nil && rule.Presence && rule.JoinLeave
}

// allowPresence is allowRead for presence: the rule's presence_roles
// apply too, except to a connection the server subscribed to the channel
// (whose reads the server's decision covers, as for history).
func (c *conn) allowPresence(channel string) (*policy.Rule, *cmdError) {
	if c.serverSubscribed(channel) {
		if rule := c.s.serverRule(channel); rule != nil {
			return rule, nil
		}
	}
	rule, e := c.allow(policy.Subscribe, channel)
	if e != nil {
		return nil, e
	}
	if !rule.MayReadPresence(c.identity()) {
		return nil, errForbidden("rule " + rule.Pattern + " does not grant presence to this user")
	}
	return rule, nil
}
