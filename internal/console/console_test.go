package console

import (
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRingBounds(t *testing.T) {
	r := NewRing(ringSize)
	const n = ringSize + 500
	for i := range n {
		r.Add(Event{Reason: []string{"origin", "token"}[i%2], RequestID: strconv.Itoa(i)})
	}
	all := r.Newest(n, "")
	if len(all) != ringSize || all[0].RequestID != strconv.Itoa(n-1) || all[ringSize-1].RequestID != strconv.Itoa(n-ringSize) {
		t.Fatalf("kept %d, newest %s, oldest %s", len(all), all[0].RequestID, all[len(all)-1].RequestID)
	}
	if got := r.Newest(5, "token"); len(got) != 5 || got[0].RequestID != strconv.Itoa(n-1) || got[1].RequestID != strconv.Itoa(n-3) {
		t.Fatalf("filtered: %+v", got)
	}
	if c := r.Counts(); c["origin"] != n/2 || c["token"] != n/2 {
		t.Fatalf("counts %v: every event counts, kept or not", c)
	}
	p, lost := r.Take()
	if len(p) != maxPending || lost != n-maxPending {
		t.Fatalf("pending %d, lost %d", len(p), lost)
	}
	if p, lost = r.Take(); len(p) != 0 || lost != 0 {
		t.Fatalf("second Take: %d, %d", len(p), lost)
	}
}

// Events carry fixed phrases, never what a token's error or a panic said.
func TestClassifyKeepsNoSecrets(t *testing.T) {
	secret := "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.c2ln"
	tests := []struct {
		event  string
		attrs  map[string]string
		reason string
		detail string
	}{
		{"handshake_rejected", map[string]string{"code": "unauthorized", "reason": "token rejected: bad " + secret}, "token", "token rejected"},
		{"handshake_rejected", map[string]string{"code": "unauthorized", "reason": "token rejected: expired"}, "token", "token expired"},
		{"handshake_rejected", map[string]string{"code": "unavailable", "reason": "connection limiter: dial tcp 10.0.0.1:6379 " + secret}, "unavailable", "connection limiter unavailable"},
		{"handshake_rejected", map[string]string{"code": "csrf_failed", "reason": "csrf " + secret}, "csrf", "csrf check failed"},
		{"handshake_rejected", map[string]string{"code": "rate_limited", "reason": "handshakes_per_ip_per_minute"}, "limits", "handshakes_per_ip_per_minute"},
		{"limit_hit", map[string]string{"limit": "violations"}, "violations", "too many violations"},
		{"limit_hit", map[string]string{"limit": "rate_abuse"}, "rate_limit", "rate limit abuse"},
		{"panic", map[string]string{"where": "command"}, "panic", "contained in command"},
		{"token_expired", map[string]string{"user": "ann"}, "token_expired", ""},
		{"handshake_rejected", map[string]string{"code": "forbidden", "reason": "connect hook denied"}, "hook_denied", "connect hook denied"},
		{"handshake_rejected", map[string]string{"code": "unavailable", "reason": "connect hook failed: dial " + secret}, "unavailable", "connect hook failed"},
		{"hook_denied", map[string]string{"code": "forbidden", "reason": "publish hook denied"}, "hook_denied", "publish hook denied"},
		{"slow_consumer", map[string]string{"client": "c1"}, "slow_consumer", ""},
		{"console_refused", map[string]string{"status": "401", "code": "unauthorized", "reason": "no console session"}, "console_login", "console request without a session"},
		{"console_refused", map[string]string{"status": "403", "code": "csrf_failed", "reason": "csrf token missing or wrong"}, "csrf", "console csrf token missing or wrong"},
		{"console_refused", map[string]string{"status": "403", "code": "forbidden", "reason": "cross-origin console request"}, "origin", "cross-origin console request"},
	}
	for _, tt := range tests {
		e, ok := classify(tt.event, tt.attrs)
		if !ok || e.Reason != tt.reason || e.Detail != tt.detail {
			t.Errorf("%s %v: %+v, want %s %q", tt.event, tt.attrs, e, tt.reason, tt.detail)
		}
		if strings.Contains(e.Detail, secret) || strings.Contains(e.Detail, "10.0.0.1") {
			t.Errorf("%s: detail %q leaks", tt.event, e.Detail)
		}
	}
	if _, ok := classify("connection_opened", nil); ok {
		t.Error("connection_opened is not a security event")
	}
	if _, ok := classify("api_refused", map[string]string{"status": "404"}); ok {
		t.Error("a 404 of the API is not a security event")
	}
	if _, ok := classify("console_refused", map[string]string{"status": "503", "code": "unavailable"}); ok {
		t.Error("a console call the server could not serve is not a security event")
	}
	long, _ := classify("handshake_rejected", map[string]string{"code": "origin_refused", "origin": strings.Repeat("x", 5000)})
	if len(long.Detail) > maxField {
		t.Errorf("detail of %d bytes", len(long.Detail))
	}
}

// The tap sees Info lines even when the log's level is Warn, reads the
// event whatever its attribute's position, and hands on only what the
// log wants.
func TestTap(t *testing.T) {
	var out strings.Builder
	c := New(Options{Node: "n1"})
	log := slog.New(c.Tap(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn})))
	log.Info("handshake rejected", "ip", "192.0.2.1", "event", "handshake_rejected", "code", "origin_refused", "origin", "https://evil.example")
	log.Info("connection opened", "event", "connection_opened")
	log.Warn("slow consumer", "event", "slow_consumer", "client", "c9")
	evs := c.ring.Newest(10, "")
	if len(evs) != 2 || evs[1].Reason != "origin" || evs[1].IP != "192.0.2.1" || evs[1].Node != "n1" || evs[0].Client != "c9" {
		t.Fatalf("events %+v", evs)
	}
	if strings.Contains(out.String(), "handshake rejected") || !strings.Contains(out.String(), "slow consumer") {
		t.Fatalf("log got %q: want only the warn line", out.String())
	}
}

