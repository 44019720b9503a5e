package rampart

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/internal/console"
	"github.com/rampart-rt/rampart/internal/wstest"
	"github.com/rampart-rt/rampart/policy"
	"github.com/rampart-rt/rampart/protocol"
)

// The web admin console on the admin listener: its login, session cookie,
// CSRF checks, the rate limit of its logins, its reserved channels and its
// actions, against a real server and a real admin listener.

var consoleKey = rememberSecret("console-admin-key-0123456789abcdef")

type consoleServer struct {
	*testServer
	admin *httptest.Server
}

// startConsole starts a server with the console on, its admin handler on
// a listener of its own, and a rule granting every channel to everyone.
func startConsole(t *testing.T, edit func(*Config)) *consoleServer {
	t.Helper()
	ts := startServer(t, func(c *Config) {
		c.Console.Enabled = true
		c.API.Keys = []string{consoleKey}
		c.AdminSeparate = true
		c.Channels = append(append([]policy.Rule{}, testRules...), policy.Rule{Pattern: "*", Subscribe: []string{"*"}, Publish: []string{"*"}})
		if edit != nil {
			edit(c)
		}
	})
	admin := httptest.NewServer(ts.s.AdminHandler())
	t.Cleanup(admin.Close)
	return &consoleServer{testServer: ts, admin: admin}
}

// consoleSession is a logged-in admin: the cookie and the CSRF token.
type consoleSession struct {
	cookie *http.Cookie
	csrf   string
}

// post sends a console request with the page's headers (its origin, its
// CSRF token) changed by edit.
func (cs *consoleServer) post(t testing.TB, path, body string, s *consoleSession, edit func(http.Header)) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, cs.admin.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", cs.admin.URL)
	if s != nil {
		req.AddCookie(s.cookie)
		req.Header.Set(console.CSRFHeader, s.csrf)
	}
	if edit != nil {
		edit(req.Header)
	}
	return do(t, cs.admin.Client(), req)
}

