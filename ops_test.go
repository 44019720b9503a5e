package rampart

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-rt/rampart/internal/wstest"
	"github.com/rampart-rt/rampart/policy"
)

// logBuffer collects a server's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// events returns every log line as a map.
func (l *logBuffer) events(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("a log line is not one JSON object: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func (l *logBuffer) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// find returns the first event with name whose fields include want.
func (l *logBuffer) find(t *testing.T, name string, want map[string]any) map[string]any {
	t.Helper()
	for _, e := range l.events(t) {
		if e["event"] != name {
			continue
		}
		ok := true
		for k, v := range want {
			if v == nil {
				if _, has := e[k]; !has {
					ok = false
				}
			} else if fmt.Sprint(e[k]) != fmt.Sprint(v) {
				ok = false
			}
		}
		if ok {
			return e
		}
	}
	t.Fatalf("no %s event with %v in the log:\n%s", name, want, l.text())
	return nil
}

func TestAuditLog(t *testing.T) {
	logs := &logBuffer{}
	csrf := "csrf-value-0123456789"
	s := startServer(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		c.API.Keys = []string{apiKeyA}
		c.Auth.Cookie.Name = "session"
		c.Auth.RefreshWindow = 30 * time.Second
		c.Auth.Leeway = time.Millisecond
		c.Limits.MaxViolations = 2
		c.Limits.SendQueue = 4
		c.Channels = append([]policy.Rule{{Pattern: "audited:*", Subscribe: []string{"*"}, Publish: []string{"*"}, Audit: true}}, c.Channels...)
	})
	secrets := []string{apiKeyA, csrf}
	keep := func(tok string) string { secrets = append(secrets, tok); return tok }

	// Rejected handshakes: a bad token, a cookie session with the wrong csrf.
	bad := keep(token(t, "mallory") + "x")
	_, resp, err := s.dialRaw(t, s.request(bad), wstest.Options{})
	expectRefused(t, resp, err, 401, "unauthorized")
	cookieTok := keep(mint(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "carol", "exp": time.Now().Add(time.Hour).Unix(), "csrf": csrf}))
	req := s.request("")
	req.Path = "/ws?csrf=wrong-" + csrf[:4]
	req.Header.Set("Cookie", "session="+cookieTok)
	req.Header.Set("User-Agent", "audit-test/1")
	_, resp, err = s.dialRaw(t, req, wstest.Options{})
	expectRefused(t, resp, err, 403, "csrf_failed")

	// A connection that is denied, refreshes, publishes to an audited
	// channel, then breaks the rules until it is closed.
	a := s.dial(t, keep(token(t, "alice", "user")))
	a.fails("subscribe", `"channel":"secret"`, "forbidden")
	a.ok("refresh", fmt.Sprintf(`"token":%q`, keep(token(t, "alice", "user"))))
	a.publish("audited:x", `{"body":"do-not-log-this-body"}`)
	a.send(`{"id":90,"action":"nope"}`)
	a.send(`{"id":91,"action":"nope"}`)
	a.expectClose(1008)

	// Expiry and a slow consumer.
	short := s.dial(t, keep(mint(t, jwt.SigningMethodHS256, testSecret, claims("bob", time.Second))))
	slow := s.dial(t, keep(token(t, "sam")))
	slow.subscribe("chat:flood")
	pub := s.dial(t, keep(token(t, "pat")))
	big := `"` + strings.Repeat("y", 12000) + `"`
	for i := 0; i < 3000 && !strings.Contains(logs.text(), `"slow_consumer"`); i++ {
		pub.publish("chat:flood", big)
	}
	_ = short
	waitFor(t, "expiry and slow consumer events", func() bool {
		txt := logs.text()
		return strings.Contains(txt, `"token_expired"`) && strings.Contains(txt, `"slow_consumer"`)
	})

	// Internal error detail only in the log, under the id the client saw.
	status, _, _ := s.apiCall(t, "POST", "/api/publish", "", `{}`)
	if status != 401 {
		t.Fatalf("api without key: %d", status)
	}
	waitFor(t, "connections to close", func() bool { return strings.Count(logs.text(), `"connection_closed"`) >= 2 })

	logs.find(t, "handshake_rejected", map[string]any{"status": 401, "code": "unauthorized", "ip": "127.0.0.1", "request_id": nil, "reason": nil, "user_agent": nil, "origin": nil})
	logs.find(t, "handshake_rejected", map[string]any{"status": 403, "code": "csrf_failed", "user_agent": "audit-test/1"})
	logs.find(t, "connection_opened", map[string]any{"user": "alice", "client": a.welcome.Client, "ip": "127.0.0.1", "request_id": nil, "origin": nil})
	logs.find(t, "connection_closed", map[string]any{"user": "alice", "code": 1008, "duration_ms": nil, "messages_in": nil, "messages_out": nil, "reason": nil})
	logs.find(t, "authz_denied", map[string]any{"user": "alice", "action": "subscribe"})
	logs.find(t, "token_refreshed", map[string]any{"user": "alice"})
	logs.find(t, "limit_hit", map[string]any{"limit": "violations", "client": a.welcome.Client, "user": "alice"})
	logs.find(t, "publish_audit", map[string]any{"channel": "audited:x", "user": "alice", "bytes": nil})
	logs.find(t, "token_expired", map[string]any{"user": "bob"})
	logs.find(t, "slow_consumer", map[string]any{"client": slow.welcome.Client, "user": "sam"})
	logs.find(t, "api_refused", map[string]any{"status": 401, "code": "unauthorized"})

	all := logs.text()
	if strings.Contains(all, "do-not-log-this-body") {
		t.Fatal("an audited publish logged its body")
	}
	for _, secret := range secrets {
		if strings.Contains(all, secret) || strings.Contains(all, secret[len(secret)-20:]) {
			t.Fatalf("a secret reached the log: %.12s...", secret)
		}
	}
}

