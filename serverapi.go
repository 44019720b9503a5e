package rampart

import (
	"context"
	"unicode/utf8"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/internal/console"
	"github.com/rampart-rt/rampart/internal/hub"
	"github.com/rampart-rt/rampart/policy"
	"github.com/rampart-rt/rampart/protocol"
)

// The server-side Go API: what the application's own code does with the
// server it embeds, with the same rules, payload checks and audit lines as
// the wire. The HTTP API (/api/*) is a thin adapter over it.
//
// Every error is a *protocol.Error; errors.Is(err, ErrNotFound) and its
// siblings tell which. An error's Cause (a broker's failure) is for the
// caller's log, never for a client.

// Errors of the server-side API, to compare with errors.Is.
const (
	ErrBadRequest        = protocol.CodeBadRequest        // a malformed argument
	ErrForbidden         = protocol.CodeForbidden         // the channel's checks refused the data
	ErrNotFound          = protocol.CodeNotFound          // no channel rule matches, or no presence kept
	ErrAlreadySubscribed = protocol.CodeAlreadySubscribed // Subscribe: every target already subscribes
	ErrLimitExceeded     = protocol.CodeLimitExceeded     // Subscribe: the connections are at max_subscriptions
	ErrUnavailable       = protocol.CodeUnavailable       // the broker cannot be reached, or the server is shutting down
	ErrInternal          = protocol.CodeInternal          // a fault inside the server
)

// PublishOptions are a server-side publish's options.
type PublishOptions = protocol.PublishOptions

// Target names the connections Disconnect, Subscribe and Unsubscribe act
// on: every connection of a user, or one connection.
type Target = protocol.Target

// Publish publishes data (one JSON value) to channel as the server itself
// (no user): the channel needs a rule (no rule, no channel), and data
// passes the rule's schema and sanitizing exactly as a client's would. It
// returns the publication's position.
func (s *Server) Publish(ctx context.Context, channel string, data []byte, opts PublishOptions) (broker.Position, error) {
	if opts.IdempotencyKey != "" && !protocol.ValidIdempotencyKey(opts.IdempotencyKey) {
		return broker.Position{}, errBadRequest("idempotency_key: 1 to 64 characters of A-Z a-z 0-9 _ . : @ -").public()
	}
	pos, e := s.publishAsServer(ctx, channel, data, opts.IdempotencyKey)
	if e != nil {
		return broker.Position{}, e.public()
	}
	return pos, nil
}

// Broadcast publishes data to each of channels (at most
// protocol.MaxBroadcastChannels) as Publish does, and returns one result
// per channel, in order: a channel that failed carries its error code and
// does not stop the others. The idempotency key applies per channel.
func (s *Server) Broadcast(ctx context.Context, channels []string, data []byte, opts PublishOptions) ([]protocol.BroadcastResult, error) {
	if len(channels) == 0 || len(channels) > protocol.MaxBroadcastChannels {
		return nil, errBadRequest("channels: 1 to 1000").public()
	}
	if opts.IdempotencyKey != "" && !protocol.ValidIdempotencyKey(opts.IdempotencyKey) {
		return nil, errBadRequest("idempotency_key: 1 to 64 characters of A-Z a-z 0-9 _ . : @ -").public()
	}
	results := make([]protocol.BroadcastResult, len(channels))
	for i, ch := range channels {
		results[i].Channel = ch
		pos, e := s.publishAsServer(ctx, ch, data, opts.IdempotencyKey)
		if e != nil {
			results[i].Error = e.code
			continue
		}
		results[i].Offset, results[i].Epoch = pos.Offset, pos.Epoch
	}
	return results, nil
}

