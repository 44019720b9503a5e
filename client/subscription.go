package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/rampart-rt/rampart/protocol"
)

// Subscription is a live subscription to one channel. It survives
// reconnects: the client subscribes again and recovers what was missed.
type Subscription struct {
	c       *Client
	channel string
	onPub   func(Publication)
	onLost  func(lost, now Position)
	onEnd   func(reason string)
	stopped atomic.Bool // set by Unsubscribe or when the server ended it: no handler runs after

	sess *session // the connection subscribe was last sent on; guarded by c.mu

	mu     sync.Mutex // guards pos and hasPos; taken after c.mu
	pos    Position   // of the last publication queued for the handler
	hasPos bool
}

// SubscribeOption configures a subscription.
type SubscribeOption func(*Subscription)

// OnRecoveryFailed sets f to be told when a reconnect could not recover the
// publications missed (the server answered recovered: false): those after
// lost were skipped, and delivery goes on after now. f is called in order
// with the publications, on the handlers' goroutine. Without it the loss is
// only logged.
func OnRecoveryFailed(f func(lost, now Position)) SubscribeOption {
	return func(s *Subscription) { s.onLost = f }
}

// OnUnsubscribed sets f to be told when the server ends the subscription
// (an unsubscribe push, or a refused subscribe after a reconnect). No
// handler of the subscription runs after f.
func OnUnsubscribed(f func(reason string)) SubscribeOption {
	return func(s *Subscription) { s.onEnd = f }
}

// Subscribe subscribes to channel; h is called for every publication, in
// offset order, never twice for the same offset (see the package doc). An
// error reply is an *Error.
func (c *Client) Subscribe(ctx context.Context, channel string, h func(Publication), opts ...SubscribeOption) (*Subscription, error) {
	if h == nil {
		return nil, errors.New("client: Subscribe needs a handler")
	}
	sub := &Subscription{c: c, channel: channel, onPub: h}
	for _, o := range opts {
		o(sub)
	}
	c.mu.Lock()
	_, dup := c.subs[channel]
	c.mu.Unlock()
	if dup {
		return nil, fmt.Errorf("%w to %q", ErrAlreadySubscribed, channel)
	}
	s, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.roundTrip(ctx, sub.command(), sub.onSubscribed); err != nil {
		return nil, err
	}
	return sub, nil
}

// Channel returns the subscription's channel.
func (sub *Subscription) Channel() string { return sub.channel }

// Position returns the position of the last publication handed to the
// handler (or the channel's position when subscribing, before any).
func (sub *Subscription) Position() Position {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.pos
}

// Unsubscribe ends the subscription: no handler of it starts after
// Unsubscribe returns. When the connection is down there is nothing to
// tell the server, and it returns nil.
func (sub *Subscription) Unsubscribe(ctx context.Context) error {
	sub.stopped.Store(true)
	c := sub.c
	c.mu.Lock()
	mine := c.subs[sub.channel] == sub
	if mine {
		delete(c.subs, sub.channel)
	}
	s := sub.sess
	c.mu.Unlock()
	if !mine || s == nil {
		return nil
	}
	_, err := s.roundTrip(ctx, protocol.Command{Action: protocol.ActionUnsubscribe, Channel: sub.channel}, nil)
	var e *Error
	switch {
	case errors.Is(err, ErrDisconnected):
		return nil // the server forgot it with the connection
	case errors.As(err, &e) && e.Code == protocol.CodeNotFound:
		return nil
	}
	return err
}

// command is the subscribe command, with since once a position is known.
func (sub *Subscription) command() protocol.Command {
	cmd := protocol.Command{Action: protocol.ActionSubscribe, Channel: sub.channel}
	sub.mu.Lock()
	if sub.hasPos {
		cmd.Since = &protocol.Since{Offset: sub.pos.Offset, Epoch: sub.pos.Epoch}
	}
	sub.mu.Unlock()
	return cmd
}

type subscribeResult struct {
	Offset       uint64            `json:"offset"`
	Epoch        string            `json:"epoch"`
	Recovered    bool              `json:"recovered"`
	Publications []wirePublication `json:"publications"`
}