func TestSessionsExpireAndBound(t *testing.T) {
	now := time.Unix(1000, 0)
	s := newSessions(func() time.Time { return now })
	a, _ := s.create("a", time.Minute, 2)
	b, _ := s.create("b", 2*time.Minute, 2)
	if s.get(a) == nil || s.get(b) == nil || s.get("") != nil || s.get(a+"x") != nil {
		t.Fatal("lookup")
	}
	c, _ := s.create("c", 3*time.Minute, 2)
	if s.get(a) != nil || s.get(b) == nil || s.get(c) == nil || s.count() != 2 {
		t.Fatal("the third login must end the session closest to its end, and only it")
	}
	now = now.Add(2 * time.Minute)
	if s.get(b) != nil || s.get(c) == nil {
		t.Fatal("expiry")
	}
	s.end(c)
	if s.get(c) != nil || s.count() != 0 {
		t.Fatal("end")
	}
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		origin, site string
		ok           bool
	}{
		{"http://admin.test", "", true},
		{"http://admin.test", "same-origin", true},
		{"", "same-origin", true},
		{"", "", false},
		{"http://evil.test", "", false},
		{"https://admin.test", "", false},
		{"http://admin.test", "same-site", false},
		{"", "cross-site", false},
		{"null", "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "http://admin.test/console/api/drain", nil)
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		if tt.site != "" {
			r.Header.Set("Sec-Fetch-Site", tt.site)
		}
		if got := sameOrigin(r); got != tt.ok {
			t.Errorf("Origin %q, Sec-Fetch-Site %q: %v", tt.origin, tt.site, got)
		}
	}
}

func TestReserved(t *testing.T) {
	for ch, want := range map[string]bool{"rampart.console:stats": true, "rampart.console:": true, "rampart.consol": false, "chat:rampart.console:x": false} {
		if Reserved(ch) != want {
			t.Errorf("Reserved(%q) != %v", ch, want)
		}
	}
}

// BenchmarkTap is the cost a log line pays for the console: a line that
// is not a security event, and one that is.
func BenchmarkTap(b *testing.B) {
	c := New(Options{Node: "n1"})
	log := slog.New(c.Tap(slog.DiscardHandler))
	b.Run("other", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			log.Info("connection opened", "event", "connection_opened", "request_id", "r-1", "client", "c", "user", "u", "ip", "192.0.2.1")
		}
	})
	b.Run("security", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			log.Info("handshake rejected", "event", "handshake_rejected", "status", 403, "code", "origin_refused",
				"reason", "origin not allowed", "request_id", "r-1", "ip", "192.0.2.1", "origin", "https://evil.example")
		}
	})
}
