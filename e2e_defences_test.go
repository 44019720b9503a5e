package rampart

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rampart-rt/rampart/internal/wstest"
	"github.com/rampart-rt/rampart/limits"
)

// End-to-end tests of the handshake defences (docs/security.md, "At the
// handshake"): every refusal is checked for its exact status, body and
// headers, and for never having switched protocols.

const (
	appOrigin  = "https://app.example.com"
	evilOrigin = "https://evil.example.net"
)

// expectDefended is expectRefused plus what every refusal must carry: the
// security headers, and the header its status promises.
func expectDefended(t *testing.T, resp *wstest.Response, err error, status int, code string) {
	t.Helper()
	expectRefused(t, resp, err, status, code)
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Fatalf("X-Content-Type-Options %q, want nosniff", got)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("Content-Security-Policy %q", csp)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	switch status {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
			t.Fatalf("%d with Retry-After %q, want a whole number of seconds >= 1", status, resp.Header.Get("Retry-After"))
		}
	case http.StatusUnauthorized:
		if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
			t.Fatalf("401 with WWW-Authenticate %q", got)
		}
	case http.StatusUpgradeRequired:
		if got := resp.Header.Get("Sec-WebSocket-Version"); got != "13" {
			t.Fatalf("426 with Sec-WebSocket-Version %q", got)
		}
	}
}

// refusedWith dials req and checks the refusal.
func (s *testServer) refusedWith(t *testing.T, req *wstest.Request, status int, code string) {
	t.Helper()
	_, resp, err := s.dialRaw(t, req, wstest.Options{})
	expectDefended(t, resp, err, status, code)
}

// browserRequest is a valid upgrade with tok in the Authorization header
// (when not empty) and origin as the Origin header (when not empty).
func (s *testServer) browserRequest(tok, origin string) *wstest.Request {
	req := s.request(tok)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return req
}

func strictOrigins(allow ...string) func(*Config) {
	return func(c *Config) { c.Origins = Origins{Allow: allow} }
}

func TestDefencesOriginAllowList(t *testing.T) {
	t.Parallel()
	exact := startServer(t, strictOrigins(appOrigin))
	wild := startServer(t, strictOrigins("https://*.example.com"))
	tok := token(t, "alice")
	cases := []struct {
		name    string
		srv     *testServer
		origins []string // the Origin header lines; none: no header
		ok      bool
	}{
		{"exact origin", exact, []string{appOrigin}, true},
		{"exact origin with its default port", exact, []string{appOrigin + ":443"}, true},
		{"null", exact, []string{"null"}, false},
		{"missing Origin", exact, nil, false},
		{"empty Origin", exact, []string{""}, false},
		{"two Origin headers", exact, []string{appOrigin, appOrigin}, false},
		{"two Origin headers, one foreign", exact, []string{appOrigin, evilOrigin}, false},
		{"suffix trick", exact, []string{"https://app.example.com.evil.net"}, false},
		{"prefix trick", exact, []string{"https://evilapp.example.com"}, false},
		{"a subdomain of the exact origin", exact, []string{"https://x.app.example.com"}, false},
		{"wrong scheme", exact, []string{"http://app.example.com"}, false},
		{"wrong port", exact, []string{"https://app.example.com:8443"}, false},
		{"userinfo", exact, []string{"https://user@app.example.com"}, false},
		{"path", exact, []string{appOrigin + "/"}, false},
		{"trailing dot", exact, []string{"https://app.example.com."}, false},
		{"over 2 KiB", exact, []string{"https://" + strings.Repeat("a.", 1100) + "app.example.com"}, false},
		{"wildcard subdomain", wild, []string{"https://a.example.com"}, true},
		{"wildcard deeper subdomain", wild, []string{"https://a.b.example.com"}, true},
		{"wildcard: the bare domain", wild, []string{"https://example.com"}, false},
		{"wildcard: lookalike domain", wild, []string{"https://evilexample.com"}, false},
		{"wildcard: suffix trick", wild, []string{"https://a.example.com.evil.net"}, false},
		{"wildcard: wrong scheme", wild, []string{"http://a.example.com"}, false},
		{"wildcard: wrong port", wild, []string{"https://a.example.com:8443"}, false},
		{"wildcard: null", wild, []string{"null"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.srv.request(tok)
			for _, o := range tc.origins {
				req.Header.Add("Origin", o)
			}
			if tc.ok {
				c := tc.srv.dialWith(t, req, wstest.Options{})
				c.ok("ping", "")
				return
			}
			tc.srv.refusedWith(t, req, http.StatusForbidden, "origin_refused")
		})
	}
}