// publishAsServer publishes as the server: the channel needs a rule (no
// rule, no channel), and the data passes the rule's checks like a client's.
func (s *Server) publishAsServer(ctx context.Context, channel string, data []byte, idempotencyKey string) (broker.Position, *cmdError) {
	if !protocol.ValidChannel(channel) || data == nil {
		return broker.Position{}, errBadRequest("channel and data are required")
	}
	rule := s.serverRule(channel)
	if rule == nil {
		return broker.Position{}, errNoRule
	}
	data, e := s.checkData(rule, channel, data)
	if e != nil {
		return broker.Position{}, e
	}
	ctx, cancel := context.WithTimeout(ctx, brokerTimeout)
	defer cancel()
	opts := publishOptions(rule)
	opts.IdempotencyKey = scopedIdempotencyKey("api", idempotencyKey)
	pos, err := s.broker.Publish(ctx, channel, data, "", "", opts)
	if err != nil {
		s.brokerFailed("publish", err)
		return broker.Position{}, brokerError(err)
	}
	s.metrics.Publications.WithLabelValues("api").Inc()
	s.auditPublish(rule, channel, "", "api", len(data))
	return pos, nil
}

var errNoRule = &cmdError{code: protocol.CodeNotFound, message: "no channel rule matches"}

// Disconnect closes the target's connections with code (an application
// code, 4000-4999) and reason (at most protocol.MaxCloseReasonBytes of
// UTF-8): this node's at once, and every other node's when the control
// message it publishes through the broker arrives there (control.go). It
// returns how many it closed on this node; ErrUnavailable when the broker
// could not carry the message (this node's are closed all the same: a
// retry is harmless). Each node logs its closes as an audit line.
func (s *Server) Disconnect(ctx context.Context, t Target, code uint16, reason string) (int, error) {
	if err := checkTarget(t); err != nil {
		return 0, err
	}
	if code < protocol.MinApplicationCloseCode || code > protocol.MaxApplicationCloseCode ||
		len(reason) > protocol.MaxCloseReasonBytes || !utf8.ValidString(reason) {
		return 0, errBadRequest("code 4000-4999; reason at most 100 bytes of UTF-8").public()
	}
	n := s.disconnectHere(ctx, t, code, reason, "")
	return n, s.tellNodes(ctx, control{Op: opDisconnect, User: t.User, Client: t.Client, Code: code, Reason: reason,
		RequestID: requestIDFrom(ctx)})
}

// disconnectHere closes the target's connections on this node; origin is
// the node whose API call asked, empty for this one.
func (s *Server) disconnectHere(ctx context.Context, t Target, code uint16, reason, origin string) int {
	n := 0
	for _, c := range s.targets(t) {
		c.closeWith(code, reason)
		n++
	}
	s.log.Info("connections disconnected by the server", "event", "api_disconnect", "user", t.User, "client", t.Client,
		"code", code, "connections", n, "origin", origin, "request_id", requestIDFrom(ctx))
	return n
}

// Presence returns who subscribes to channel across the cluster, on a
// channel whose rule keeps presence.
func (s *Server) Presence(ctx context.Context, channel string) ([]protocol.PresenceEntry, error) {
	rule := s.serverRule(channel)
	if rule == nil {
		return nil, errNoRule.public()
	}
	clients, e := s.presenceOf(ctx, rule, channel)
	if e != nil {
		return nil, e.public()
	}
	return clients, nil
}

// History returns the last publications kept for channel, at most limit
// (capped at limits.max_history_limit; a negative limit: that cap; 0:
// only the position), oldest first, with the channel's position.
func (s *Server) History(ctx context.Context, channel string, limit int) (protocol.HistoryResult, error) {
	if s.serverRule(channel) == nil {
		return protocol.HistoryResult{}, errNoRule.public()
	}
	max := s.st().cfg.Limits.MaxHistoryLimit
	if limit < 0 || limit > max {
		limit = max
	}
	ctx, cancel := context.WithTimeout(ctx, brokerTimeout)
	defer cancel()
	pubs, pos, err := s.broker.History(ctx, channel, broker.HistoryRequest{Limit: limit})
	if err != nil {
		s.brokerFailed("history", err)
		return protocol.HistoryResult{}, brokerError(err).public()
	}
	return protocol.HistoryResult{Publications: hub.Publications(pubs), Offset: pos.Offset, Epoch: pos.Epoch}, nil
}

