package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/rampart-rt/rampart/protocol"
)

// refreshTimeout bounds one token refresh: the Token call and the reply.
const refreshTimeout = 10 * time.Second

// unauthorizedLimit is how many reconnection attempts in a row may be
// refused with 401 before the client stops: the first one may have carried
// a token that expired on the way, and Token is asked again for the next;
// after that, Token gives tokens the server does not accept, and retrying
// only hammers the server.
const unauthorizedLimit = 2

// stableAfter is how long a connection must last for the backoff to start
// again from MinBackoff; a connection that keeps dropping sooner keeps
// growing it.
const stableAfter = 30 * time.Second

// supervise owns the connection's life: it answers refresh_required, and
// when the connection ends it decides whether to reconnect, waits, dials
// again and subscribes again.
func (c *Client) supervise(s *session) {
	attempt := 0
	for {
		opened := time.Now()
		c.watch(s)
		c.ended(s)
		if c.ctx.Err() != nil {
			return
		}
		c.endServerSubscriptions(s)
		cause := s.cause()
		c.log.Info("connection lost", "error", cause.Error())
		wait, ok := reconnectDelay(cause)
		if !ok {
			c.stop(fmt.Errorf("%w: %w", ErrClosed, cause))
			return
		}
		if time.Since(opened) >= stableAfter {
			attempt = 0
		}
		c.setState(StateDisconnected)
		if s, attempt = c.reconnect(wait, attempt); s == nil {
			return
		}
		c.resubscribe(s)
	}
}

// watch returns when s ends or the client is closed, refreshing the token
// meanwhile when the server asks.
func (c *Client) watch(s *session) {
	for {
		select {
		case <-s.done:
			return
		case <-c.ctx.Done():
			<-s.done // the writer sends close 1000; the reader ends
			return
		case <-c.refresh:
			c.refreshToken(s)
		}
	}
}

// refreshToken gets a new token and sends it. A failure is logged: the
// server closes with 4001 at expiry and the reconnect asks for a token again.
func (c *Client) refreshToken(s *session) {
	ctx, cancel := context.WithTimeout(c.ctx, refreshTimeout)
	defer cancel()
	tok, err := c.cfg.Token(ctx)
	var res json.RawMessage
	if err == nil {
		res, err = s.roundTrip(ctx, protocol.Command{Action: protocol.ActionRefresh, Token: tok}, nil)
	}
	if err != nil {
		c.log.Warn("token refresh failed", "error", err.Error())
		return
	}
	var r protocol.RefreshResult
	_ = json.Unmarshal(res, &r)
	c.mu.Lock()
	if c.sess == s && r.ExpiresAt > 0 {
		c.welcome.ExpiresAt = time.UnixMilli(r.ExpiresAt)
	}
	c.mu.Unlock()
	c.log.Debug("token refreshed")
}

// reconnect dials, counting attempts from attempt, until it succeeds
// (returning the new connection and the attempts made), the client is
// closed, or a refusal says trying again is pointless (nil): one that a
// retry cannot heal (origin, CSRF, subprotocol, path: see dialRetry), or
// unauthorizedLimit refused tokens in a row.
func (c *Client) reconnect(wait time.Duration, attempt int) (*session, int) {
	unauthorized := 0
	for ; ; attempt++ {
		d := max(wait, backoff(c.cfg.MinBackoff, c.cfg.MaxBackoff, attempt))
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return nil, 0
		}
		c.setState(StateConnecting)
		s, err := c.connect(c.ctx)
		if err == nil {
			return s, attempt + 1
		}
		if c.ctx.Err() != nil {
			return nil, 0
		}
		c.log.Info("reconnect failed", "attempt", attempt+1, "error", err.Error())
		unauthorized = c.refused(err, unauthorized)
		var ok bool
		if wait, ok = dialRetry(err); !ok || unauthorized >= unauthorizedLimit {
			c.stop(fmt.Errorf("%w: %w", ErrClosed, err))
			return nil, 0
		}
		c.setState(StateDisconnected)
	}
}

// refused reports a refused handshake to OnRefused and the log, and
// returns how many attempts in a row have now been refused with 401.
func (c *Client) refused(err error, unauthorized int) int {
	var he *HandshakeError
	if !errors.As(err, &he) {
		return 0
	}
	c.log.Warn("handshake refused", "status", he.StatusCode, "code", he.Code, "request_id", he.RequestID)
	if c.cfg.OnRefused != nil {
		c.cfg.OnRefused(he)
	}
	if he.StatusCode != http.StatusUnauthorized {
		return 0
	}
	return unauthorized + 1
}

// backoff returns a jittered exponential delay: a random duration between
// half and all of min·2^attempt, capped at maxD.
func backoff(minD, maxD time.Duration, attempt int) time.Duration {
	d := maxD
	if attempt < 30 {
		d = min(maxD, minD<<attempt)
	}
	half := d / 2
	return half + rand.N(half+1)
}

// reconnectDelay says whether a connection that ended with cause is worth
// reconnecting, and the least wait before it.
func reconnectDelay(cause error) (time.Duration, bool) {
	var ce *CloseError
	if !errors.As(cause, &ce) {
		return 0, true
	}
	switch uint16(ce.Code) {
	case CloseAbnormal, protocol.CloseGoingAway, protocol.CloseInternalError, protocol.CloseTryAgainLater,
		1012, 1014, // service restart, bad gateway
		protocol.CloseTokenExpired, protocol.CloseSlowConsumer:
		return 0, true
	case protocol.CloseRateLimitAbuse:
		return RateLimitBackoff, true
	}
	return 0, false
}

// dialRetry says whether a failed connection attempt is worth repeating,
// and the least wait before it.
func dialRetry(err error) (time.Duration, bool) {
	var he *HandshakeError
	if !errors.As(err, &he) {
		return 0, true // network, TLS, token source, a connection closed early
	}
	switch {
	case he.StatusCode == http.StatusUnauthorized:
		return 0, true // the next attempt asks Token again
	case he.StatusCode == http.StatusTooManyRequests || he.StatusCode >= 500:
		return he.RetryAfter, true
	}
	return 0, false
}

// resubscribe sends subscribe, with the last delivered position, for every
// subscription not yet sent on s. Replies are handled by the reader.
func (c *Client) resubscribe(s *session) {
	c.mu.Lock()
	var todo []*Subscription
	for _, sub := range c.subs {
		if sub.sess != s {
			sub.sess = s
			todo = append(todo, sub)
		}
	}
	c.mu.Unlock()
	for _, sub := range todo {
		if _, err := s.send(c.ctx, sub.command(), sub.onSubscribed); err != nil {
			return // s ended; the next connection tries again
		}
	}
}