func TestInternalErrorDetailOnlyInLog(t *testing.T) {
	logs := &logBuffer{}
	var calls = new(int)
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*calls++
		fmt.Fprint(w, `not json: detail-for-the-log-only`)
	})
	backendSrv := httptest.NewServer(backend)
	t.Cleanup(backendSrv.Close)
	srv := backendSrv.URL
	s := startServer(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		c.RPC = RPC{URL: srv, Methods: map[string][]string{"m": {"*"}}}
	})
	u := s.dial(t, token(t, "alice"))
	e := u.fails("rpc", `"method":"m"`, "internal")
	if e.Message != "internal error" {
		t.Fatalf("internal error message %q", e.Message)
	}
	ev := logs.find(t, "internal_error", map[string]any{"request_id": e.RequestID})
	if !strings.Contains(fmt.Sprint(ev["error"]), "not JSON") {
		t.Fatalf("the log line lacks the detail: %v", ev)
	}
}

// metricValue reads one sample from /metrics.
func metricValue(t *testing.T, s *testServer, name string) float64 {
	t.Helper()
	resp, err := http.Get(s.ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, name+" ") {
			var v float64
			fmt.Sscanf(strings.TrimPrefix(line, name+" "), "%g", &v)
			return v
		}
	}
	return 0
}

