package console

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Event is one security event, as the console shows it. It carries no
// secret: no token, key, cookie or library error text.
type Event struct {
	Time      time.Time `json:"time"`
	Node      string    `json:"node"`
	Reason    string    `json:"reason"`         // one of Reasons
	Event     string    `json:"event"`          // the log line's event
	Code      string    `json:"code,omitempty"` // refusal code or close code
	RequestID string    `json:"request_id,omitempty"`
	IP        string    `json:"ip,omitempty"`
	User      string    `json:"user,omitempty"`
	Client    string    `json:"client,omitempty"`
	Detail    string    `json:"detail,omitempty"` // a fixed phrase, an origin, or an action's target
}

// Reasons are the kinds of security events, in the order the console
// lists them.
var Reasons = []string{
	"origin", "token", "csrf", "limits", "protocol", "unavailable",
	"rate_limit", "violations", "token_expired", "slow_consumer", "panic",
	"hook_denied", "api_key", "console_login", "admin_action",
}

// maxField bounds every text field of an event taken from a log line.
const maxField = 120

// classify turns a log line into an event, or reports false when the line
// is not a security event. attrs are the line's attributes by key.
func classify(event string, a map[string]string) (Event, bool) {
	e := Event{Event: event, RequestID: a["request_id"], IP: a["ip"], User: a["user"], Client: a["client"]}
	switch event {
	case "handshake_rejected":
		e.Code = a["code"]
		e.Reason, e.Detail = handshakeReason(a["code"], a["reason"], a["origin"])
	case "limit_hit":
		if a["limit"] == "violations" {
			e.Reason, e.Code, e.Detail = "violations", "1008", "too many violations"
		} else {
			e.Reason, e.Code, e.Detail = "rate_limit", "4029", "rate limit abuse"
		}
	case "token_expired":
		e.Reason, e.Code = "token_expired", "4001"
	case "slow_consumer":
		e.Reason, e.Code = "slow_consumer", "4009"
	case "panic":
		e.Reason, e.Detail = "panic", "contained in "+a["where"]
	case "hook_denied":
		e.Reason, e.Code, e.Detail = "hook_denied", a["code"], a["reason"] // "subscribe hook denied", ...
	case "api_refused":
		if a["status"] != "401" {
			return Event{}, false
		}
		e.Reason, e.Code, e.Detail = "api_key", "unauthorized", "missing or invalid API key on "+a["path"]
	case "console_login_failed":
		e.Reason, e.Code, e.Detail = "console_login", a["code"], a["reason"]
	case "console_refused": // the console's own answers: fixed phrases
		switch {
		case a["status"] == "401":
			e.Reason, e.Detail = "console_login", "console request without a session"
		case a["code"] == "csrf_failed":
			e.Reason, e.Detail = "csrf", "console csrf token missing or wrong"
		case a["status"] == "403":
			e.Reason, e.Detail = "origin", "cross-origin console request"
		default:
			return Event{}, false
		}
		e.Code = a["code"]
	case "console_login", "console_logout", "console_disconnect", "console_drain":
		e.Reason, e.User, e.Detail = "admin_action", a["admin"], a["detail"]
	default:
		return Event{}, false
	}
	e.clip()
	return e, true
}

// handshakeReason names a refused handshake's reason and a detail that is
// one of the server's fixed phrases (never an error's text).
func handshakeReason(code, reason, origin string) (string, string) {
	switch code {
	case "origin_refused":
		return "origin", "origin " + origin
	case "unauthorized":
		switch {
		case reason == "no token":
			return "token", "no token"
		case strings.HasSuffix(reason, "expired"):
			return "token", "token expired"
		}
		return "token", "token rejected"
	case "csrf_failed":
		return "csrf", "csrf check failed"
	case "rate_limited":
		return "limits", reason // handshakes_per_ip_per_minute, max_connections_per_ip, ...
	case "forbidden":
		return "hook_denied", "connect hook denied"
	case "unavailable":
		switch {
		case strings.HasPrefix(reason, "connection limiter"):
			return "unavailable", "connection limiter unavailable"
		case strings.HasPrefix(reason, "connect hook"):
			return "unavailable", "connect hook failed"
		}
		return "unavailable", "draining or at max_connections"
	}
	if code == "" {
		return "protocol", "upgrade failed"
	}
	return "protocol", code
}