func do(t testing.TB, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (cs *consoleServer) login(t testing.TB) *consoleSession {
	t.Helper()
	resp, body := cs.post(t, "/console/api/login", `{"key":"`+consoleKey+`"}`, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	var v struct{ CSRF string }
	if err := json.Unmarshal(body, &v); err != nil || v.CSRF == "" {
		t.Fatalf("login body %s: %v", body, err)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("login set %d cookies", len(cookies))
	}
	rememberSecret(cookies[0].Value)
	return &consoleSession{cookie: cookies[0], csrf: rememberSecret(v.CSRF)}
}

// expectAPIError checks the JSON error body the API and the handshake use.
func expectAPIError(t *testing.T, resp *http.Response, body []byte, status int, code protocol.Code) {
	t.Helper()
	var e protocol.APIError
	if resp.StatusCode != status || json.Unmarshal(body, &e) != nil || e.Error != code ||
		e.RequestID == "" || e.RequestID != resp.Header.Get("X-Request-Id") {
		t.Fatalf("got %d %s, want %d with {\"error\":%q} and the request id", resp.StatusCode, body, status, code)
	}
}

func TestConsoleLoginAndCookie(t *testing.T) {
	cs := startConsole(t, nil)
	resp, body := cs.post(t, "/console/api/login", `{"key":"not-the-key-not-the-key-000"}`, nil, nil)
	expectAPIError(t, resp, body, http.StatusUnauthorized, protocol.CodeUnauthorized)
	if len(resp.Cookies()) != 0 {
		t.Fatal("a refused login set a cookie")
	}
	resp, body = cs.post(t, "/console/api/login", `{"token":"`+token(t, "ann", "user")+`"}`, nil, nil)
	expectAPIError(t, resp, body, http.StatusUnauthorized, protocol.CodeUnauthorized) // no admin role

	s := cs.login(t)
	c := s.cookie
	if c.Name != "rampart_console" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure ||
		c.Path != "/" || c.MaxAge != 3600 {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, Max-Age=3600, not Secure on plain HTTP", c)
	}
	admin := cs.get(t, "/console/api/session", s)
	if !strings.Contains(admin, `"admin":"key:`) || strings.Contains(admin, consoleKey) {
		t.Fatalf("session %s: want the key's fingerprint, never the key", admin)
	}
	// A token with the admin role logs in too.
	resp, body = cs.post(t, "/console/api/login", `{"token":"`+token(t, "ops", "rampart-admin")+`"}`, nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"admin":"token:ops"`) {
		t.Fatalf("admin token login: %d %s", resp.StatusCode, body)
	}
	rememberSecret(resp.Cookies()[0].Value)

	resp, body = cs.post(t, "/console/api/logout", "", s, nil)
	if resp.StatusCode != http.StatusOK || resp.Cookies()[0].MaxAge >= 0 {
		t.Fatalf("logout: %d %s, cookies %v", resp.StatusCode, body, resp.Cookies())
	}
	req, _ := http.NewRequest(http.MethodGet, cs.admin.URL+"/console/api/session", nil)
	req.AddCookie(s.cookie)
	resp, body = do(t, cs.admin.Client(), req)
	expectAPIError(t, resp, body, http.StatusUnauthorized, protocol.CodeUnauthorized)
}

// get answers a console GET with s's cookie; it must succeed.
func (cs *consoleServer) get(t *testing.T, path string, s *consoleSession) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, cs.admin.URL+path, nil)
	req.AddCookie(s.cookie)
	resp, body := do(t, cs.admin.Client(), req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return string(body)
}

func TestConsoleTLSCookie(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Console.Enabled, c.API.Keys, c.AdminSeparate = true, []string{consoleKey}, true
	})
	admin := httptest.NewTLSServer(ts.s.AdminHandler())
	t.Cleanup(admin.Close)
	cs := &consoleServer{testServer: ts, admin: admin}
	c := cs.login(t).cookie
	if c.Name != "__Host-rampart_console" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie on TLS %+v: want __Host-, Secure, HttpOnly, SameSite=Strict", c)
	}
}

// Every state-changing request needs the session's CSRF token and the
// console's own origin.
func TestConsoleCSRF(t *testing.T) {
	cs := startConsole(t, nil)
	s := cs.login(t)
	tests := []struct {
		name   string
		edit   func(http.Header)
		status int
		code   protocol.Code
	}{
		{"no token", func(h http.Header) { h.Del(console.CSRFHeader) }, 403, protocol.CodeCSRFFailed},
		{"wrong token", func(h http.Header) { h.Set(console.CSRFHeader, "x"+s.csrf) }, 403, protocol.CodeCSRFFailed},
		{"other origin", func(h http.Header) { h.Set("Origin", "http://evil.example") }, 403, protocol.CodeForbidden},
		{"cross-site fetch", func(h http.Header) { h.Del("Origin"); h.Set("Sec-Fetch-Site", "cross-site") }, 403, protocol.CodeForbidden},
		{"neither origin nor fetch site", func(h http.Header) { h.Del("Origin") }, 403, protocol.CodeForbidden},
		{"two origins", func(h http.Header) { h.Add("Origin", cs.admin.URL) }, 403, protocol.CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := cs.post(t, "/console/api/disconnect", `{"user":"nobody"}`, s, tt.edit)
			expectAPIError(t, resp, body, tt.status, tt.code)
		})
	}
	resp, body := cs.post(t, "/console/api/disconnect", `{"user":"nobody"}`, s, func(h http.Header) {
		h.Del("Origin")
		h.Set("Sec-Fetch-Site", "same-origin")
	})
	if resp.StatusCode != http.StatusOK || string(body) != "{\"disconnected\":0}\n" {
		t.Fatalf("same-origin request: %d %s", resp.StatusCode, body)
	}
	// A login from another site is refused too (login CSRF).
	resp, body = cs.post(t, "/console/api/login", `{"key":"`+consoleKey+`"}`, nil, func(h http.Header) { h.Set("Origin", "http://evil.example") })
	expectAPIError(t, resp, body, http.StatusForbidden, protocol.CodeForbidden)
	// Each refusal is a security event: two wrong CSRF tokens, five
	// requests from elsewhere (the login among them).
	counts := cs.s.console.Events().Counts()
	if counts["csrf"] != 2 || counts["origin"] != 5 {
		t.Fatalf("console refusals counted %v, want csrf 2 and origin 5", counts)
	}
}

func TestConsoleLoginRateLimited(t *testing.T) {
	cs := startConsole(t, func(c *Config) { c.Console.LoginsPerIPPerMinute = 3 })
	for range 3 {
		resp, body := cs.post(t, "/console/api/login", `{"key":"wrong-wrong-wrong-wrong-wrong"}`, nil, nil)
		expectAPIError(t, resp, body, http.StatusUnauthorized, protocol.CodeUnauthorized)
	}
	// Past the budget even the right key waits.
	resp, body := cs.post(t, "/console/api/login", `{"key":"`+consoleKey+`"}`, nil, nil)
	expectAPIError(t, resp, body, http.StatusTooManyRequests, protocol.CodeRateLimited)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	// Handshakes from the same address are not counted with the logins.
	cs.dial(t, token(t, "ann"))
}

// The session store keeps at most console.max_sessions: a new login ends
// the oldest.
func TestConsoleSessionsBounded(t *testing.T) {
	cs := startConsole(t, func(c *Config) { c.Console.MaxSessions = 2 })
	first := cs.login(t)
	cs.login(t)
	cs.login(t)
	req, _ := http.NewRequest(http.MethodGet, cs.admin.URL+"/console/api/session", nil)
	req.AddCookie(first.cookie)
	resp, body := do(t, cs.admin.Client(), req)
	expectAPIError(t, resp, body, http.StatusUnauthorized, protocol.CodeUnauthorized)
}

// dialConsole opens the console's socket with s's session.
func (cs *consoleServer) dialConsole(t *testing.T, s *consoleSession, edit func(*wstest.Request)) (*client, *wstest.Response, error) {
	t.Helper()
	req := wstest.NewRequest("/console/ws?csrf=" + s.csrf)
	req.Header.Set("Sec-WebSocket-Protocol", "rampart.v1")
	req.Header.Set("Origin", cs.admin.URL)
	req.Header.Set("Cookie", s.cookie.Name+"="+s.cookie.Value)
	if edit != nil {
		edit(req)
	}
	ws, resp, err := wstest.Dial(context.Background(), strings.TrimPrefix(cs.admin.URL, "http://"), req, wstest.Options{})
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { _ = ws.Close() })
	c := &client{t: t, ws: ws}
	c.welcome = c.next()
	return c, resp, nil
}

// Only the console's own socket may subscribe to the reserved channels;
// nobody may publish there, not even the server-side API.
func TestConsoleChannelsReserved(t *testing.T) {
	cs := startConsole(t, nil)
	ordinary := cs.dial(t, token(t, "mallory", "rampart-admin", "admin"))
	for _, ch := range []string{console.StatsChannel, console.EventsChannel, console.ChannelPrefix + "x"} {
		ordinary.fails("subscribe", `"channel":"`+ch+`"`, "forbidden")
		ordinary.fails("publish", `"channel":"`+ch+`","data":{"fake":1}`, "forbidden")
		ordinary.fails("history", `"channel":"`+ch+`"`, "forbidden")
		ordinary.fails("presence", `"channel":"`+ch+`"`, "forbidden")
		if _, err := cs.s.Publish(context.Background(), ch, []byte(`{}`), PublishOptions{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Publish(%s) = %v, want not_found", ch, err)
		}
		if _, err := cs.s.Subscribe(context.Background(), Target{User: "mallory"}, ch); !errors.Is(err, ErrNotFound) {
			t.Errorf("Subscribe(%s) = %v, want not_found", ch, err)
		}
	}

	s := cs.login(t)
	for name, edit := range map[string]func(*wstest.Request){
		"no csrf":      func(r *wstest.Request) { r.Path = "/console/ws" },
		"other origin": func(r *wstest.Request) { r.Header.Set("Origin", "http://evil.example") },
		"no session":   func(r *wstest.Request) { r.Header.Del("Cookie") },
	} {
		if _, resp, err := cs.dialConsole(t, s, edit); err == nil || resp == nil || resp.StatusCode < 400 {
			t.Errorf("%s: the console socket was admitted (%v)", name, err)
		}
	}
	c, _, err := cs.dialConsole(t, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.subscribe(console.StatsChannel)
	c.fails("publish", `"channel":"`+console.StatsChannel+`","data":{}`, "forbidden")
	var stats console.NodeStats
	for stats.Node == "" {
		m := c.next()
		if m.Push == "publication" && m.Channel == console.StatsChannel {
			if err := json.Unmarshal(m.Data, &stats); err != nil {
				t.Fatal(err)
			}
		}
	}
	if stats.Connections < 2 || stats.Sessions != 1 {
		t.Fatalf("stats %+v: want both connections and one session", stats)
	}
}

// A refused handshake reaches the console's events within the flush, and
// the ring counts every refusal even when the log drops lines.
func TestConsoleEventsCountSuppressed(t *testing.T) {
	cs := startConsole(t, func(c *Config) { c.Origins = Origins{Allow: []string{"https://app.example"}} })
	s := cs.login(t)
	c, _, err := cs.dialConsole(t, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.subscribe(console.EventsChannel)
	const n = logBurst + 50
	for range n {
		req := cs.request(token(t, "eve"))
		req.Header.Set("Origin", "https://evil.example")
		_, resp, err := cs.dialRaw(t, req, wstest.Options{})
		expectRefused(t, resp, err, http.StatusForbidden, "origin_refused")
	}
	if got := cs.s.console.Events().Counts()["origin"]; got != n {
		t.Fatalf("origin refusals counted %d, want %d", got, n)
	}
	var e console.Event
	for e.Reason != "origin" {
		m := c.next()
		var ev console.NodeEvents
		if m.Push == "publication" && m.Channel == console.EventsChannel {
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				t.Fatal(err)
			}
		}
		for _, x := range ev.Events {
			if x.Reason == "origin" {
				e = x
				break
			}
		}
	}
	if e.Reason != "origin" || e.Code != "origin_refused" || e.IP != "127.0.0.1" || e.RequestID == "" || e.Detail != "origin https://evil.example" {
		t.Fatalf("event %+v", e)
	}
}

// Disconnecting a user from the console closes the user's sockets with
// 4000, and the action is an audit event with the admin and the request id.
func TestConsoleDisconnectAudit(t *testing.T) {
	cs := startConsole(t, nil)
	victim := cs.dial(t, token(t, "victor"))
	s := cs.login(t)
	resp, body := cs.post(t, "/console/api/disconnect", `{"user":"victor"}`, s, nil)
	if resp.StatusCode != http.StatusOK || string(body) != "{\"disconnected\":1}\n" {
		t.Fatalf("disconnect: %d %s", resp.StatusCode, body)
	}
	victim.expectClose(console.ClosedByAdmin)
	rid := resp.Header.Get("X-Request-Id")
	var audit *console.Event
	for _, e := range cs.s.console.Events().Newest(10, "admin_action") {
		if e.Event == "console_disconnect" {
			audit = &e
			break
		}
	}
	if audit == nil || audit.RequestID != rid || !strings.HasPrefix(audit.User, "key:") || audit.Detail != "user victor: 1 connections" {
		t.Fatalf("audit event %+v, want the disconnect with request id %s", audit, rid)
	}
	resp, body = cs.post(t, "/console/api/drain", `{"window":"2h"}`, s, nil)
	expectAPIError(t, resp, body, http.StatusBadRequest, protocol.CodeBadRequest)
	resp, _ = cs.post(t, "/console/api/drain", `{"window":"10ms"}`, s, nil)
	if resp.StatusCode != http.StatusAccepted || !cs.s.Draining() {
		t.Fatalf("drain: %d, draining %v", resp.StatusCode, cs.s.Draining())
	}
}

// The console's pages run under the demo's strict policy.
func TestConsolePagesHeaders(t *testing.T) {
	cs := startConsole(t, nil)
	for _, path := range []string{"/console/", "/console/static/console.js", "/console/static/console.css", "/console/static/rampart.js"} {
		resp, err := cs.admin.Client().Get(cs.admin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != 200 || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") ||
			!strings.Contains(csp, "frame-ancestors 'none'") || resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
			resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: %d, CSP %q, headers %v", path, resp.StatusCode, csp, resp.Header)
		}
	}
	// Off by default: the admin listener has no console.
	ts := startServer(t, func(c *Config) { c.AdminSeparate = true })
	rec := httptest.NewRecorder()
	ts.s.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/console/", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("console off: %d", rec.Code)
	}
	// And it is never served on the main listener.
	resp, err := http.Get(cs.ts.URL + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("console on the main listener: %d", resp.StatusCode)
	}
}

// A reload changes the console's settings but not whether it is on.
func TestConsoleReload(t *testing.T) {
	cs := startConsole(t, nil)
	cfg := cs.s.cfg
	cfg.Console.Enabled = false // fixed at New: the console stays on
	cfg.Console.SessionTTL = 2 * time.Minute
	if err := cs.s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if c := cs.login(t).cookie; c.MaxAge != 120 {
		t.Fatalf("session lifetime after reload: %d s", c.MaxAge)
	}
}