// Subscribe subscribes the target's connections to channel from the
// server side, on every node as Disconnect does: each gets a subscribe
// push with the channel's position, then the channel's publications,
// until it or the server unsubscribes or the connection ends (a
// reconnected client is not subscribed again). The channel needs a rule
// (the server decides who subscribes, so the rule's subscribe list is not
// asked); the rule's presence applies, and so does
// limits.max_subscriptions. It returns how many connections it subscribed
// on this node: ErrAlreadySubscribed or ErrLimitExceeded when this node
// had targets and none could be; ErrUnavailable when the broker could not
// carry the message to the other nodes.
func (s *Server) Subscribe(ctx context.Context, t Target, channel string) (int, error) {
	if err := checkTarget(t); err != nil {
		return 0, err
	}
	rule := s.serverRule(channel)
	if rule == nil {
		return 0, errNoRule.public()
	}
	n, e := s.subscribeHere(ctx, t, rule, channel, "")
	if err := s.tellNodes(ctx, control{Op: opSubscribe, User: t.User, Client: t.Client, Channel: channel,
		RequestID: requestIDFrom(ctx)}); err != nil {
		return n, err
	}
	if n == 0 && e != nil {
		return 0, e.public()
	}
	return n, nil
}

// subscribeHere subscribes the target's connections on this node; the
// error is the first refusal, for when none could be subscribed.
func (s *Server) subscribeHere(ctx context.Context, t Target, rule *policy.Rule, channel, origin string) (int, *cmdError) {
	n, first := 0, (*cmdError)(nil)
	for _, c := range s.targets(t) {
		if e := c.subscribeFromServer(ctx, rule, channel); e != nil {
			if first == nil {
				first = e
			}
			continue
		}
		n++
	}
	s.log.Info("connections subscribed by the server", "event", "api_subscribe", "user", t.User, "client", t.Client,
		"channel", channel, "connections", n, "origin", origin, "request_id", requestIDFrom(ctx))
	return n, first
}

// Unsubscribe ends the target's subscriptions to channel, on every node
// as Disconnect does, whether the client or the server made them, with an
// unsubscribe push, and returns how many it ended on this node
// (ErrUnavailable when the broker could not carry the message).
func (s *Server) Unsubscribe(ctx context.Context, t Target, channel string) (int, error) {
	if err := checkTarget(t); err != nil {
		return 0, err
	}
	if !protocol.ValidChannel(channel) {
		return 0, errBadRequest("channel is not a valid channel name").public()
	}
	n := s.unsubscribeHere(ctx, t, channel, "")
	return n, s.tellNodes(ctx, control{Op: opUnsubscribe, User: t.User, Client: t.Client, Channel: channel,
		RequestID: requestIDFrom(ctx)})
}

// unsubscribeHere ends the target's subscriptions on this node.
func (s *Server) unsubscribeHere(ctx context.Context, t Target, channel, origin string) int {
	n := 0
	for _, c := range s.targets(t) {
		if c.drop1(channel) {
			c.send(protocol.EncodeUnsubscribe(channel, reasonUnsubscribedByServer))
			n++
		}
	}
	s.log.Info("connections unsubscribed by the server", "event", "api_unsubscribe", "user", t.User, "client", t.Client,
		"channel", channel, "connections", n, "origin", origin, "request_id", requestIDFrom(ctx))
	return n
}

const reasonUnsubscribedByServer = "unsubscribed by the server"

func checkTarget(t Target) error {
	if (t.User == "") == (t.Client == "") {
		return errBadRequest("exactly one of user and client is required").public()
	}
	return nil
}

// targets returns the open connections t names.
func (s *Server) targets(t Target) []*conn {
	var out []*conn
	for _, c := range s.reg.snapshot() {
		if (t.Client != "" && c.id == t.Client) || (t.User != "" && c.identityClaims().Subject == t.User) {
			out = append(out, c)
		}
	}
	return out
}

// serverRule is the rule of a channel the server acts on, or nil (always
// for the console's reserved channels).
func (s *Server) serverRule(channel string) *policy.Rule {
	if !protocol.ValidChannel(channel) || console.Reserved(channel) {
		return nil
	}
	return s.st().rules.MatchServer(channel)
}

// public is the error the server-side API returns for e.
func (e *cmdError) public() error {
	return &protocol.Error{Code: e.code, Message: e.message, Cause: e.cause}
}

// requestIDKey carries the request id of an HTTP API request into the
// server-side API's audit lines.
type requestIDKey struct{}

// WithRequestID returns ctx carrying id, which the server-side API's audit
// lines then name (the HTTP API passes its request's id this way).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