// Each case fails two checks; the answer is the one of the check that comes
// first in the documented order.
func TestDefencesCheckOrder(t *testing.T) {
	t.Parallel()
	const csrf = "csrf-order-0123456789"
	good := token(t, "alice")
	bad := good + "x"
	expired := mint(t, jwt.SigningMethodHS256, testSecret, claims("alice", -time.Hour))
	cookieTok := mint(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "carol", "exp": time.Now().Add(-time.Hour).Unix(), "csrf": csrf})
	hold := func(users ...string) func(*testing.T, *testServer) {
		return func(t *testing.T, s *testServer) {
			for _, u := range users {
				s.dialWith(t, s.browserRequest(mint(t, jwt.SigningMethodHS256, testSecret, claims(u, time.Hour)), appOrigin), wstest.Options{})
			}
		}
	}
	cases := []struct {
		name   string
		edit   func(*Config)
		setup  func(*testing.T, *testServer)
		req    func(*testServer) *wstest.Request
		status int
		code   string
	}{
		{
			name: "upgrade before version",
			req: func(s *testServer) *wstest.Request {
				r := s.browserRequest(bad, evilOrigin)
				r.Header.Del("Upgrade")
				r.Header.Set("Sec-WebSocket-Version", "8")
				return r
			},
			status: 400, code: "bad_handshake",
		},
		{
			name: "version before capacity",
			edit: func(c *Config) { c.Limits.MaxConnections = 1 }, setup: hold("holder"),
			req: func(s *testServer) *wstest.Request {
				r := s.browserRequest(bad, evilOrigin)
				r.Header.Set("Sec-WebSocket-Version", "12")
				return r
			},
			status: 426, code: "unsupported_version",
		},
		{
			name: "version before token",
			req: func(s *testServer) *wstest.Request {
				r := s.browserRequest(bad, appOrigin)
				r.Header.Set("Sec-WebSocket-Version", "8")
				return r
			},
			status: 426, code: "unsupported_version",
		},
		{
			name: "capacity before per-IP connections",
			edit: func(c *Config) { c.Limits.MaxConnections, c.Limits.MaxConnectionsPerIP = 1, 1 }, setup: hold("holder"),
			req:    func(s *testServer) *wstest.Request { return s.browserRequest(bad, evilOrigin) },
			status: 503, code: "unavailable",
		},
		{
			name: "handshake rate before origin",
			edit: func(c *Config) { c.Limits.HandshakesPerIPPerMin = 1 }, setup: hold("holder"),
			req:    func(s *testServer) *wstest.Request { return s.browserRequest(bad, evilOrigin) },
			status: 429, code: "rate_limited",
		},
		{
			name: "per-IP connections before origin",
			edit: func(c *Config) { c.Limits.MaxConnectionsPerIP = 1 }, setup: hold("holder"),
			req:    func(s *testServer) *wstest.Request { return s.browserRequest(bad, evilOrigin) },
			status: 429, code: "rate_limited",
		},
		{
			name: "origin before subprotocol",
			req: func(s *testServer) *wstest.Request {
				r := s.browserRequest(good, evilOrigin)
				r.Header.Del("Sec-WebSocket-Protocol")
				return r
			},
			status: 403, code: "origin_refused",
		},
		{
			name:   "origin before token",
			req:    func(s *testServer) *wstest.Request { return s.browserRequest(bad, evilOrigin) },
			status: 403, code: "origin_refused",
		},
		{
			name:   "missing origin before token",
			req:    func(s *testServer) *wstest.Request { return s.browserRequest(bad, "") },
			status: 403, code: "origin_refused",
		},
		{
			name: "subprotocol before csrf",
			edit: func(c *Config) { c.Auth.Cookie.Name = "session" },
			req: func(s *testServer) *wstest.Request {
				r := s.browserRequest("", appOrigin)
				r.Header.Set("Cookie", "session="+cookieTok)
				r.Header.Del("Sec-WebSocket-Protocol")
				return r
			},
			status: 400, code: "subprotocol_required",
		},
		{
			name: "subprotocol before token",
			req: func(s *testServer) *wstest.Request {
				r := s.browserRequest(bad, appOrigin)
				r.Header.Set("Sec-WebSocket-Protocol", "chat")
				return r
			},
			status: 400, code: "subprotocol_required",
		},
		{
			name: "csrf before token",
			edit: func(c *Config) { c.Auth.Cookie.Name = "session" },
			req: func(s *testServer) *wstest.Request {
				r := s.browserRequest("", appOrigin)
				r.Header.Set("Cookie", "session="+cookieTok) // expired, and no csrf parameter
				return r
			},
			status: 403, code: "csrf_failed",
		},
		{
			name: "token before per-user connections",
			edit: func(c *Config) { c.Limits.MaxConnectionsPerUser = 1 }, setup: hold("alice"),
			req:    func(s *testServer) *wstest.Request { return s.browserRequest(expired, appOrigin) },
			status: 401, code: "unauthorized",
		},
		{
			name: "per-user connections last",
			edit: func(c *Config) { c.Limits.MaxConnectionsPerUser = 1 }, setup: hold("alice"),
			req:    func(s *testServer) *wstest.Request { return s.browserRequest(good, appOrigin) },
			status: 429, code: "rate_limited",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, func(c *Config) {
				strictOrigins(appOrigin)(c)
				if tc.edit != nil {
					tc.edit(c)
				}
			})
			if tc.setup != nil {
				tc.setup(t, s)
			}
			s.refusedWith(t, tc.req(s), tc.status, tc.code)
		})
	}
}

