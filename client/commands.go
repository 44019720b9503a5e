package client

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/rampart-rt/rampart/protocol"
)

// Publication is one message of a channel.
type Publication struct {
	Channel string
	Offset  uint64 // per channel, strictly increasing by 1
	Epoch   string // changes when the channel's history was lost
	Data    json.RawMessage
	User    string // who published it, when the server says
}

// Position is a place in a channel's stream: the offset of its last
// publication and the channel's epoch.
type Position struct {
	Offset uint64
	Epoch  string
}

// PresenceEntry is one connection subscribed to a channel.
type PresenceEntry struct {
	User   string `json:"user"`
	Client string `json:"client"`
}

// History returns up to limit of channel's latest publications, oldest
// first, and the channel's position. limit 0 asks for the server's maximum.
func (c *Client) History(ctx context.Context, channel string, limit int) ([]Publication, Position, error) {
	cmd := protocol.Command{Action: protocol.ActionHistory, Channel: channel}
	if limit != 0 {
		cmd.Limit = &limit
	}
	var res protocol.HistoryResult
	if err := c.do(ctx, cmd, &res); err != nil {
		return nil, Position{}, err
	}
	return publications(channel, res.Epoch, res.Publications), Position{Offset: res.Offset, Epoch: res.Epoch}, nil
}

// Presence returns the connections subscribed to channel (only on channels
// whose rule keeps presence).
func (c *Client) Presence(ctx context.Context, channel string) ([]PresenceEntry, error) {
	var res protocol.PresenceResult
	if err := c.do(ctx, protocol.Command{Action: protocol.ActionPresence, Channel: channel}, &res); err != nil {
		return nil, err
	}
	out := make([]PresenceEntry, len(res.Clients))
	for i, e := range res.Clients {
		out[i] = PresenceEntry(e)
	}
	return out, nil
}

// RPC calls method on the server's RPC backend with data (encoded with
// encoding/json; nil sends none) and decodes the answer into out, unless
// out is nil.
func (c *Client) RPC(ctx context.Context, method string, data, out any) error {
	cmd := protocol.Command{Action: protocol.ActionRPC, Method: method}
	if data != nil {
		raw, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("client: rpc: encoding data: %w", err)
		}
		cmd.Data = raw
	}
	var res protocol.RPCResult
	if err := c.do(ctx, cmd, &res); err != nil {
		return err
	}
	if out == nil || len(res.Data) == 0 {
		return nil
	}
	if err := json.Unmarshal(res.Data, out); err != nil {
		return fmt.Errorf("client: rpc: decoding the answer: %w", err)
	}
	return nil
}

// Ping asks the server for an empty answer: a round trip on the current
// connection.
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, protocol.Command{Action: protocol.ActionPing}, nil)
}

// do runs cmd on the current connection (waiting for one while
// reconnecting) and decodes the result into out, unless out is nil.
func (c *Client) do(ctx context.Context, cmd protocol.Command, out any) error {
	s, err := c.current(ctx)
	if err != nil {
		return err
	}
	res, err := s.roundTrip(ctx, cmd, nil)
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(res, out); err != nil {
			return fmt.Errorf("client: %s: decoding the result: %w", cmd.Action, err)
		}
	}
	return nil
}

// publication is p, a publication of a result, as a Publication of
// channel in epoch.
func publication(channel, epoch string, p protocol.Publication) Publication {
	pub := Publication{Channel: channel, Offset: p.Offset, Epoch: epoch, Data: json.RawMessage(p.Data)}
	if p.Info != nil {
		pub.User = p.Info.User
	}
	return pub
}

// publications converts a result's publications, oldest first.
func publications(channel, epoch string, ps []protocol.Publication) []Publication {
	out := make([]Publication, len(ps))
	for i, p := range ps {
		out[i] = publication(channel, epoch, p)
	}
	return out
}

// onPush handles the push named name, whose whole frame is raw, on the
// reader of s. It fails when the push does not decode.
func (c *Client) onPush(s *session, name string, raw []byte) error {
	switch name {
	case protocol.PushPublication:
		return decodeThen(raw, func(p protocol.PublicationPush) {
			if sub := c.subscription(s, p.Channel); sub != nil {
				sub.receive(s, publication(p.Channel, p.Epoch, protocol.Publication{Offset: p.Offset, Data: p.Data, Info: p.Info}))
			}
		})
	case protocol.PushRefreshRequired:
		select {
		case c.refresh <- struct{}{}:
		default: // a refresh is already due
		}
	case protocol.PushSubscribe:
		return decodeThen(raw, func(p protocol.SubscribePush) { c.serverSubscribed(s, p) })
	case protocol.PushUnsubscribe:
		return decodeThen(raw, func(p protocol.UnsubscribePush) {
			if sub := c.subscription(s, p.Channel); sub != nil {
				sub.end("server: " + p.Reason)
			}
		})
	case protocol.PushJoin, protocol.PushLeave:
		return decodeThen(raw, func(p protocol.JoinLeavePush) { c.joinLeave(s, p) })
	case protocol.PushPresenceChanged:
		return decodeThen(raw, func(p protocol.PresenceChangedPush) { c.presenceChanged(s, p) })
	default:
		c.log.Debug("unknown push ignored", "push", name)
	}
	return nil
}

// decodeThen decodes raw into a T and hands it to f.
func decodeThen[T any](raw []byte, f func(T)) error {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	f(v)
	return nil
}

// subscription returns the subscription to channel that is live on s.
func (c *Client) subscription(s *session, channel string) *Subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sub := c.subs[channel]; sub != nil && sub.sess == s {
		return sub
	}
	return nil
}