func TestMetricsMove(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := startServer(t, func(c *Config) {
		c.Registry = reg
		c.Limits.Burst = 2
		c.Limits.MessagesPerMinute = 1
	})
	if v := metricValue(t, s, "rampart_connections"); v != 0 {
		t.Fatalf("connections at start: %v", v)
	}
	a := s.dial(t, token(t, "alice"))
	b := s.dial(t, token(t, "bob"))
	if v := metricValue(t, s, "rampart_connections"); v != 2 {
		t.Fatalf("connections: %v", v)
	}
	if v := metricValue(t, s, `rampart_handshakes_total{reason="ok",result="accepted"}`); v != 2 {
		t.Fatalf("accepted handshakes: %v", v)
	}
	_, resp, err := s.dialRaw(t, s.request(""), wstest.Options{})
	expectRefused(t, resp, err, 401, "unauthorized")
	if v := metricValue(t, s, `rampart_handshakes_total{reason="unauthorized",result="rejected"}`); v != 1 {
		t.Fatalf("rejected handshakes: %v", v)
	}
	a.ok("ping", "")
	a.ok("ping", "")
	a.fails("ping", "", "rate_limited")
	if v := metricValue(t, s, `rampart_rate_limited_total{kind="command"}`); v != 1 {
		t.Fatalf("rate limited: %v", v)
	}
	if v := metricValue(t, s, `rampart_commands_total{action="ping",result="ok"}`); v != 2 {
		t.Fatalf("commands ok: %v", v)
	}
	a.ws.WriteClose(1000, "bye")
	b.ws.WriteClose(4321, "custom")
	s.waitConnections(t, 0)
	if v := metricValue(t, s, `rampart_closes_total{code="1000"}`); v != 1 {
		t.Fatalf("closes 1000: %v", v)
	}
	if v := metricValue(t, s, `rampart_closes_total{code="other"}`); v != 1 {
		t.Fatalf("closes other: %v", v)
	}
	if v := metricValue(t, s, "rampart_connections"); v != 0 {
		t.Fatalf("connections after close: %v", v)
	}
}

func TestReloadKeepsConnections(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.Origins = Origins{Allow: []string{"https://old.example"}}
	})
	req := s.request(token(t, "alice", "user"))
	req.Header.Set("Origin", "https://old.example")
	a := s.dialWith(t, req, wstest.Options{})
	a.subscribe("news:a")
	a.subscribe("chat:a")

	cfg := s.s.cfg
	cfg.Origins = Origins{Allow: []string{"https://new.example"}}
	cfg.Limits.MaxSubscriptions = 3
	cfg.Channels = []policy.Rule{{Pattern: "chat:*", Subscribe: []string{"*"}, Publish: []string{"*"}, History: policy.History{Size: 5}}}
	if err := s.s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	// The rule for news:* is gone: the subscription is removed at once.
	p := a.nextPush()
	if p.Push != "unsubscribe" || p.Channel != "news:a" {
		t.Fatalf("want an unsubscribe push for news:a, got %s", p.raw)
	}
	a.publish("chat:a", `"still here"`)
	if p := a.nextPush(); p.Channel != "chat:a" {
		t.Fatalf("chat delivery after reload: %s", p.raw)
	}
	_, resp, err := s.dialRaw(t, req, wstest.Options{})
	expectRefused(t, resp, err, 403, "origin_refused")
	req.Header.Set("Origin", "https://new.example")
	s.dialWith(t, req, wstest.Options{})

	// An invalid configuration is refused and the old one stays.
	broken := cfg
	broken.Limits.MaxMessageBytes = 10
	broken.Origins = Origins{Allow: []string{"https://other.example"}}
	if err := s.s.Reload(broken); err == nil || !strings.Contains(err.Error(), "limits.max_message_bytes") {
		t.Fatalf("want the invalid config refused, got %v", err)
	}
	s.dialWith(t, req, wstest.Options{})
	a.ok("ping", "")
}

func TestDrain(t *testing.T) {
	s := startServer(t, func(c *Config) { c.API.Keys = []string{apiKeyA} })
	var conns []*client
	for i := 0; i < 5; i++ {
		conns = append(conns, s.dial(t, token(t, fmt.Sprintf("u%d", i))))
	}
	if status, _, _ := s.apiCall(t, "POST", "/admin/drain?window=500ms", apiKeyB, ""); status != 401 {
		t.Fatalf("drain without a valid key: %d", status)
	}
	start := time.Now()
	status, body, _ := s.apiCall(t, "POST", "/admin/drain?window=500ms", apiKeyA, "")
	if status != 202 || body["draining"] != true {
		t.Fatalf("drain: %d %v", status, body)
	}
	if status, _, _ := s.apiCall(t, "GET", "/readyz", "", ""); status != 503 {
		t.Fatalf("readyz while draining: %d", status)
	}
	_, resp, err := s.dialRaw(t, s.request(token(t, "late")), wstest.Options{})
	expectRefused(t, resp, err, 503, "unavailable")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	for _, c := range conns {
		c.expectClose(1001)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("closing took %v, window was 500ms", took)
	}
	s.waitConnections(t, 0)
}