func TestDefencesSubprotocolSelection(t *testing.T) {
	t.Parallel()
	required := startServer(t, nil)
	optional := startServer(t, func(c *Config) { c.RequireSubprotocol = boolPtr(false) })
	tok := token(t, "alice")
	cases := []struct {
		name  string
		srv   *testServer
		offer []string // Sec-WebSocket-Protocol lines
		want  string   // the selected subprotocol; "" none
	}{
		{"only rampart.v1", required, []string{"rampart.v1"}, "rampart.v1"},
		{"among others", required, []string{"chat, rampart.v1, superchat"}, "rampart.v1"},
		{"on its own header line", required, []string{"chat", "rampart.v1"}, "rampart.v1"},
		{"optional, offered", optional, []string{"rampart.v1"}, "rampart.v1"},
		{"optional, none offered", optional, nil, ""},
		{"optional, only others offered", optional, []string{"chat, superchat"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.srv.request(tok)
			req.Header.Del("Sec-WebSocket-Protocol")
			for _, o := range tc.offer {
				req.Header.Add("Sec-WebSocket-Protocol", o)
			}
			ws, resp, err := tc.srv.dialRaw(t, req, wstest.Options{})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			got := resp.Header.Values("Sec-WebSocket-Protocol")
			switch {
			case tc.want == "" && len(got) != 0:
				t.Fatalf("server selected %q, want no Sec-WebSocket-Protocol", got)
			case tc.want != "" && (len(got) != 1 || got[0] != tc.want):
				t.Fatalf("server selected %q, want exactly %q", got, tc.want)
			}
			c := &client{t: t, ws: ws}
			if w := c.next(); w.Push != "welcome" {
				t.Fatalf("first frame %s", w.raw)
			}
			c.ok("ping", "")
		})
	}
	t.Run("required, none offered", func(t *testing.T) {
		req := required.request(tok)
		req.Header.Del("Sec-WebSocket-Protocol")
		required.refusedWith(t, req, http.StatusBadRequest, "subprotocol_required")
	})
}

