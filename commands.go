package rampart

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/internal/console"
	"github.com/rampart-rt/rampart/internal/hub"
	"github.com/rampart-rt/rampart/policy"
	"github.com/rampart-rt/rampart/protocol"
)

// cmdError is a failed command: what the client is told, and (for the log
// only) what really happened.
type cmdError struct {
	code       protocol.Code
	message    string
	retryAfter time.Duration
	violation  bool   // counts towards limits.max_violations
	cause      error  // logged under the request id, never sent
	event      string // the log line's event; empty: from the code
	reason     string // why, for the log line only; empty: message
	rid        string // the request id already given out (to a backend hook); empty: a new one
}

func (e *cmdError) Error() string { return string(e.code) + ": " + e.message }

func errBadRequest(msg string) *cmdError {
	return &cmdError{code: protocol.CodeBadRequest, message: msg, violation: true}
}

var errUnavailable = &cmdError{code: protocol.CodeUnavailable, message: "temporarily unavailable, try again"}

// errForbidden is a refusal by the channel rules (or the rpc methods);
// reason says which, for the log.
func errForbidden(reason string) *cmdError {
	return &cmdError{code: protocol.CodeForbidden, message: "not allowed on this channel", violation: true,
		event: "authz_denied", reason: reason}
}

func errInternal(cause error) *cmdError {
	return &cmdError{code: protocol.CodeInternal, message: "internal error", cause: cause}
}

// brokerTimeout bounds every broker call a command makes.
const brokerTimeout = 5 * time.Second

// handle runs one client frame. A panic in it is contained: answered
// "internal" with a request id, logged with the stack under that id,
// counted, and the connection closed with 1011; the server and every other
// connection stay up.
func (c *conn) handle(frame []byte) {
	action, result := "invalid", "ok"
	defer func() { c.svc.metrics.Commands.WithLabelValues(action, result).Inc() }()
	var cmd protocol.Command
	defer func() {
		if p := recover(); p != nil {
			result = string(protocol.CodeInternal)
			rid := c.s.newRequestID()
			c.s.panicked(p, "command", rid, c.id)
			c.send(protocol.EncodeError(cmd.ID, protocol.Error{Code: protocol.CodeInternal, Message: "internal error", RequestID: rid}))
			c.closeInternal()
		}
	}()
	cmd, err := protocol.ParseCommand(frame)
	if err != nil {
		var pe *protocol.ParseError
		errors.As(err, &pe)
		result = string(protocol.CodeBadRequest)
		c.fail(&protocol.Command{ID: pe.ID}, errBadRequest(pe.Reason))
		return
	}
	action = cmd.Action
	e := c.admit()
	var out any
	if e == nil {
		out, e = c.run(&cmd)
	}
	if e != nil {
		result = string(e.code)
		c.fail(&cmd, e)
		return
	}
	if out == nil {
		return // the command replied itself, or closed the connection
	}
	b, err := protocol.EncodeResult(cmd.ID, out)
	if err != nil {
		result = string(protocol.CodeInternal)
		c.fail(&cmd, errInternal(err))
		return
	}
	c.send(b)
}

// admit applies the per-connection token bucket. A client that keeps
// sending after rate_limited answers is closed with 4029.
func (c *conn) admit() *cmdError {
	now := time.Now()
	if c.msgRate.AllowN(now, 1) {
		c.rateDenied = 0
		return nil
	}
	c.rateDenied++
	if c.rateDenied > c.s.st().cfg.Limits.RateLimitAbuseThreshold {
		c.svc.log.Warn("rate limit abuse", "event", "limit_hit", "limit", "rate_abuse", "request_id", c.requestID, "client", c.id,
			"user", c.identityClaims().Subject, "ip", c.ip)
		c.closeWith(protocol.CloseRateLimitAbuse, protocol.CloseCodes[protocol.CloseRateLimitAbuse])
	}
	c.svc.metrics.RateLimited.WithLabelValues("command").Inc()
	r := c.msgRate.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return &cmdError{code: protocol.CodeRateLimited, message: "too many messages", retryAfter: wait, reason: "messages_per_minute"}
}

// fail answers a command with an error and counts violations. The error
// reply's request id is in exactly one log line, which tells the whole
// story: who, what, on which channel, and why.
func (c *conn) fail(cmd *protocol.Command, e *cmdError) {
	rid := cmp.Or(e.rid, c.s.newRequestID())
	c.logRefusal(rid, cmd, e)
	pe := protocol.Error{Code: e.code, Message: e.message, RequestID: rid}
	if e.code == protocol.CodeRateLimited {
		pe.RetryAfterMS = max(e.retryAfter.Milliseconds(), 1)
	}
	c.send(protocol.EncodeError(cmd.ID, pe))
	if e.violation {
		c.violate(time.Now())
	}
}

