package rampart

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rampart-rt/rampart/internal/wstest"
	"github.com/rampart-rt/rampart/policy"
)

// A realistic session through every token carrier, the API and the usual
// failures leaves the events in the log, and no token, cookie, CSRF value or
// API key, not even 20 characters of one.
func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	wrongKey := "key-z-" + rand.Text()
	s := startServer(t, func(c *Config) {
		c.Logger = logger
		c.Origins = Origins{Allow: []string{appOrigin}, AllowMissing: true}
		c.Auth.Cookie.Name = "session"
		c.Auth.Sources = []string{SourceHeader, SourceSubprotocol, SourceCookie, SourceQuery}
		c.API.Keys = []string{apiKeyA, apiKeyB}
		c.Channels = append([]policy.Rule{{Pattern: "audited:*", Subscribe: []string{"*"}, Publish: []string{"*"}, Audit: true, History: policy.History{Size: 10}}}, c.Channels...)
	})
	// A second server with the default sources: a query token is refused.
	plain := startServer(t, func(c *Config) { c.Logger = logger })

	secrets := []string{string(testSecret), apiKeyA, apiKeyB, wrongKey}
	keep := func(s string) string { secrets = append(secrets, s); return s }
	csrf := keep(rand.Text())
	session := keep(mint(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "carol", "exp": time.Now().Add(time.Hour).Unix(), "csrf": csrf}))

	// Bearer header: subscribe, publish, refresh, a refused refresh, a
	// forbidden action.
	alice := s.dial(t, keep(token(t, "alice", "user")))
	alice.subscribe("audited:room")
	alice.publish("audited:room", `{"body":"hello"}`)
	alice.ok("refresh", fmt.Sprintf(`"token":%q`, keep(token(t, "alice", "user"))))
	alice.fails("refresh", fmt.Sprintf(`"token":%q`, keep(token(t, "alice")+"x")), "unauthorized")
	expired := keep(mint(t, jwt.SigningMethodHS256, testSecret, claims("alice", -time.Hour)))
	alice.fails("refresh", fmt.Sprintf(`"token":%q`, expired), "unauthorized")
	alice.fails("subscribe", `"channel":"secret"`, "forbidden")

	// Subprotocol carrier.
	req := s.request("")
	req.Header.Set("Sec-WebSocket-Protocol", "rampart.v1, rampart.bearer."+keep(token(t, "bob")))
	bob := s.dialWith(t, req, wstest.Options{})
	bob.ok("ping", "")

	// Cookie and CSRF, right and wrong.
	cookieReq := func(csrfParam string) *wstest.Request {
		r := s.browserRequest("", appOrigin)
		r.Header.Set("Cookie", "session="+session)
		if csrfParam != "" {
			r.Path = "/ws?csrf=" + url.QueryEscape(csrfParam)
		}
		return r
	}
	carol := s.dialWith(t, cookieReq(csrf), wstest.Options{})
	carol.subscribe("audited:room")
	s.refusedWith(t, cookieReq(keep(rand.Text())), 403, "csrf_failed")
	s.refusedWith(t, cookieReq(""), 403, "csrf_failed")
	r := cookieReq(csrf)
	r.Header.Set("Origin", evilOrigin)
	s.refusedWith(t, r, 403, "origin_refused")

	// Query token, where enabled and where not; and on a path that does
	// not exist.
	r = s.request("")
	r.Path = "/ws?token=" + keep(token(t, "dave")) + "&csrf=" + csrf
	dave := s.dialWith(t, r, wstest.Options{})
	dave.ok("ping", "")
	r = s.request("")
	r.Path = "/ws?token=" + keep(token(t, "dave")+"x")
	s.refusedWith(t, r, 401, "unauthorized")
	r = plain.request("")
	r.Path = "/ws?token=" + keep(token(t, "erin"))
	plain.refusedWith(t, r, 401, "unauthorized")
	r = plain.request("")
	r.Path = "/nowhere?token=" + keep(token(t, "erin")) + "&api_key=" + apiKeyA
	plain.refusedWith(t, r, 404, "not_found")

	// Forged and foreign bearer tokens.
	s.refusedWith(t, s.request(keep(token(t, "mallory")+"x")), 401, "unauthorized")
	s.refusedWith(t, s.request(keep(mint(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef-0123456789"), claims("mallory", time.Hour)))), 401, "unauthorized")
	req = s.request("")
	req.Header.Set("Sec-WebSocket-Protocol", "rampart.v1, rampart.bearer."+keep(token(t, "bob")+"x"))
	s.refusedWith(t, req, 401, "unauthorized")

	// The HTTP API: accepted and refused keys.
	if status, body, _ := s.apiCall(t, "POST", "/api/publish", apiKeyA, `{"channel":"audited:room","data":{"body":"from the api"}}`); status != 200 {
		t.Fatalf("api publish: %d %v", status, body)
	}
	if status, _, _ := s.apiCall(t, "GET", "/api/history?channel=audited:room", apiKeyB, ""); status != 200 {
		t.Fatalf("api history: %d", status)
	}
	if status, _, _ := s.apiCall(t, "POST", "/api/publish", wrongKey, `{"channel":"audited:room","data":1}`); status != 401 {
		t.Fatalf("wrong key: %d", status)
	}
	if status, _, _ := s.apiCall(t, "GET", "/api/history?channel=audited:room&key="+apiKeyA, "", ""); status != 401 {
		t.Fatalf("key in the query: %d", status)
	}

	// A refresh with another user's token closes with 1008; the rest close
	// normally.
	bob.send(fmt.Sprintf(`{"id":50,"action":"refresh","token":%q}`, keep(token(t, "alice"))))
	bob.expectClose(1008)
	for _, c := range []*client{alice, carol, dave} {
		_ = c.ws.WriteClose(1000, "bye")
		c.expectClose(1000)
	}
	s.waitConnections(t, 0)

	// The events are there.
	for _, want := range []struct {
		event  string
		fields map[string]any
	}{
		{"connection_opened", map[string]any{"user": "alice"}},
		{"connection_opened", map[string]any{"user": "bob"}},
		{"connection_opened", map[string]any{"user": "carol", "origin": appOrigin}},
		{"connection_opened", map[string]any{"user": "dave"}},
		{"publish_audit", map[string]any{"user": "alice", "channel": "audited:room"}},
		{"publish_audit", map[string]any{"client": "api", "channel": "audited:room"}},
		{"token_refreshed", map[string]any{"user": "alice"}},
		{"token_refresh_failed", map[string]any{"reason": "expired"}},
		{"token_refresh_failed", map[string]any{"user": "bob"}},
		{"authz_denied", map[string]any{"user": "alice"}},
		{"handshake_rejected", map[string]any{"code": "csrf_failed", "status": 403}},
		{"handshake_rejected", map[string]any{"code": "origin_refused", "origin": evilOrigin}},
		{"handshake_rejected", map[string]any{"code": "unauthorized", "status": 401, "path": "/ws"}},
		{"handshake_rejected", map[string]any{"code": "not_found", "path": "/nowhere"}},
		{"api_refused", map[string]any{"status": 401}},
		{"connection_closed", map[string]any{"user": "bob", "code": 1008}},
		{"connection_closed", map[string]any{"user": "carol", "code": 1000}},
	} {
		logs.find(t, want.event, want.fields)
	}

	// And nothing secret is.
	text := logs.text()
	for _, secret := range secrets {
		if i := strings.Index(text, secret); i >= 0 {
			t.Fatalf("a secret is in the log: %q", lineAt(text, i))
		}
		for i := 0; i+20 <= len(secret); i++ {
			if j := strings.Index(text, secret[i:i+20]); j >= 0 {
				t.Fatalf("20 characters of a secret (%q) are in the log: %q", secret[i:i+20], lineAt(text, j))
			}
		}
	}
	for _, forbidden := range []string{"csrf=", "token="} {
		if i := strings.Index(text, forbidden); i >= 0 {
			t.Fatalf("%q is in the log: %q", forbidden, lineAt(text, i))
		}
	}
}

// lineAt returns the log line around index i.
func lineAt(text string, i int) string {
	start := strings.LastIndexByte(text[:i], '\n') + 1
	end := strings.IndexByte(text[i:], '\n')
	if end < 0 {
		return text[start:]
	}
	return text[start : i+end]
}