func TestDefencesCookieCSRF(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *Config) {
		strictOrigins(appOrigin)(c)
		c.Auth.Cookie.Name = "session"
		c.Auth.Sources = []string{SourceHeader, SourceSubprotocol, SourceCookie}
	})
	csrf := rand.Text()
	session := func(sub string, extra jwt.MapClaims) string {
		c := claims(sub, time.Hour)
		for k, v := range extra {
			c[k] = v
		}
		return mint(t, jwt.SigningMethodHS256, testSecret, c)
	}
	cookieTok := session("carol", jwt.MapClaims{"csrf": csrf})
	cookieReq := func(csrfParam *string, origin, tok string) *wstest.Request {
		req := s.browserRequest("", origin)
		req.Header.Set("Cookie", "theme=dark; session="+tok)
		if csrfParam != nil {
			req.Path = "/ws?csrf=" + url.QueryEscape(*csrfParam)
		}
		return req
	}
	ptr := func(s string) *string { return &s }

	t.Run("cookie with the session's csrf", func(t *testing.T) {
		c := s.dialWith(t, cookieReq(ptr(csrf), appOrigin, cookieTok), wstest.Options{})
		if c.welcome.User != "carol" {
			t.Fatalf("welcome %s", c.welcome.raw)
		}
		c.ok("ping", "")
	})
	refusals := []struct {
		name   string
		req    *wstest.Request
		status int
		code   string
	}{
		{"no csrf parameter", cookieReq(nil, appOrigin, cookieTok), 403, "csrf_failed"},
		{"empty csrf parameter", cookieReq(ptr(""), appOrigin, cookieTok), 403, "csrf_failed"},
		{"wrong csrf", cookieReq(ptr(rand.Text()), appOrigin, cookieTok), 403, "csrf_failed"},
		{"csrf of another case", cookieReq(ptr(strings.ToLower(csrf)), appOrigin, cookieTok), 403, "csrf_failed"},
		{"csrf prefix", cookieReq(ptr(csrf[:len(csrf)-1]), appOrigin, cookieTok), 403, "csrf_failed"},
		{"session without a csrf claim", cookieReq(ptr(csrf), appOrigin, session("carol", nil)), 403, "csrf_failed"},
		{"right csrf, foreign origin", cookieReq(ptr(csrf), evilOrigin, cookieTok), 403, "origin_refused"},
		{"right csrf, no origin", cookieReq(ptr(csrf), "", cookieTok), 403, "origin_refused"},
		{"right csrf, forged cookie", cookieReq(ptr(csrf), appOrigin, cookieTok+"x"), 401, "unauthorized"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			s.refusedWith(t, tc.req, tc.status, tc.code)
		})
	}
	t.Run("bearer header needs no csrf", func(t *testing.T) {
		c := s.dialWith(t, s.browserRequest(token(t, "dave"), appOrigin), wstest.Options{})
		if c.welcome.User != "dave" {
			t.Fatalf("welcome %s", c.welcome.raw)
		}
	})
	t.Run("bearer header wins over a cookie without csrf", func(t *testing.T) {
		req := s.browserRequest(token(t, "dave"), appOrigin)
		req.Header.Set("Cookie", "session="+cookieTok)
		if c := s.dialWith(t, req, wstest.Options{}); c.welcome.User != "dave" {
			t.Fatalf("welcome %s", c.welcome.raw)
		}
	})
	t.Run("subprotocol carrier needs no csrf", func(t *testing.T) {
		req := s.browserRequest("", appOrigin)
		req.Header.Set("Sec-WebSocket-Protocol", "rampart.v1, rampart.bearer."+token(t, "erin"))
		if c := s.dialWith(t, req, wstest.Options{}); c.welcome.User != "erin" {
			t.Fatalf("welcome %s", c.welcome.raw)
		}
	})
}

