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
	var res struct {
		Publications []wirePublication `json:"publications"`
		Offset       uint64            `json:"offset"`
		Epoch        string            `json:"epoch"`
	}
	if err := c.do(ctx, cmd, &res); err != nil {
		return nil, Position{}, err
	}
	pubs := make([]Publication, len(res.Publications))
	for i, p := range res.Publications {
		pubs[i] = p.publication(channel, res.Epoch)
	}
	return pubs, Position{Offset: res.Offset, Epoch: res.Epoch}, nil
}

// Presence returns the connections subscribed to channel (only on channels
// whose rule keeps presence).
func (c *Client) Presence(ctx context.Context, channel string) ([]PresenceEntry, error) {
	var res struct {
		Clients []PresenceEntry `json:"clients"`
	}
	err := c.do(ctx, protocol.Command{Action: protocol.ActionPresence, Channel: channel}, &res)
	return res.Clients, err
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
	var res struct {
		Data json.RawMessage `json:"data"`
	}
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

// wirePublication is a publication inside a result.
type wirePublication struct {
	Offset uint64          `json:"offset"`
	Data   json.RawMessage `json:"data"`
	Info   *wireInfo       `json:"info"`
}

func (p wirePublication) publication(channel, epoch string) Publication {
	pub := Publication{Channel: channel, Offset: p.Offset, Epoch: epoch, Data: p.Data}
	if p.Info != nil {
		pub.User = p.Info.User
	}
	return pub
}

// onPush handles a push, on the reader of s.
func (c *Client) onPush(s *session, f *frame) {
	switch f.Push {
	case protocol.PushPublication:
		pub := wirePublication{Offset: f.Offset, Data: f.Data, Info: f.Info}.publication(f.Channel, f.Epoch)
		if sub := c.subscription(s, f.Channel); sub != nil {
			sub.receive(s, pub)
		}
	case protocol.PushRefreshRequired:
		select {
		case c.refresh <- struct{}{}:
		default: // a refresh is already due
		}
	case protocol.PushUnsubscribe:
		if sub := c.subscription(s, f.Channel); sub != nil {
			sub.end("server: " + f.Reason)
		}
	default:
		c.log.Debug("unknown push ignored", "push", f.Push)
	}
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
