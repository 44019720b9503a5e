package rampart

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/rampart-rt/rampart/hooks"
	"github.com/rampart-rt/rampart/internal/hookcall"
	"github.com/rampart-rt/rampart/policy"
	"github.com/rampart-rt/rampart/protocol"
	"github.com/rampart-rt/rampart/settings"
)

// backendHooks calls the application backend's hooks (package
// internal/hookcall). Every method may block on the network, bounded by
// hooks.timeout: never call one while holding a lock.
type backendHooks interface {
	Connect(context.Context, hooks.ConnectRequest) hookcall.Outcome
	Subscribe(context.Context, hooks.SubscribeRequest) hookcall.Outcome
	Publish(context.Context, hooks.PublishRequest) hookcall.Outcome
	Notify(hooks.Event) // never blocks
	Close(context.Context)
}

func (s *Server) newHooks() backendHooks {
	return hookcall.New(hookcall.Options{
		Current: func() *settings.Hooks { h := s.st().cfg.Hooks; return &h },
		Metrics: s.hookMetrics,
		Log:     s.log,
	})
}

// grant is what the connect hook added to a connection: roles, and its
// info (a JSON object, or nil). A pointer on the connection, nil for most,
// so that a connection without one pays 8 bytes.
type grant struct {
	roles []string
	info  json.RawMessage
}

// info is c's info from the connect hook, or nil.
func (c *conn) info() json.RawMessage {
	if c.grant == nil {
		return nil
	}
	return c.grant.info
}

// The hooks' settings, defined in package settings.
type (
	// Hooks configures the calls to the application's backend.
	Hooks = settings.Hooks
	// Hook is one deciding hook: its URL and its on_error.
	Hook = settings.Hook
	// Notify configures the connect and disconnect notifications.
	Notify = settings.Notify
)

// connectHook asks the connect hook, once the token is verified, whether
// the connection may open, and what it adds to it. It answers the
// request itself and returns false on a refusal.
func (s *Server) connectHook(w http.ResponseWriter, r *http.Request, h *handshake) bool {
	if s.st().cfg.Hooks.Connect.URL == "" {
		return true
	}
	o := s.hooks.Connect(r.Context(), hooks.ConnectRequest{
		RequestID: h.requestID, User: h.claims.Subject, Roles: orEmpty(h.claims.Roles),
		IP: h.ip, Origin: h.origin, ExpiresAt: unixMS(h.claims.ExpiresAt),
	})
	switch {
	case o.Allow:
		if len(o.Roles) > 0 || o.Info != nil {
			h.grant = &grant{roles: o.Roles, info: o.Info}
		}
		return true
	case o.Failed:
		w.Header().Set("Retry-After", "5")
		s.reject(w, r, http.StatusServiceUnavailable, string(protocol.CodeUnavailable), "connect hook failed: "+o.Err.Error())
	case o.Code == protocol.CodeUnauthorized:
		s.unauthorized(w, r, "connect hook denied")
	default:
		s.reject(w, r, http.StatusForbidden, string(protocol.CodeForbidden), "connect hook denied")
	}
	return false
}

// subscribeHook asks the subscribe hook, after the channel rules allowed
// it, whether c may subscribe to channel.
func (c *conn) subscribeHook(channel string) *cmdError {
	if !c.s.st().cfg.Hooks.Subscribe.Asks(channel) { // checked here: no call, no allocation, when off or not this channel's
		return nil
	}
	id, rid := c.identity(), c.s.newRequestID()
	o := c.svc.hooks.Subscribe(c.s.ctx, hooks.SubscribeRequest{
		RequestID: rid, Client: c.id, User: id.User, Roles: orEmpty(id.Roles), Info: c.info(), Channel: channel,
	})
	return hookRefusal(o, rid, hooks.HookSubscribe)
}

// publishHook asks the publish hook, after the channel rules and the
// payload checks allowed data, whether c may publish it, and returns what
// to publish: data, or the backend's replacement, checked again.
func (c *conn) publishHook(rule *policy.Rule, channel string, data jsontext.Value) (jsontext.Value, *cmdError) {
	if !c.s.st().cfg.Hooks.Publish.Asks(channel) {
		return data, nil
	}
	id, rid := c.identity(), c.s.newRequestID()
	o := c.svc.hooks.Publish(c.s.ctx, hooks.PublishRequest{
		RequestID: rid, Client: c.id, User: id.User, Roles: orEmpty(id.Roles), Info: c.info(), Channel: channel,
		Data: json.RawMessage(data),
	})
	if e := hookRefusal(o, rid, hooks.HookPublish); e != nil || o.Data == nil {
		return data, e
	}
	return c.s.checkReplaced(rule, channel, jsontext.Value(o.Data), rid)
}

// checkReplaced runs the publish hook's replacement through the channel's
// size limit, schema and sanitizing. A refusal is the backend's fault:
// the client is told internal, the log says why.
func (s *Server) checkReplaced(rule *policy.Rule, channel string, data jsontext.Value, rid string) (jsontext.Value, *cmdError) {
	fail := func(why string) *cmdError {
		e := errInternal(fmt.Errorf("publish hook: the replaced data %s", why))
		e.rid, e.event = rid, "hook_failed"
		return e
	}
	if max := s.st().cfg.Limits.MaxMessageBytes; len(data) > max {
		return nil, fail(fmt.Sprintf("is over limits.max_message_bytes (%d bytes)", max))
	}
	out, e := s.checkData(rule, channel, data)
	if e != nil {
		return nil, fail("failed the channel's checks: " + e.message)
	}
	return out, nil
}

// hookRefusal is what a deciding hook's outcome tells the client: nothing
// when it allows, unavailable when the call failed and on_error denies,
// else the backend's code. The request id is the one the backend got.
func hookRefusal(o hookcall.Outcome, rid, hook string) *cmdError {
	switch {
	case o.Allow:
		return nil
	case o.Failed:
		e := *errUnavailable
		e.cause, e.rid, e.event = fmt.Errorf("%s hook: %w", hook, o.Err), rid, "hook_failed"
		return &e
	}
	return &cmdError{code: o.Code, message: "refused by the application", violation: true, rid: rid,
		event: "hook_denied", reason: hook + " hook denied"}
}

// notify queues a connect or disconnect notification, when configured.
func (c *conn) notify(event string, code uint16, reason string) {
	if c.s.st().cfg.Hooks.Notify.URL == "" {
		return
	}
	ev := hooks.Event{Event: event, Client: c.id, User: c.identityClaims().Subject, IP: c.ip, Info: c.info()}
	if event == hooks.EventDisconnect {
		ev.Code, ev.Reason, ev.DurationMS = int(code), reason, time.Since(c.opened).Milliseconds()
	}
	c.svc.hooks.Notify(ev)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clip(s)
}