func (c *conn) logRefusal(rid string, cmd *protocol.Command, e *cmdError) {
	level, event, msg := slog.LevelInfo, "command_refused", "command refused"
	switch e.code {
	case protocol.CodeInternal:
		level, event, msg = slog.LevelError, "internal_error", "command failed"
	case protocol.CodeUnavailable:
		level, event, msg = slog.LevelWarn, "unavailable", "command could not be served"
	case protocol.CodeForbidden:
		msg = "authorization denied"
	}
	event = cmp.Or(e.event, event)
	attrs := []slog.Attr{
		slog.String("event", event), slog.String("request_id", rid),
		slog.String("client", c.id), slog.String("user", c.identityClaims().Subject), slog.String("ip", c.ip),
		slog.String("action", cmp.Or(cmd.Action, "invalid")), slog.String("code", string(e.code)),
		slog.String("reason", cmp.Or(e.reason, e.message)),
	}
	if cmd.Channel != "" {
		attrs = append(attrs, slog.String("channel", cmd.Channel))
	}
	if cmd.Method != "" {
		attrs = append(attrs, slog.String("method", cmd.Method))
	}
	if e.cause != nil {
		attrs = append(attrs, slog.String("error", e.cause.Error()))
	}
	c.svc.log.LogAttrs(context.Background(), level, msg, attrs...)
}

// violate counts an invalid or forbidden message; more than
// limits.max_violations in a minute closes the connection with 1008.
func (c *conn) violate(now time.Time) {
	c.svc.metrics.Violations.Inc()
	if now.Sub(c.violStart) > time.Minute {
		c.violStart, c.violations = now, 0
	}
	c.violations++
	if c.violations > c.s.st().cfg.Limits.MaxViolations {
		c.svc.log.Warn("too many violations", "event", "limit_hit", "limit", "violations", "request_id", c.requestID, "client", c.id,
			"user", c.identityClaims().Subject, "ip", c.ip)
		c.closeWith(protocol.ClosePolicyViolation, protocol.CloseCodes[protocol.ClosePolicyViolation])
	}
}

func (c *conn) run(cmd *protocol.Command) (any, *cmdError) {
	if c.closing() { // decided while the frame was being parsed: it is not run
		return nil, nil
	}
	switch cmd.Action {
	case protocol.ActionSubscribe:
		return c.subscribe(cmd)
	case protocol.ActionUnsubscribe:
		return c.unsubscribe(cmd)
	case protocol.ActionPublish:
		return c.publish(cmd)
	case protocol.ActionHistory:
		return c.history(cmd)
	case protocol.ActionRefresh:
		return c.refresh(cmd)
	case protocol.ActionPresence:
		return c.presence(cmd)
	case protocol.ActionRPC:
		return c.rpc(cmd)
	case protocol.ActionPing:
		return struct{}{}, nil
	}
	return nil, &cmdError{code: protocol.CodeNotFound, message: "action not available on this server"}
}

func (c *conn) allow(action policy.Action, channel string) (*policy.Rule, *cmdError) {
	if console.Reserved(channel) {
		return c.allowConsole(action)
	}
	rule, ok := c.s.st().rules.Allow(action, channel, c.identity())
	switch {
	case rule == nil:
		return nil, errForbidden("no channel rule matches")
	case !ok:
		return nil, errForbidden("rule " + rule.Pattern + " does not grant " + actionName(action) + " to this user")
	}
	return rule, nil
}

// allowRead is allow for reading a channel (history, presence): a
// connection the server subscribed to the channel may read it whatever
// the rule's roles say, as long as a rule still matches it.
func (c *conn) allowRead(channel string) (*policy.Rule, *cmdError) {
	if c.serverSubscribed(channel) {
		if rule := c.s.serverRule(channel); rule != nil {
			return rule, nil
		}
	}
	return c.allow(policy.Subscribe, channel)
}

// serverSubscribed reports whether the server subscribed c to channel.
func (c *conn) serverSubscribed(channel string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.subs.Find(channel)
	return i >= 0 && c.subs[i].Server
}

func actionName(a policy.Action) string {
	if a == policy.Publish {
		return "publish"
	}
	return "subscribe"
}