func (e *Event) clip() {
	for _, f := range []*string{&e.Code, &e.RequestID, &e.IP, &e.User, &e.Client, &e.Detail} {
		if len(*f) > maxField {
			*f = (*f)[:maxField]
		}
	}
}

// Ring keeps the last events and counts every event by reason, even those
// the ring has dropped. It is safe for concurrent use; Add takes one short
// lock and never blocks on anything else.
type Ring struct {
	mu      sync.Mutex // guards the fields below
	buf     []Event    // the ring, len == capacity once full
	next    int        // where the next event goes
	full    bool
	counts  map[string]uint64 // by reason, since start
	pending []Event           // added since the last Take, at most maxPending
	lost    uint64            // not kept in pending since the last Take
}

// maxPending bounds the events a node publishes per flush.
const maxPending = 100

// NewRing returns a ring keeping the last size events.
func NewRing(size int) *Ring {
	return &Ring{buf: make([]Event, 0, size), counts: make(map[string]uint64)}
}

// Add records e.
func (r *Ring) Add(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[e.Reason]++
	if len(r.buf) < cap(r.buf) {
		r.buf = append(r.buf, e)
	} else {
		r.buf[r.next] = e
		r.full = true
	}
	r.next = (r.next + 1) % cap(r.buf)
	if len(r.pending) < maxPending {
		r.pending = append(r.pending, e)
	} else {
		r.lost++
	}
}

// Newest returns up to n events, newest first, of reason (every reason
// when reason is "").
func (r *Ring) Newest(n int, reason string) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Event, 0, min(n, len(r.buf)))
	for i := 1; i <= len(r.buf) && len(out) < n; i++ {
		e := r.buf[(r.next-i+len(r.buf))%len(r.buf)]
		if reason == "" || e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// Counts returns the events counted per reason since start.
func (r *Ring) Counts() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]uint64, len(r.counts))
	for k, v := range r.counts {
		out[k] = v
	}
	return out
}

// Take returns the events added since the last Take (at most maxPending)
// and how many more there were.
func (r *Ring) Take() ([]Event, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, lost := r.pending, r.lost
	r.pending, r.lost = nil, 0
	return p, lost
}

// tap is a slog.Handler that feeds the security events of the lines it
// sees to a ring, then hands the lines on. It sits in front of the log's
// rate limiter, so that the ring counts every event, and it sees Info
// lines even when the log's level is higher.
type tap struct {
	next slog.Handler
	add  func(string, map[string]string)
}

// Tap returns h with the security events of its lines fed to c first.
func (c *Console) Tap(h slog.Handler) slog.Handler {
	return &tap{next: h, add: c.observe}
}

func (t *tap) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || t.next.Enabled(ctx, l)
}

// watched are the log events the tap reads; the others pass untouched.
var watched = map[string]bool{
	"handshake_rejected": true, "limit_hit": true, "token_expired": true, "slow_consumer": true,
	"panic": true, "hook_denied": true, "api_refused": true, "console_login_failed": true, "console_refused": true, "console_login": true,
	"console_logout": true, "console_disconnect": true, "console_drain": true,
}

func (t *tap) Handle(ctx context.Context, r slog.Record) error {
	event := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "event" {
			event = a.Value.String()
			return false
		}
		return true
	})
	if watched[event] {
		attrs := make(map[string]string, r.NumAttrs())
		r.Attrs(func(a slog.Attr) bool {
			if a.Key != "stack" && a.Key != "error" && a.Key != "panic" {
				attrs[a.Key] = a.Value.String()
			}
			return true
		})
		t.add(event, attrs)
	}
	if !t.next.Enabled(ctx, r.Level) {
		return nil
	}
	return t.next.Handle(ctx, r)
}

func (t *tap) WithAttrs(as []slog.Attr) slog.Handler {
	return &tap{next: t.next.WithAttrs(as), add: t.add}
}

func (t *tap) WithGroup(name string) slog.Handler {
	return &tap{next: t.next.WithGroup(name), add: t.add}
}
