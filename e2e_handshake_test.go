package rampart

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rampart-rt/rampart/internal/wstest"
)

const (
	testIssuer   = "https://issuer.rampart.test"
	testAudience = "rampart-e2e"
)

// Every token failure is a 401 with WWW-Authenticate, before any upgrade.
func TestHandshakeRefusesBadTokens(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) {
		c.Auth.Issuer = testIssuer
		c.Auth.Audience = testAudience
	})
	now := time.Now()
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "alice", "iss": testIssuer, "aud": testAudience, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	with := func(key string, v any) jwt.MapClaims {
		c := valid()
		if v == nil {
			delete(c, key)
		} else {
			c[key] = v
		}
		return c
	}
	hs := func(c jwt.MapClaims) string { return mint(t, jwt.SigningMethodHS256, testSecret, c) }
	noneTok := mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid())

	// The positive control: the same server takes a good token.
	c := srv.dial(t, hs(valid()))
	if c.welcome.User != "alice" {
		t.Fatalf("welcome %s", c.welcome.raw)
	}
	c.ws.Close()
	srv.waitConnections(t, 0)

	cases := []struct{ name, token string }{
		{"no token", ""},
		{"expired", hs(with("exp", now.Add(-time.Hour).Unix()))},
		{"no exp", hs(with("exp", nil))},
		{"nbf in the future", hs(with("nbf", now.Add(time.Hour).Unix()))},
		{"wrong iss", hs(with("iss", "https://evil.test"))},
		{"wrong aud", hs(with("aud", "someone-else"))},
		{"bad signature", mint(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef-0123456789"), valid())},
		{"alg none", noneTok},
		{"HS512 not on the allow-list", mint(t, jwt.SigningMethodHS512, testSecret, valid())},
		{"missing sub", hs(with("sub", nil))},
		{"empty sub", hs(with("sub", ""))},
		{"garbage", "not.a.jwt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := srv.dialRaw(t, srv.request(tc.token), wstest.Options{})
			expectUnauthorized(t, resp, err)
		})
	}
	if n := srv.s.Connections(); n != 0 {
		t.Fatalf("%d connections open after refused handshakes", n)
	}
}

func expectUnauthorized(t *testing.T, resp *wstest.Response, err error) {
	t.Helper()
	expectRefused(t, resp, err, http.StatusUnauthorized, "unauthorized")
	if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
		t.Fatalf("WWW-Authenticate %q", got)
	}
}

// With RS256 configured, a token signed HS256 with the public key's PEM as
// the HMAC secret (the algorithm-confusion attack) is refused.
func TestHandshakeRefusesAlgorithmConfusion(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	srv := startServer(t, func(c *Config) {
		c.Auth = Auth{Algorithms: []string{"RS256"}, PublicKeys: []crypto.PublicKey{&key.PublicKey}}
	})
	good := mint(t, jwt.SigningMethodRS256, key, claims("alice", time.Hour))
	if c := srv.dial(t, good); c.welcome.User != "alice" {
		t.Fatalf("RS256 token refused: %s", c.welcome.raw)
	}
	for name, tok := range map[string]string{
		"HS256 keyed with the public key PEM": mint(t, jwt.SigningMethodHS256, pemBytes, claims("alice", time.Hour)),
		"HS256 keyed with the public key DER": mint(t, jwt.SigningMethodHS256, der, claims("alice", time.Hour)),
		"RS256 signed by another key":         mint(t, jwt.SigningMethodRS256, otherRSAKey(t), claims("alice", time.Hour)),
	} {
		t.Run(name, func(t *testing.T) {
			_, resp, err := srv.dialRaw(t, srv.request(tok), wstest.Options{})
			expectUnauthorized(t, resp, err)
		})
	}
}

func otherRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestHandshakeTokenInSubprotocol(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	tok := token(t, "alice")
	for _, offer := range []string{
		"rampart.v1, rampart.bearer." + tok,
		"rampart.bearer." + tok + ", rampart.v1",
	} {
		req := wstest.NewRequest("/ws")
		req.Header.Set("Sec-WebSocket-Protocol", offer)
		ws, resp, err := srv.dialRaw(t, req, wstest.Options{})
		if err != nil {
			t.Fatalf("offer %q: %v", offer, err)
		}
		if got := resp.Header.Values("Sec-WebSocket-Protocol"); len(got) != 1 || got[0] != "rampart.v1" {
			t.Fatalf("offer %q: server selected %q, want exactly rampart.v1", offer, got)
		}
		c := &client{t: t, ws: ws}
		if w := c.next(); w.Push != "welcome" || w.User != "alice" {
			t.Fatalf("welcome %s", w.raw)
		}
		c.ok("ping", "")
	}
	// A bad token in the carrier is refused like any other.
	req := wstest.NewRequest("/ws")
	req.Header.Set("Sec-WebSocket-Protocol", "rampart.v1, rampart.bearer.not.a.jwt")
	_, resp, err := srv.dialRaw(t, req, wstest.Options{})
	expectUnauthorized(t, resp, err)
}