func TestDefencesQueryToken(t *testing.T) {
	t.Parallel()
	off := startServer(t, nil)
	on := startServer(t, func(c *Config) { c.Auth.Sources = []string{SourceHeader, SourceQuery} })
	tok := token(t, "alice")
	queryReq := func(s *testServer, tok string) *wstest.Request {
		req := s.request("")
		req.Path = "/ws?token=" + url.QueryEscape(tok)
		return req
	}
	off.refusedWith(t, queryReq(off, tok), http.StatusUnauthorized, "unauthorized")
	c := on.dialWith(t, queryReq(on, tok), wstest.Options{})
	if c.welcome.User != "alice" {
		t.Fatalf("welcome %s", c.welcome.raw)
	}
	c.ok("ping", "")
	on.refusedWith(t, queryReq(on, tok+"x"), http.StatusUnauthorized, "unauthorized")
	// The header still comes first when both are given.
	req := queryReq(on, tok+"x")
	req.Header.Set("Authorization", "Bearer "+token(t, "bob"))
	if c := on.dialWith(t, req, wstest.Options{}); c.welcome.User != "bob" {
		t.Fatalf("welcome %s", c.welcome.raw)
	}
}

// dialUntil retries a handshake until it upgrades: a count given back when a
// connection closes is given back asynchronously. Every refusal meanwhile
// must be the expected one.
func (s *testServer) dialUntil(t *testing.T, req func() *wstest.Request, status int, code string) *client {
	t.Helper()
	deadline := time.Now().Add(readTimeout)
	for {
		ws, resp, err := s.dialRaw(t, req(), wstest.Options{})
		if err == nil {
			c := &client{t: t, ws: ws}
			c.welcome = c.next()
			return c
		}
		expectDefended(t, resp, err, status, code)
		if time.Now().After(deadline) {
			t.Fatalf("still refused %d after %s", status, readTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDefencesConnectionLimits(t *testing.T) {
	t.Parallel()
	t.Run("max_connections", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, func(c *Config) { c.Limits.MaxConnections = 2 })
		a := s.dial(t, token(t, "a"))
		s.dial(t, token(t, "b"))
		s.refusedWith(t, s.request(token(t, "c")), http.StatusServiceUnavailable, "unavailable")
		a.ws.Close()
		s.dialUntil(t, func() *wstest.Request { return s.request(token(t, "c")) }, 503, "unavailable").ok("ping", "")
	})
	t.Run("max_connections_per_ip", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, func(c *Config) { c.Limits.MaxConnectionsPerIP = 2 })
		a := s.dial(t, token(t, "a"))
		s.dial(t, token(t, "b"))
		s.refusedWith(t, s.request(token(t, "c")), http.StatusTooManyRequests, "rate_limited")
		a.ws.Close()
		c := s.dialUntil(t, func() *wstest.Request { return s.request(token(t, "c")) }, 429, "rate_limited")
		c.ok("ping", "")
		s.refusedWith(t, s.request(token(t, "d")), http.StatusTooManyRequests, "rate_limited")
	})
	t.Run("handshakes_per_ip_per_minute", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, func(c *Config) { c.Limits.HandshakesPerIPPerMin = 3 })
		s.dial(t, token(t, "a")).ws.Close()
		s.refusedWith(t, s.request(""), http.StatusUnauthorized, "unauthorized") // refused ones count too
		s.dial(t, token(t, "b"))
		for range 2 {
			s.refusedWith(t, s.request(token(t, "c")), http.StatusTooManyRequests, "rate_limited")
		}
	})
	t.Run("max_connections_per_user", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, func(c *Config) { c.Limits.MaxConnectionsPerUser = 2 })
		a := s.dial(t, token(t, "alice"))
		s.dial(t, token(t, "alice", "admin"))
		s.refusedWith(t, s.request(token(t, "alice")), http.StatusTooManyRequests, "rate_limited")
		s.dial(t, token(t, "bob")).ok("ping", "")
		a.ws.Close()
		s.dialUntil(t, func() *wstest.Request { return s.request(token(t, "alice")) }, 429, "rate_limited").ok("ping", "")
	})
}

