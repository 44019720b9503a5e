package settings

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/rampart-rt/rampart/protocol"
)

// problems collects every problem found, in the order found.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Reason: fmt.Sprintf(format, args...)})
}

// checkTop reports the problems of the top-level values: the path and
// the handshake timeout.
func (s *Settings) checkTop(p *problems) {
	if !strings.HasPrefix(s.Path, "/") {
		p.add("path", "must start with /")
	}
	if s.HandshakeTimeout < 0 || s.HandshakeTimeout > time.Minute {
		p.add("handshake_timeout", "must be between 0 and 1m")
	}
}

func checkKeys(p *problems, path string, keys []string) {
	for i, k := range keys {
		if len(k) < MinAPIKeyLength {
			p.add(path, "key %d is shorter than %d characters", i+1, MinAPIKeyLength)
		}
	}
}

var knownAlgorithms = map[string]bool{
	"HS256": true, "HS384": true, "HS512": true, "RS256": true, "PS256": true, "ES256": true, "EdDSA": true,
}

func (a *Auth) check(p *problems) {
	for _, alg := range a.Algorithms {
		if !knownAlgorithms[alg] {
			p.add("auth.algorithms", "unknown algorithm %q (allowed: HS256 HS384 HS512 RS256 PS256 ES256 EdDSA)", alg)
		}
	}
	if a.Leeway < 0 || a.Leeway > 5*time.Minute {
		p.add("auth.leeway", "must be between 0 and 5m")
	}
	if a.RefreshWindow < 0 {
		p.add("auth.refresh_window", "must not be negative")
	}
	for _, s := range a.Sources {
		switch s {
		case SourceHeader, SourceSubprotocol, SourceCookie, SourceQuery:
		default:
			p.add("auth.sources", "unknown source %q (allowed: header subprotocol cookie query)", s)
		}
	}
}

func (l *Limits) check(p *problems) {
	ints := []struct {
		path     string
		v, lo, h int
	}{
		{"limits.max_connections", l.MaxConnections, 1, 1 << 20},
		{"limits.max_connections_per_ip", l.MaxConnectionsPerIP, 1, 1 << 20},
		{"limits.max_connections_per_user", l.MaxConnectionsPerUser, 1, 1 << 20},
		{"limits.handshakes_per_ip_per_minute", l.HandshakesPerIPPerMin, 1, 1 << 20},
		{"limits.max_message_bytes", l.MaxMessageBytes, 128, 16 << 20},
		{"limits.messages_per_minute", l.MessagesPerMinute, 1, 1 << 20},
		{"limits.burst", l.Burst, 1, 1 << 20},
		{"limits.max_violations", l.MaxViolations, 1, 1 << 20},
		{"limits.max_subscriptions", l.MaxSubscriptions, 1, 4096},
		{"limits.send_queue", l.SendQueue, 1, 1 << 16},
		{"limits.max_history_limit", l.MaxHistoryLimit, 1, 1 << 20},
		{"limits.rate_limit_abuse_threshold", l.RateLimitAbuseThreshold, 1, 1 << 20},
		{"limits.join_leave_max_clients", l.JoinLeaveMaxClients, 1, 10000},
	}
	for _, f := range ints {
		if f.v < f.lo || f.v > f.h {
			p.add(f.path, "must be between %d and %d, not %d", f.lo, f.h, f.v)
		}
	}
	durs := []struct {
		path    string
		v, lo   time.Duration
		hi      time.Duration
		allowed string
	}{
		{"limits.ping_interval", l.PingInterval, time.Second, time.Hour, "1s and 1h"},
		{"limits.pong_timeout", l.PongTimeout, time.Second, time.Hour, "1s and 1h"},
		{"limits.write_timeout", l.WriteTimeout, 100 * time.Millisecond, time.Minute, "100ms and 1m"},
		{"limits.shutdown_spread", l.ShutdownSpread, time.Millisecond, 10 * time.Minute, "1ms and 10m"},
		{"limits.join_leave_window", l.JoinLeaveWindow, 10 * time.Millisecond, time.Minute, "10ms and 1m"},
	}
	for _, d := range durs {
		if d.v < d.lo || d.v > d.hi {
			p.add(d.path, "must be between %s, not %s", d.allowed, d.v)
		}
	}
}

func (r *RPC) check(p *problems) {
	if r.URL == "" {
		if len(r.Methods) > 0 {
			p.add("rpc.url", "rpc.methods needs a url")
		}
		return
	}
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		p.add("rpc.url", "must be an http or https URL without credentials")
	}
	for m := range r.Methods {
		if !protocol.ValidChannel(m) {
			p.add("rpc.methods", "method %q: 1 to 128 characters from A-Z a-z 0-9 _ . : @ -", m)
		}
	}
	if r.Timeout < 0 || r.Timeout > time.Minute {
		p.add("rpc.timeout", "must be between 0 and 1m")
	}
	if r.MaxResponseBytes < 0 || r.MaxResponseBytes > 16<<20 {
		p.add("rpc.max_response_bytes", "must be between 1 and 16777216")
	}
	if r.MaxConcurrent < 0 || r.MaxConcurrent > 1024 {
		p.add("rpc.max_concurrent", "must be between 1 and 1024")
	}
}

func (a *API) check(p *problems) {
	checkKeys(p, "api.keys_env", a.Keys)
	if a.MaxBodyBytes < 0 || a.MaxBodyBytes > 64<<20 {
		p.add("api.max_body_bytes", "must be between 1 and 67108864")
	}
}

func (c *Compression) check(p *problems) {
	if c.ThresholdBytes < 0 || c.ThresholdBytes > 16<<20 {
		p.add("compression.threshold_bytes", "must be between 0 and %d, not %d", 16<<20, c.ThresholdBytes)
	}
}
