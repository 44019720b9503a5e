package rampart

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/rampart-rt/rampart/auth"
	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/internal/console"
	"github.com/rampart-rt/rampart/policy"
	"github.com/rampart-rt/rampart/protocol"
	"github.com/rampart-rt/rampart/settings"
)

// The web admin console (package internal/console) is served by
// AdminHandler when console.enabled is set at New. The server feeds it
// its log lines (the console keeps the security events among them), and
// admits its live socket as a connection that alone may subscribe to the
// reserved channels rampart.console:*, where every node publishes its
// stats and events.

// consoleHeadroom is how many console sockets may open over
// limits.max_connections, so that a full node can still be watched.
const consoleHeadroom = 16

// consoleLoginKey prefixes the client address under which the connection
// limiter counts console logins, apart from its handshakes.
const consoleLoginKey = "console-login|"

// newConsole creates the console when it is enabled, and puts its tap in
// front of the log's rate limiter h, so that it counts every event.
func (s *Server) newConsole(h *limitedHandler) {
	if !s.cfg.Console.Enabled {
		return
	}
	defer func() { s.log = slog.New(s.console.Tap(h)) }()
	s.console = console.New(console.Options{
		Node:     s.reqPrefix,
		Server:   consoleHooks{s},
		Settings: func() settings.Console { return s.st().cfg.Console },
		KeyValid: func(key string) bool { return s.st().apiKeys.Valid(key) },
		Verify: func(ctx context.Context, token string) (string, []string, error) {
			c, err := s.st().verifier.Verify(ctx, token)
			if err != nil {
				return "", nil, err
			}
			return c.Subject, c.Roles, nil
		},
		AllowTry: func(ctx context.Context, ip string, perMinute int) (bool, time.Duration) {
			ok, wait, err := s.limiter.Handshake(ctx, consoleLoginKey+ip, perMinute)
			return ok && err == nil, max(wait, time.Second)
		},
		ClientIP:  func(r *http.Request) string { return s.st().clientIP.ClientIP(r.RemoteAddr, r.Header).String() },
		RequestID: s.newRequestID,
		WithID:    WithRequestID,
		Log:       slog.New(h),
	})
}

// consoleHooks is the server as the console sees it.
type consoleHooks struct{ *Server }

// Totals reads the server's own counters.
func (h consoleHooks) Totals() console.Totals {
	m := h.metrics
	return console.Totals{Handshakes: sum(m.Handshakes), Messages: sum(m.Commands), Deliveries: sum(m.Deliveries)}
}

// sum adds up a counter's values over all its labels.
func sum(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 16)
	go func() { c.Collect(ch); close(ch) }()
	total := 0.0
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) == nil && d.Counter != nil {
			total += d.Counter.GetValue()
		}
	}
	return total
}

// TopChannels returns this node's busiest channels.
func (h consoleHooks) TopChannels(n int) []console.Channel {
	top := h.hub.Top(n)
	out := make([]console.Channel, len(top))
	for i, c := range top {
		out[i] = console.Channel{Channel: c.Channel, Subscribers: c.Subscribers, Publications: c.Publications}
	}
	return out
}

// PublishConsole publishes on a reserved channel, keeping no history.
func (h consoleHooks) PublishConsole(ctx context.Context, channel string, data []byte) error {
	_, err := h.broker.Publish(ctx, channel, data, "", "", broker.PublishOptions{})
	if err != nil {
		h.brokerFailed("publish", err)
	}
	return err
}

// ServeSocket admits the console's socket: the checks of a handshake but
// the origin and the token, which the console made (its session, its own
// origin, its CSRF token), with the admin's identity as the claims.
func (h consoleHooks) ServeSocket(w http.ResponseWriter, r *http.Request, id console.Identity) {
	s := h.Server
	hs := &handshake{requestID: w.Header().Get("X-Request-Id"), origin: r.Header.Get("Origin"), console: true}
	hs.ip = s.st().clientIP.ClientIP(r.RemoteAddr, r.Header).String()
	defer s.release(&hs.held)
	if !s.checkProtocol(w, r) {
		return
	}
	if hs.offered, _ = subprotocols(r.Header.Values(hdrWSProtocol)); !hs.offered {
		s.reject(w, r, http.StatusBadRequest, "subprotocol_required", "client did not offer "+protocol.Subprotocol)
		return
	}
	if !s.reg.admit(s.st().cfg.Limits.MaxConnections + consoleHeadroom) {
		w.Header().Set("Retry-After", "5")
		s.reject(w, r, http.StatusServiceUnavailable, "unavailable", "draining or at max_connections")
		return
	}
	hs.held.slot = true
	hs.claims = &auth.Claims{Subject: id.Admin, Roles: []string{id.Role}, ExpiresAt: id.Expires}
	s.upgrade(w, r, hs)
}

// consoleRule is the rule of the reserved channels for the console's
// socket: subscribe only, no history, no presence.
var consoleRule = &policy.Rule{Pattern: console.ChannelPrefix + "*"}

// allowConsole decides an action on a reserved channel: only the
// console's socket may subscribe (and so read); nobody may publish.
func (c *conn) allowConsole(action policy.Action) (*policy.Rule, *cmdError) {
	if action == policy.Subscribe && c.console {
		return consoleRule, nil
	}
	return nil, errForbidden("reserved channel")
}