func TestDefencesTrustedProxies(t *testing.T) {
	t.Parallel()
	forwarded := func(t *testing.T, s *testServer, user, header, value string) *wstest.Request {
		req := s.request(token(t, user))
		req.Header.Set(header, value)
		return req
	}
	t.Run("trusted proxy: X-Forwarded-For picks the bucket", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, func(c *Config) {
			c.TrustedProxies = []string{"127.0.0.1/32"}
			c.Limits.MaxConnectionsPerIP = 1
		})
		s.dialWith(t, forwarded(t, s, "a", "X-Forwarded-For", "203.0.113.1"), wstest.Options{})
		s.dialWith(t, forwarded(t, s, "b", "X-Forwarded-For", "203.0.113.2"), wstest.Options{})
		s.dialWith(t, forwarded(t, s, "c", "Forwarded", "for=203.0.113.3"), wstest.Options{})
		for _, v := range []string{"203.0.113.1", "198.51.100.9, 203.0.113.1", "203.0.113.2, 127.0.0.1"} {
			s.refusedWith(t, forwarded(t, s, "d", "X-Forwarded-For", v), http.StatusTooManyRequests, "rate_limited")
		}
		// The proxy itself, without a header, is a client of its own.
		s.dialWith(t, s.request(token(t, "e")), wstest.Options{})
	})
	t.Run("no trusted proxy: forged headers change nothing", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, func(c *Config) { c.Limits.MaxConnectionsPerIP = 1 })
		s.dialWith(t, forwarded(t, s, "a", "X-Forwarded-For", "203.0.113.1"), wstest.Options{})
		for _, h := range [][2]string{
			{"X-Forwarded-For", "203.0.113.2"},
			{"X-Forwarded-For", "198.51.100.7, 203.0.113.3"},
			{"Forwarded", "for=203.0.113.4"},
			{"X-Real-Ip", "203.0.113.5"},
		} {
			s.refusedWith(t, forwarded(t, s, "b", h[0], h[1]), http.StatusTooManyRequests, "rate_limited")
		}
	})
}

