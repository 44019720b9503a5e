package rampart

import (
	"context"
	"time"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/policy"
	"github.com/rampart-rt/rampart/protocol"
)

// Presence entries live presenceTTL unless the node that holds the
// connection adds them again; it does so every presenceTTL/3, so entries
// of a crashed node vanish within presenceTTL.
var presenceTTL = 60 * time.Second

func (s *Server) joinPresence(channel string, c *conn) {
	if s.presence == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	defer cancel()
	e := broker.PresenceEntry{User: c.identityClaims().Subject, Client: c.id}
	if err := s.presence.AddPresence(ctx, channel, e, presenceTTL); err != nil {
		s.brokerFailed("presence_add", err)
	}
}

func (s *Server) leavePresence(channel, client string) {
	if s.presence == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	defer cancel()
	if err := s.presence.RemovePresence(ctx, channel, client); err != nil {
		s.brokerFailed("presence_remove", err)
	}
}

// refreshPresence re-adds the entries of every tracked subscription.
func (s *Server) refreshPresence() {
	t := time.NewTicker(presenceTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			for _, c := range s.reg.snapshot() {
				for _, ch := range c.trackedChannels() {
					s.joinPresence(ch, c)
				}
			}
		}
	}
}

func (c *conn) trackedChannels() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, sb := range c.subs {
		if sb.Tracked {
			out = append(out, sb.Channel)
		}
	}
	return out
}

// presence answers who is subscribed, to those who may read presence
// (subscribe, and hold one of the rule's presence_roles if it lists any),
// on channels whose rule keeps presence.
func (c *conn) presence(cmd *protocol.Command) (any, *cmdError) {
	rule, e := c.allowPresence(cmd.Channel)
	if e != nil {
		return nil, e
	}
	clients, e := c.s.presenceOf(context.Background(), rule, cmd.Channel)
	if e != nil {
		return nil, e
	}
	return protocol.PresenceResult{Clients: clients}, nil
}

func (s *Server) presenceOf(ctx context.Context, rule *policy.Rule, channel string) ([]protocol.PresenceEntry, *cmdError) {
	if !rule.Presence || s.presence == nil {
		return nil, &cmdError{code: protocol.CodeNotFound, message: "presence is not kept on this channel"}
	}
	ctx, cancel := context.WithTimeout(ctx, brokerTimeout)
	defer cancel()
	clients, err := s.presence.Presence(ctx, channel)
	if err != nil {
		s.brokerFailed("presence", err)
		return nil, brokerError(err)
	}
	out := make([]protocol.PresenceEntry, len(clients))
	for i, e := range clients {
		out[i] = protocol.PresenceEntry{User: e.User, Client: e.Client}
	}
	return out, nil
}

func (s *Server) brokerFailed(op string, err error) {
	s.metrics.BrokerErrors.WithLabelValues(op).Inc()
	s.log.Warn("broker call failed", "event", "broker_error", "op", op, "error", err.Error())
}
