package rampart

import (
	"context"
	"log/slog"
	"time"

	"golang.org/x/time/rate"
)

// Events that an attacker can make frequent are logged at a bounded rate
// each; the ones left out are counted in
// rampart_log_events_suppressed_total. Everything else is always logged.
var highRateEvents = []string{
	"handshake_rejected", "authz_denied", "limit_hit", "slow_consumer",
	"api_refused", "token_refresh_failed", "pong_timeout", "broker_error", "unavailable",
	"command_refused", "panic", "hook_failed", "hook_denied", "hook_notification_dropped",
	"console_login_failed", "console_refused",
}

// Per high-rate event: this many lines a second, in bursts of up to
// logBurst.
const (
	logPerSecond = 50
	logBurst     = 200
)

// limitedHandler drops high-rate events over their budget.
type limitedHandler struct {
	slog.Handler
	limits  map[string]*rate.Limiter
	dropped func()
}

func newLimitedHandler(h slog.Handler, dropped func()) *limitedHandler {
	l := &limitedHandler{Handler: h, limits: make(map[string]*rate.Limiter), dropped: dropped}
	for _, e := range highRateEvents {
		l.limits[e] = rate.NewLimiter(logPerSecond, logBurst)
	}
	return l
}

func (l *limitedHandler) Handle(ctx context.Context, r slog.Record) error {
	var lim *rate.Limiter
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "event" {
			lim = l.limits[a.Value.String()]
			return false
		}
		return true
	})
	if lim != nil && !lim.AllowN(time.Now(), 1) {
		l.dropped()
		return nil
	}
	return l.Handler.Handle(ctx, r)
}

func (l *limitedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &limitedHandler{Handler: l.Handler.WithAttrs(as), limits: l.limits, dropped: l.dropped}
}

func (l *limitedHandler) WithGroup(name string) slog.Handler {
	return &limitedHandler{Handler: l.Handler.WithGroup(name), limits: l.limits, dropped: l.dropped}
}
