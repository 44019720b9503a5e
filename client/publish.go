package client

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-rt/rampart/protocol"
)

// publishAttempts bounds how many times Publish sends one publish: the
// first time and the retries after an answer that leaves the outcome
// unknown.
const publishAttempts = 3

// retryWithin is how long after the first attempt a retry may still be
// sent. The server remembers a key for two minutes from when it stored the
// publish (docs/protocol.md, publish); the margin covers the network and a
// busy broker. A retry sent later could be stored a second time.
const retryWithin = 2*time.Minute - 15*time.Second

// PublishOption configures a publish.
type PublishOption func(*publishOptions)

type publishOptions struct {
	key    string
	hasKey bool
}

// IdempotencyKey makes the publish carry key instead of a random key: 1 to
// 64 characters of A-Z a-z 0-9 _ . : @ - (a UUID will do). The server
// stores and delivers a publish once per key, user and channel within two
// minutes and answers a repeat with the first one's offset, so a program
// that publishes again after losing track (a restart, say) can use the
// same key to publish once. A malformed key fails Publish before anything
// is sent.
func IdempotencyKey(key string) PublishOption {
	return func(o *publishOptions) { o.key, o.hasKey = key, true }
}

// Publish publishes data (encoded with encoding/json; a json.RawMessage is
// sent as is) to channel and returns its offset.
//
// Every publish carries an idempotency key: a random one (crypto/rand.Text,
// 130 bits) unless IdempotencyKey gives one. When the outcome is not known,
// because the server answered unavailable (it may have stored the
// publication) or the connection dropped before the answer, Publish sends
// the same publish with the same key again, after a jittered backoff
// between Config.MinBackoff and Config.MaxBackoff and on the next
// connection: up to 3 attempts in all, within ctx, and none later than
// 1m45s after the first, while the server still remembers the key. The
// server stores and delivers the publication once and answers every
// attempt with its offset.
//
// When every attempt left the outcome unknown, Publish returns the last
// one's error: an *Error with code unavailable, or an error matching
// ErrDisconnected, still means the publication may have been stored. Any
// other error (an *Error with another code, ctx's error, ErrClosed) is
// returned as it comes.
func (c *Client) Publish(ctx context.Context, channel string, data any, opts ...PublishOption) (uint64, error) {
	cmd, err := publishCommand(channel, data, opts)
	if err != nil {
		return 0, err
	}
	var first time.Time // when the first attempt was sent
	var last error      // the last attempt's error, which left the outcome unknown
	for attempt := range publishAttempts {
		if attempt > 0 && !c.sleep(ctx, backoff(c.cfg.MinBackoff, c.cfg.MaxBackoff, attempt-1)) {
			break
		}
		s, err := c.connFor(ctx, first)
		if err != nil {
			if last == nil {
				return 0, err
			}
			break // not sent again: the last outcome is still the one to report
		}
		if attempt == 0 {
			first = time.Now()
		}
		off, err := publishOn(ctx, s, cmd)
		if err == nil || !outcomeUnknown(err) {
			return off, err
		}
		c.log.Debug("publish outcome unknown", "channel", channel, "attempt", attempt+1, "error", err.Error())
		last = err
	}
	return 0, last
}

// publishCommand encodes data and gives the command its key.
func publishCommand(channel string, data any, opts []PublishOption) (protocol.Command, error) {
	var o publishOptions
	for _, f := range opts {
		f(&o)
	}
	switch {
	case !o.hasKey:
		o.key = rand.Text()
	case o.key == "" || !protocol.ValidIdempotencyKey(o.key):
		return protocol.Command{}, errors.New("client: publish: the idempotency key must be 1 to 64 characters of A-Z a-z 0-9 _ . : @ -")
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return protocol.Command{}, fmt.Errorf("client: publish: encoding data: %w", err)
	}
	return protocol.Command{Action: protocol.ActionPublish, Channel: channel, Data: raw, IdempotencyKey: o.key}, nil
}

// connFor waits for a connection to send an attempt on; a retry (first is
// set) waits no later than retryWithin after the first attempt.
func (c *Client) connFor(ctx context.Context, first time.Time) (*session, error) {
	if first.IsZero() {
		return c.current(ctx)
	}
	ctx, cancel := context.WithDeadline(ctx, first.Add(retryWithin))
	defer cancel()
	return c.current(ctx)
}

// publishOn sends cmd on s and returns the offset answered.
func publishOn(ctx context.Context, s *session, cmd protocol.Command) (uint64, error) {
	raw, err := s.roundTrip(ctx, cmd, nil)
	if err != nil {
		return 0, err
	}
	var res protocol.PublishResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return 0, fmt.Errorf("client: publish: decoding the result: %w", err)
	}
	return res.Offset, nil
}

// outcomeUnknown reports whether err leaves it unknown whether a publish
// was stored, so that sending it again with its key is the way to know:
// the server answered unavailable, or the connection dropped before the
// answer while the client goes on.
func outcomeUnknown(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Code == protocol.CodeUnavailable
	}
	return errors.Is(err, ErrDisconnected) && !errors.Is(err, ErrClosed)
}

// sleep waits for d; false when ctx ends or the client stops first.
func (c *Client) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-c.done:
		return false
	}
}
