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

// Subscription is a live subscription to one channel. One made with
// Subscribe survives reconnects: the client subscribes again and recovers
// what was missed. One the server made (Config.OnServerSubscribe) ends
// with its connection.
type Subscription struct {
	c       *Client
	channel string
	server  bool // made by the server: a subscribe push
	// The handlers. Of a subscription the server made, they are set on
	// the handlers' goroutine, and read only there.
	onPub  func(Publication)
	onLost func(lost, now Position)
	onEnd  func(reason string)
	presenceHandlers
	stopped atomic.Bool // set by Unsubscribe or when the server ended it: no handler runs after

	sess *session // the connection subscribe was last sent on; guarded by c.mu

	// out is held from deciding what to hand the handlers to queueing it,
	// so that the reader and a gap's filler queue in offset order. It is
	// never held across a network round trip; taken before mu.
	out sync.Mutex

	mu     sync.Mutex // guards the fields below; taken after c.mu and out
	pos    Position   // of the last publication queued for the handler
	hasPos bool
	fill   *gapFill // while a gap is filled from history; live publications wait in it
}

// SubscribeOption configures a subscription.
type SubscribeOption func(*Subscription)

// OnRecoveryFailed sets f to be told when publications were missed and
// could not be recovered: those after lost, up to and including now, were
// skipped, and delivery goes on after now. That happens when
//   - a subscribe again after a reconnect is answered recovered: false
//     (history too short, or the channel's epoch changed): now is the
//     channel's position then;
//   - a gap in the live publications cannot be filled from history (it no
//     longer keeps them, the channel is in another epoch, the history
//     command failed, or more live publications arrived meanwhile than the
//     client holds): now is the last publication skipped;
//   - a live publication is of another epoch than the last one handed on
//     (the channel's history was reset): lost is the last position of the
//     old epoch, now the new epoch's position just before that publication.
//
// f is called in order with the publications, on the handlers' goroutine.
// Without it the loss is only logged.
func OnRecoveryFailed(f func(lost, now Position)) SubscribeOption {
	return func(s *Subscription) { s.onLost = f }
}

// OnUnsubscribed sets f to be told when the server ends the subscription:
// an unsubscribe push (reason "server: " and the push's reason), a
// refused subscribe after a reconnect (the error), or, for a subscription
// the server made, the end of its connection ("disconnected"). No handler
// of the subscription runs after f. Unsubscribe does not call it.
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
// handler, or where the last loss told to OnRecoveryFailed ended (or the
// channel's position when subscribing, before any).
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

// onSubscribed handles the reply to subscribe, on the reader of s, before
// any publication that follows it.
func (sub *Subscription) onSubscribed(s *session, result json.RawMessage, err error, abandoned bool) {
	if err != nil {
		sub.refused(s, err)
		return
	}
	var res protocol.SubscribeResult
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
// recovered or the loss. It ends a gap's filling left from the last
// connection: the result covers what the filler had not handed on.
func (sub *Subscription) apply(res *protocol.SubscribeResult) {
	now := Position{Offset: res.Offset, Epoch: res.Epoch}
	var events []func()
	sub.out.Lock()
	defer sub.out.Unlock()
	sub.mu.Lock()
	sub.fill = nil
	recovering, recovered := sub.hasPos, 0
	switch {
	case recovering && res.Recovered:
		for _, p := range res.Publications {
			if ev := sub.take(publication(sub.channel, res.Epoch, p)); ev != nil {
				events = append(events, ev...)
				recovered++
			}
		}
		if sub.pos.Epoch != now.Epoch || sub.pos.Offset < now.Offset {
			sub.pos = now
		}
	case recovering:
		events = append(events, sub.lose(now, "subscribe answered recovered: false"))
	default:
		sub.pos, sub.hasPos = now, true
	}
	sub.mu.Unlock()
	if recovering && res.Recovered {
		sub.c.log.Debug("subscribed again", "channel", sub.channel, "recovered", recovered, "offset", now.Offset)
	}
	sub.queue(events)
}

// receive takes a live publication, on the reader of s. A publication
// after a gap starts a filler, which holds the ones that follow until the
// gap is filled; the reader never waits for it.
func (sub *Subscription) receive(s *session, pub Publication) {
	sub.out.Lock()
	defer sub.out.Unlock()
	sub.mu.Lock()
	if f := sub.fill; f != nil {
		f.hold(pub)
		sub.mu.Unlock()
		return
	}
	if sub.gapBefore(pub) {
		f := &gapFill{held: []Publication{pub}}
		sub.fill = f
		sub.mu.Unlock()
		sub.c.goroutine(func() { sub.fillGaps(s, f) })
		return
	}
	events := sub.take(pub)
	sub.mu.Unlock()
	sub.queue(events)
}

// gapBefore reports whether publications of pub's epoch are missing
// between the position and pub. sub.mu is held.
func (sub *Subscription) gapBefore(pub Publication) bool {
	return sub.hasPos && pub.Epoch == sub.pos.Epoch && pub.Offset > sub.pos.Offset+1
}

// take moves the position to pub, which follows no gap, and returns what
// to queue for the handlers: nothing for a publication already handed on
// (same epoch, offset not past the position), the reset first for a
// publication of another epoch. sub.mu is held.
func (sub *Subscription) take(pub Publication) []func() {
	handle := func() { sub.handle(pub) }
	at := Position{Offset: pub.Offset, Epoch: pub.Epoch}
	switch {
	case !sub.hasPos:
	case pub.Epoch == sub.pos.Epoch && pub.Offset <= sub.pos.Offset:
		return nil
	case pub.Epoch != sub.pos.Epoch:
		reset := sub.lose(Position{Offset: max(pub.Offset, 1) - 1, Epoch: pub.Epoch}, "the channel's epoch changed")
		sub.pos = at
		return []func(){reset, handle}
	}
	sub.pos, sub.hasPos = at, true
	return []func(){handle}
}

// lose moves the position to now, skipping what lies between, logs it and
// returns the event that tells onLost. sub.mu is held.
func (sub *Subscription) lose(now Position, why string) func() {
	lost := sub.pos
	sub.pos, sub.hasPos = now, true
	sub.c.log.Warn("publications missed could not be recovered", "channel", sub.channel, "reason", why,
		"lost_offset", lost.Offset, "lost_epoch", lost.Epoch, "offset", now.Offset, "epoch", now.Epoch)
	return func() {
		if sub.onLost != nil && !sub.stopped.Load() {
			sub.onLost(lost, now)
		}
	}
}

// queue hands events to the dispatcher, in order. sub.out is held.
func (sub *Subscription) queue(events []func()) {
	for _, f := range events {
		sub.c.enqueue(f)
	}
}

func (sub *Subscription) handle(pub Publication) {
	if !sub.stopped.Load() && sub.onPub != nil {
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
	sub.mu.Lock()
	sub.fill = nil
	sub.mu.Unlock()
	c.enqueue(func() {
		if sub.stopped.CompareAndSwap(false, true) && sub.onEnd != nil {
			sub.onEnd(reason)
		}
	})
}