func (c *conn) subscribe(cmd *protocol.Command) (any, *cmdError) {
	rule, e := c.allow(policy.Subscribe, cmd.Channel)
	if e != nil {
		return nil, e
	}
	if e := c.subscribeHook(cmd.Channel); e != nil { // before any lock: it may wait on the network
		return nil, e
	}
	c.subMu.Lock()
	defer c.subMu.Unlock()
	sb := hub.Sub{Channel: cmd.Channel, Tracked: rule.Presence, JoinLeave: rule.Presence && rule.JoinLeave}
	if e := c.claim(sb); e != nil {
		return nil, e
	}
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	defer cancel()
	res, err := c.svc.hub.Subscribe(ctx, c, cmd.Channel, cmd.Since, c.s.st().cfg.Limits.MaxHistoryLimit)
	if err != nil {
		c.forget(cmd.Channel)
		return nil, brokerError(err)
	}
	b, err := protocol.EncodeResult(cmd.ID, res)
	if err != nil {
		c.dropLocked(cmd.Channel)
		return nil, errInternal(err)
	}
	if rule.Presence { // before the reply: whoever hears of the subscription finds it in presence
		c.s.joinPresence(cmd.Channel, c)
	}
	c.s.announce(c, sb, false)
	c.send(b)
	c.svc.hub.Activate(c, cmd.Channel, res.Offset, res.Epoch)
	return nil, nil
}

// claim adds sb to c's subscriptions, unless c has it already, is at
// limits.max_subscriptions, or is closing.
func (c *conn) claim(sb hub.Sub) *cmdError {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.state != stateOpen:
		return errUnavailable
	case c.subs.Find(sb.Channel) >= 0:
		return &cmdError{code: protocol.CodeAlreadySubscribed, message: "already subscribed"}
	case len(c.subs) >= c.s.st().cfg.Limits.MaxSubscriptions:
		return &cmdError{code: protocol.CodeLimitExceeded, message: "too many subscriptions"}
	}
	c.subs = append(c.subs, sb)
	return nil
}

// subscribeFromServer subscribes c to channel on the server's word (the
// server-side API): a subscribe push carries the channel's position, and
// the channel's publications after it follow. It may run while c's own
// commands run, and while c closes.
func (c *conn) subscribeFromServer(ctx context.Context, rule *policy.Rule, channel string) *cmdError {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	sb := hub.Sub{Channel: channel, Tracked: rule.Presence, Server: true, JoinLeave: rule.Presence && rule.JoinLeave}
	if e := c.claim(sb); e != nil {
		return e
	}
	ctx, cancel := context.WithTimeout(ctx, brokerTimeout)
	defer cancel()
	res, err := c.svc.hub.Subscribe(ctx, c, channel, nil, 0)
	if err != nil {
		c.forget(channel)
		return brokerError(err)
	}
	if rule.Presence {
		c.s.joinPresence(channel, c)
	}
	c.s.announce(c, sb, false)
	c.send(protocol.EncodeSubscribe(channel, res.Offset, res.Epoch))
	c.svc.hub.Activate(c, channel, res.Offset, res.Epoch)
	c.mu.Lock()
	gone := c.state == stateClosed // closed ran meanwhile, perhaps before the hub knew of c here
	c.mu.Unlock()
	if gone {
		c.svc.hub.Unsubscribe(c, channel)
		if rule.Presence {
			c.s.leavePresence(channel, c.id)
		}
		c.s.announce(c, sb, true)
	}
	return nil
}

func (c *conn) forget(channel string) {
	c.mu.Lock()
	c.subs.Remove(channel)
	c.mu.Unlock()
}

func (c *conn) unsubscribe(cmd *protocol.Command) (any, *cmdError) {
	if !c.drop1(cmd.Channel) {
		return nil, &cmdError{code: protocol.CodeNotFound, message: "not subscribed"}
	}
	return struct{}{}, nil
}

// drop1 ends one subscription: no delivery reaches c on it afterwards.
func (c *conn) drop1(channel string) bool {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	return c.dropLocked(channel)
}

// dropLocked is drop1 for a caller holding subMu.
func (c *conn) dropLocked(channel string) bool {
	c.mu.Lock()
	sb, ok := c.subs.Remove(channel)
	c.mu.Unlock()
	if !ok {
		return false
	}
	c.svc.hub.Unsubscribe(c, channel)
	if sb.Tracked {
		c.s.leavePresence(channel, c.id)
	}
	c.s.announce(c, sb, true)
	return true
}