// onSubscribed handles the reply to subscribe, on the reader of s, before
// any publication that follows it.
func (sub *Subscription) onSubscribed(s *session, result json.RawMessage, err error, abandoned bool) {
	if err != nil {
		sub.refused(s, err)
		return
	}
	var res subscribeResult
	if err := json.Unmarshal(result, &res); err != nil {
		sub.c.log.Error("subscribe result unreadable", "channel", sub.channel, "error", err.Error())
		return
	}
	c := sub.c
	c.mu.Lock()
	cur := c.subs[sub.channel]
	keep := !abandoned && !sub.stopped.Load() && (cur == nil || cur == sub)
	if keep {
		c.subs[sub.channel], sub.sess = sub, s
	}
	c.mu.Unlock()
	if !keep { // nobody wants it any more: do not leave it on the server
		s.sendAsync(protocol.Command{Action: protocol.ActionUnsubscribe, Channel: sub.channel})
		return
	}
	sub.apply(&res)
}

// refused handles an error reply to subscribe. A first subscribe just
// fails (Subscribe returns the error); a subscribe again after a reconnect
// drops the connection on a transient error, to try again after a backoff,
// and ends the subscription otherwise.
func (sub *Subscription) refused(s *session, err error) {
	c := sub.c
	c.mu.Lock()
	again := c.subs[sub.channel] == sub
	c.mu.Unlock()
	if !again {
		return
	}
	var e *Error
	if errors.As(err, &e) {
		switch e.Code {
		case protocol.CodeUnavailable, protocol.CodeInternal, protocol.CodeRateLimited:
			c.log.Warn("subscribe again failed; reconnecting", "channel", sub.channel, "error", err.Error())
			_ = s.ws.WriteClose(protocol.CloseNormal, nil)
			return
		}
	}
	c.log.Warn("subscribe again refused; subscription ended", "channel", sub.channel, "error", err.Error())
	sub.end(err.Error())
}

// apply takes the subscribe result: the position, and the publications
// recovered or the loss.
func (sub *Subscription) apply(res *subscribeResult) {
	now := Position{Offset: res.Offset, Epoch: res.Epoch}
	var deliver []Publication
	sub.mu.Lock()
	lost, recovering := sub.pos, sub.hasPos
	if recovering && res.Recovered {
		for _, p := range res.Publications {
			if pub := p.publication(sub.channel, res.Epoch); sub.advance(pub) {
				deliver = append(deliver, pub)
			}
		}
	}
	sub.pos, sub.hasPos = now, true
	sub.mu.Unlock()
	if recovering && res.Recovered {
		sub.c.log.Debug("subscribed again", "channel", sub.channel, "recovered", len(deliver), "offset", now.Offset)
	}
	for _, pub := range deliver {
		sub.c.enqueue(func() { sub.handle(pub) })
	}
	if recovering && !res.Recovered {
		sub.c.log.Warn("publications missed could not be recovered", "channel", sub.channel,
			"lost_offset", lost.Offset, "lost_epoch", lost.Epoch, "offset", now.Offset, "epoch", now.Epoch)
		if sub.onLost != nil {
			sub.c.enqueue(func() {
				if !sub.stopped.Load() {
					sub.onLost(lost, now)
				}
			})
		}
	}
}

// receive takes a live publication, on the reader.
func (sub *Subscription) receive(pub Publication) {
	sub.mu.Lock()
	ok := sub.advance(pub)
	sub.mu.Unlock()
	if ok {
		sub.c.enqueue(func() { sub.handle(pub) })
	}
}

// advance moves the position to pub and reports whether pub is new.
// sub.mu is held.
func (sub *Subscription) advance(pub Publication) bool {
	if sub.hasPos && pub.Epoch == sub.pos.Epoch {
		if pub.Offset <= sub.pos.Offset {
			return false
		}
		if pub.Offset != sub.pos.Offset+1 {
			sub.c.log.Warn("gap in publications", "channel", sub.channel, "after", sub.pos.Offset, "got", pub.Offset)
		}
	}
	sub.pos, sub.hasPos = Position{Offset: pub.Offset, Epoch: pub.Epoch}, true
	return true
}

func (sub *Subscription) handle(pub Publication) {
	if !sub.stopped.Load() {
		sub.onPub(pub)
	}
}

// end removes the subscription because the server ended it, and tells
// onEnd after the publications already queued.
func (sub *Subscription) end(reason string) {
	c := sub.c
	c.mu.Lock()
	if c.subs[sub.channel] == sub {
		delete(c.subs, sub.channel)
	}
	c.mu.Unlock()
	c.enqueue(func() {
		if sub.stopped.CompareAndSwap(false, true) && sub.onEnd != nil {
			sub.onEnd(reason)
		}
	})
}