// rawRequest writes an upgrade request as it goes on the wire.
func rawRequest(addr, path string, h http.Header) string {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, addr)
	for name, values := range h {
		for _, v := range values {
			fmt.Fprintf(&b, "%s: %s\r\n", name, v)
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// maskedText encodes one final, masked client text frame.
func maskedText(s string) []byte {
	p := []byte(s)
	out := []byte{0x81}
	switch n := len(p); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n < 1<<16:
		out = append(out, 0x80|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	out = append(out, key[:]...)
	for i, c := range p {
		out = append(out, c^key[i%4])
	}
	return out
}

// readServerFrame reads one unmasked server frame.
func readServerFrame(br *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		return 0, nil, errors.New("server frame is masked")
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		_, err = io.ReadFull(br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, err = io.ReadFull(br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	if err != nil || n > 1<<20 {
		return 0, nil, fmt.Errorf("frame length %d: %v", n, err)
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(br, payload)
	return h[0] & 0x0F, payload, err
}

func upgradeHeader(tok string) (http.Header, string) {
	key := wstest.NewKey()
	h := http.Header{}
	h.Set("Upgrade", "websocket")
	h.Set("Connection", "Upgrade")
	h.Set("Sec-WebSocket-Key", key)
	h.Set("Sec-WebSocket-Version", "13")
	h.Set("Sec-WebSocket-Protocol", "rampart.v1")
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	return h, key
}

// A client may send frames right behind its request, in the same packet:
// none of them is lost.
func TestDefencesEarlyFrames(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(readTimeout))
	h, key := upgradeHeader(token(t, "alice"))
	out := []byte(rawRequest(s.addr, "/ws", h))
	out = append(out, maskedText(`{"id":1,"action":"ping"}`)...)
	out = append(out, maskedText(`{"id":2,"action":"ping"}`)...)
	if _, err := nc.Write(out); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != wstest.AcceptKey(key) {
		t.Fatalf("answer %d %v", resp.StatusCode, resp.Header)
	}
	var got []string
	for len(got) < 3 {
		op, p, err := readServerFrame(br)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		if op != byte(wstest.OpText) {
			t.Fatalf("opcode %d (%q) after %q", op, p, got)
		}
		got = append(got, string(p))
	}
	if !strings.HasPrefix(got[0], `{"push":"welcome"`) || got[1] != `{"id":1,"result":{}}` || got[2] != `{"id":2,"result":{}}` {
		t.Fatalf("frames %q, want welcome and two ping replies", got)
	}
}

// Handshakes opened and abandoned in every way, from several goroutines at
// once, leave no connection and no count behind.
func TestDefencesHandshakeChurnReleasesCounts(t *testing.T) {
	t.Parallel()
	s, httpConns := startTrackedServer(t)
	const workers, perWorker = 8, 250
	good := make([]string, 5)
	for i := range good {
		good[i] = token(t, fmt.Sprintf("churn-%d", i))
	}
	bad := token(t, "mallory") + "x"
	var upgraded, refused, failures atomic.Int64
	fail := func(format string, args ...any) {
		if failures.Add(1) <= 5 {
			t.Errorf(format, args...)
		}
	}
	dial := func(tok string) (*wstest.Conn, *wstest.Response, error) {
		return wstest.Dial(context.Background(), s.addr, s.request(tok), wstest.Options{})
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				n := w*perWorker + i
				tok := good[n%len(good)]
				switch n % 5 {
				case 0: // valid, closed at once with a close frame
					ws, _, err := dial(tok)
					if err != nil {
						fail("valid handshake: %v", err)
						continue
					}
					upgraded.Add(1)
					_ = ws.WriteClose(1000, "")
					_ = ws.Close()
				case 1: // cut after half the request
					nc, err := net.Dial("tcp", s.addr)
					if err != nil {
						fail("dial: %v", err)
						continue
					}
					h, _ := upgradeHeader(tok)
					req := rawRequest(s.addr, "/ws", h)
					_, _ = io.WriteString(nc, req[:len(req)/2])
					_ = nc.Close()
				case 2: // refused: a bad token
					_, resp, err := dial(bad)
					if resp == nil || resp.StatusCode != http.StatusUnauthorized {
						fail("bad token: %v %v", resp, err)
						continue
					}
					refused.Add(1)
				case 3: // closed right after the 101, before the welcome is read
					ws, _, err := dial(tok)
					if err != nil {
						fail("valid handshake: %v", err)
						continue
					}
					upgraded.Add(1)
					_ = ws.Close()
				case 4: // the whole request, gone before the answer
					nc, err := net.Dial("tcp", s.addr)
					if err != nil {
						fail("dial: %v", err)
						continue
					}
					h, _ := upgradeHeader(tok)
					_, _ = io.WriteString(nc, rawRequest(s.addr, "/ws", h))
					_ = nc.Close()
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d upgraded, %d refused", upgraded.Load(), refused.Load())
	// A request whose client has gone may still be read and handled: wait
	// until net/http holds no connection either, so that nothing is in
	// flight. The listener accepts in order, so once a later request is
	// answered every churned connection has been accepted and is tracked.
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(s.ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ips, users := s.s.limiter.(*limits.Local).Size()
		n, h := s.s.Connections(), httpConns()
		if n == 0 && h == 0 && ips == 0 && users == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the churn: %d connections (%d HTTP), %d IPs and %d users still counted", n, h, ips, users)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cfg := s.s.cfg
	cfg.Limits.MaxConnectionsPerIP = 1
	cfg.Limits.MaxConnectionsPerUser = 1
	if err := s.s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	s.dial(t, good[0]).ok("ping", "")
	s.refusedWith(t, s.request(good[1]), http.StatusTooManyRequests, "rate_limited")
}

// startTrackedServer is startServer (with baseConfig) that also reports how
// many connections net/http holds that it has not handed over by a hijack.
func startTrackedServer(t *testing.T) (*testServer, func() int) {
	t.Helper()
	s, err := New(baseConfig())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	ts := httptest.NewUnstartedServer(s)
	ts.Config.ConnState = func(c net.Conn, st http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch st {
		case http.StateNew:
			open[c] = true
		case http.StateHijacked, http.StateClosed:
			delete(open, c)
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(open)
	}
	return &testServer{s: s, ts: ts, addr: ts.Listener.Addr().String()}, count
}

// httpServed serves a server through Server.HTTPServer on a real listener.
func httpServed(t *testing.T, edit func(*Config)) *testServer {
	t.Helper()
	cfg := baseConfig()
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := s.HTTPServer()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.Serve(ln)
	}()
	t.Cleanup(func() {
		// Shutdown, unlike Close, waits for the connections net/http still
		// serves (a 431 answer lingers before it closes).
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			_ = hs.Close()
		}
		<-done
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return &testServer{s: s, addr: ln.Addr().String()}
}

// A client that sends its request one byte at a time is cut off after
// handshake_timeout, without an upgrade.
func TestDefencesSlowHandshakeIsCut(t *testing.T) {
	t.Parallel()
	s := httpServed(t, func(c *Config) { c.HandshakeTimeout = 500 * time.Millisecond })
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	h, _ := upgradeHeader(token(t, "alice"))
	req := rawRequest(s.addr, "/ws", h)
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < len(req); i++ {
			if _, err := nc.Write([]byte{req[i]}); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()
	_ = nc.SetReadDeadline(start.Add(5 * time.Second))
	got, err := io.ReadAll(nc)
	elapsed := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %s (read %q)", elapsed, got)
	}
	if strings.Contains(string(got), " 101 ") {
		t.Fatalf("a dribbling client was upgraded: %q", got)
	}
	if elapsed > 4*time.Second {
		t.Fatalf("cut off only after %s", elapsed)
	}
	t.Logf("cut off after %s (read %q, %v)", elapsed.Round(time.Millisecond), got, err)
}

// Header blocks over the cap are answered 431 by the http.Server that
// HTTPServer returns; pathological but small subprotocol and extension
// headers are answered at once.
func TestDefencesOversizedAndPathologicalHeaders(t *testing.T) {
	t.Parallel()
	s := httpServed(t, nil)
	tok := token(t, "alice")
	for _, size := range []int{9 << 10, 16 << 10, 32 << 10} {
		t.Run(fmt.Sprintf("%d KiB header", size>>10), func(t *testing.T) {
			req := s.request(tok)
			req.Header.Set("X-Padding", strings.Repeat("p", size))
			_, resp, err := s.dialRaw(t, req, wstest.Options{})
			if resp == nil {
				t.Fatalf("no answer: %v", err)
			}
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("status %d, want 431", resp.StatusCode)
			}
		})
	}
	junk := strings.Repeat(`, "`, 7000/3) + strings.Repeat(" ", 7000-7000/3*3)
	cases := []struct {
		name     string
		header   string
		value    string
		upgrades bool
	}{
		{"Sec-WebSocket-Protocol of commas, spaces and quotes", "Sec-WebSocket-Protocol", junk, false},
		{"the same before rampart.v1", "Sec-WebSocket-Protocol", junk + ", rampart.v1", true},
		{"Sec-WebSocket-Extensions of commas, spaces and quotes", "Sec-WebSocket-Extensions", junk, true},
		{"Sec-WebSocket-Extensions of semicolons and equals", "Sec-WebSocket-Extensions", "permessage-deflate" + strings.Repeat(`; a="=`, 7000/6), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := s.request(tok)
			req.Header.Set(tc.header, tc.value)
			start := time.Now()
			ws, resp, err := s.dialRaw(t, req, wstest.Options{Timeout: 5 * time.Second})
			if resp == nil {
				t.Fatalf("no answer within 5s: %v", err)
			}
			if !tc.upgrades {
				expectDefended(t, resp, err, http.StatusBadRequest, "subprotocol_required")
				return
			}
			if err != nil {
				t.Fatalf("not upgraded: %v %d %s", err, resp.StatusCode, resp.Body)
			}
			if got := resp.Header.Values("Sec-WebSocket-Protocol"); len(got) != 1 || got[0] != "rampart.v1" {
				t.Fatalf("selected %q", got)
			}
			if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != "" {
				t.Fatalf("server accepted extensions %q", got)
			}
			c := &client{t: t, ws: ws}
			c.next()
			c.ok("ping", "")
			t.Logf("answered in %s", time.Since(start).Round(time.Millisecond))
		})
	}
}