// Malformed upgrades, other versions, other paths and a missing subprotocol
// are refused with a plain HTTP answer.
func TestHandshakeRefusesBadRequests(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	tok := token(t, "alice")
	cases := []struct {
		name   string
		edit   func(*wstest.Request)
		status int
		code   string
	}{
		{"POST", func(r *wstest.Request) { r.Method = http.MethodPost }, 400, "bad_handshake"},
		{"no Upgrade", func(r *wstest.Request) { r.Header.Del("Upgrade") }, 400, "bad_handshake"},
		{"Upgrade: h2c", func(r *wstest.Request) { r.Header.Set("Upgrade", "h2c") }, 400, "bad_handshake"},
		{"no Connection: upgrade", func(r *wstest.Request) { r.Header.Set("Connection", "keep-alive") }, 400, "bad_handshake"},
		{"no key", func(r *wstest.Request) { r.Header.Del("Sec-WebSocket-Key") }, 400, "bad_handshake"},
		{"key not base64", func(r *wstest.Request) { r.Header.Set("Sec-WebSocket-Key", "!!!!not-base64!!!!!!!!==") }, 400, "bad_handshake"},
		{"key of 8 bytes", func(r *wstest.Request) { r.Header.Set("Sec-WebSocket-Key", "AAAAAAAAAAA=") }, 400, "bad_handshake"},
		{"two keys", func(r *wstest.Request) { r.Header.Add("Sec-WebSocket-Key", wstest.NewKey()) }, 400, "bad_handshake"},
		{"no rampart.v1 offered", func(r *wstest.Request) { r.Header.Set("Sec-WebSocket-Protocol", "chat, superchat") }, 400, "subprotocol_required"},
		{"no subprotocol at all", func(r *wstest.Request) { r.Header.Del("Sec-WebSocket-Protocol") }, 400, "subprotocol_required"},
		{"only the bearer carrier", func(r *wstest.Request) {
			r.Header.Del("Authorization")
			r.Header.Set("Sec-WebSocket-Protocol", "rampart.bearer."+tok)
		}, 400, "subprotocol_required"},
		{"a lookalike of rampart.v1", func(r *wstest.Request) { r.Header.Set("Sec-WebSocket-Protocol", "rampart.v10, Rampart.V1") }, 400, "subprotocol_required"},
		{"unknown path", func(r *wstest.Request) { r.Path = "/other" }, 404, "not_found"},
		{"path below the endpoint", func(r *wstest.Request) { r.Path = "/ws/x" }, 404, "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := srv.request(tok)
			tc.edit(req)
			_, resp, err := srv.dialRaw(t, req, wstest.Options{})
			expectRefused(t, resp, err, tc.status, tc.code)
		})
	}
	for _, version := range []string{"12", "8", "", "13, 12"} {
		t.Run("version "+version, func(t *testing.T) {
			req := srv.request(tok)
			if version == "" {
				req.Header.Del("Sec-WebSocket-Version")
			} else {
				req.Header.Set("Sec-WebSocket-Version", version)
			}
			_, resp, err := srv.dialRaw(t, req, wstest.Options{})
			expectRefused(t, resp, err, http.StatusUpgradeRequired, "unsupported_version")
			if got := resp.Header.Get("Sec-WebSocket-Version"); got != "13" {
				t.Fatalf("426 carries Sec-WebSocket-Version %q, want 13", got)
			}
		})
	}
	if n := srv.s.Connections(); n != 0 {
		t.Fatalf("%d connections open after refused handshakes", n)
	}
}

// The request id of a refusal is unique per request.
func TestHandshakeRequestIDsDiffer(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	seen := map[string]bool{}
	for i := 0; i < 5; i++ {
		_, resp, err := srv.dialRaw(t, srv.request(""), wstest.Options{})
		expectUnauthorized(t, resp, err)
		id := resp.Header.Get("X-Request-Id")
		if seen[id] || strings.TrimSpace(id) == "" {
			t.Fatalf("request id %q repeated or empty", id)
		}
		seen[id] = true
	}
}

// Upgrade and Connection may list several tokens (RFC 7230); the checks
// accept that, and so must the upgrade itself.
func TestHandshakeAcceptsHeaderLists(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	for _, h := range [][2]string{
		{"Upgrade", "h2c, websocket"},
		{"Upgrade", "websocket, h2c"},
		{"Upgrade", "WebSocket"},
		{"Connection", "keep-alive, Upgrade"},
		{"Connection", "upgrade"},
	} {
		req := srv.request(token(t, "alice"))
		req.Header.Set(h[0], h[1])
		c := srv.dialWith(t, req, wstest.Options{})
		c.ok("ping", "")
	}
}