func (c *conn) publish(cmd *protocol.Command) (any, *cmdError) {
	rule, e := c.allow(policy.Publish, cmd.Channel)
	if e != nil {
		return nil, e
	}
	data, e := c.s.checkData(rule, cmd.Channel, cmd.Data)
	if e != nil {
		return nil, e
	}
	if data, e = c.publishHook(rule, cmd.Channel, data); e != nil {
		return nil, e
	}
	user := c.identityClaims().Subject
	opts := publishOptions(rule)
	opts.IdempotencyKey = scopedIdempotencyKey("user:"+user, cmd.IdempotencyKey)
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	defer cancel()
	pos, err := c.svc.broker.Publish(ctx, cmd.Channel, data, user, c.id, opts)
	if err != nil {
		c.s.brokerFailed("publish", err)
		return nil, brokerError(err)
	}
	c.svc.metrics.Publications.WithLabelValues("client").Inc()
	c.s.auditPublish(rule, cmd.Channel, user, c.id, len(data))
	return protocol.PublishResult{Offset: pos.Offset}, nil
}

func publishOptions(r *policy.Rule) broker.PublishOptions {
	return broker.PublishOptions{HistorySize: r.History.Size, HistoryTTL: r.History.TTL}
}

func (c *conn) history(cmd *protocol.Command) (any, *cmdError) {
	if _, e := c.allowRead(cmd.Channel); e != nil {
		return nil, e
	}
	max := c.s.st().cfg.Limits.MaxHistoryLimit
	limit := max
	if cmd.Limit != nil {
		limit = min(*cmd.Limit, max)
	}
	req := broker.HistoryRequest{Limit: limit}
	if cmd.Since != nil {
		req.Since = &broker.Position{Offset: cmd.Since.Offset, Epoch: cmd.Since.Epoch}
	}
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	defer cancel()
	pubs, pos, err := c.svc.broker.History(ctx, cmd.Channel, req)
	if err != nil {
		return nil, brokerError(err)
	}
	if req.Since != nil && req.Since.Epoch != pos.Epoch {
		pubs = nil // another epoch's offsets mean nothing here
	}
	return protocol.HistoryResult{Publications: hub.Publications(pubs), Offset: pos.Offset, Epoch: pos.Epoch}, nil
}

// refresh swaps the connection's token for a newer one of the same user.
// A token of another user closes the connection with 1008; an invalid one
// is refused and the old deadline still holds.
func (c *conn) refresh(cmd *protocol.Command) (any, *cmdError) {
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	defer cancel()
	claims, err := c.s.st().verifier.Verify(ctx, cmd.Token)
	if err != nil {
		return nil, &cmdError{code: protocol.CodeUnauthorized, message: "token not accepted", violation: true,
			event: "token_refresh_failed", reason: authReason(err)}
	}
	old := c.identityClaims()
	if claims.Subject != old.Subject {
		c.svc.log.Warn("token refresh for another user", "event", "token_refresh_failed", "request_id", c.requestID,
			"client", c.id, "ip", c.ip, "user", old.Subject, "reason", "subject changed")
		c.closeWith(protocol.ClosePolicyViolation, protocol.CloseCodes[protocol.ClosePolicyViolation])
		return nil, nil
	}
	c.mu.Lock()
	c.claims = claims
	c.mu.Unlock()
	c.svc.log.Info("token refreshed", "event", "token_refreshed", "client", c.id, "user", claims.Subject, "ip", c.ip)
	c.recheck("permission removed")
	return protocol.RefreshResult{ExpiresAt: unixMS(claims.ExpiresAt)}, nil
}

// recheck removes subscriptions the current rules and roles no longer allow,
// telling the client with an unsubscribe push.
func (c *conn) recheck(reason string) {
	rules, id := c.s.st().rules, c.identity()
	c.mu.Lock()
	var gone []string
	for _, sb := range c.subs {
		ch := sb.Channel
		if c.console && console.Reserved(ch) {
			continue
		}
		if sb.Server { // the server's decision holds while a rule matches the channel
			if rules.MatchServer(ch) == nil {
				gone = append(gone, ch)
			}
			continue
		}
		if _, ok := rules.Allow(policy.Subscribe, ch, id); !ok {
			gone = append(gone, ch)
		}
	}
	c.mu.Unlock()
	for _, ch := range gone {
		if c.drop1(ch) {
			c.svc.log.Info("subscription removed", "event", "subscription_revoked", "client", c.id, "user", id.User, "reason", reason)
			c.send(protocol.EncodeUnsubscribe(ch, reason))
		}
	}
}

func brokerError(err error) *cmdError {
	if errors.Is(err, broker.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, broker.ErrClosed) {
		e := *errUnavailable
		e.cause = err
		return &e
	}
	return errInternal(err)
}
