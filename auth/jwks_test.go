package auth

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// jwksServer serves a key set that a test can swap, fail or inflate.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64

	mu      sync.Mutex
	body    []byte
	status  int    // 0: 200
	mode    string // "", "chunked" (flush mid-body) or "length" (declared Content-Length)
	padding int    // bytes of whitespace inserted before the closing brace
}

func newJWKSServer(t testing.TB, body []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve)) // 127.0.0.1, port 0
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, _ *http.Request) {
	s.hits.Add(1)
	s.mu.Lock()
	body, status, mode, pad := s.body, s.status, s.mode, s.padding
	s.mu.Unlock()
	if status != 0 {
		http.Error(w, "unavailable", status)
		return
	}
	if pad > 0 {
		body = []byte(strings.TrimSuffix(string(body), "}") + strings.Repeat(" ", pad) + "}")
	}
	w.Header().Set("Content-Type", "application/json")
	switch mode {
	case "length":
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	case "chunked":
		w.Write(body[:10])
		w.(http.Flusher).Flush()
		body = body[10:]
	}
	w.Write(body)
}

func (s *jwksServer) set(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

func (s *jwksServer) setStatus(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = code
}

type testJWK struct {
	kid string
	alg string // empty: no alg in the JWK
	use string
	key any // public key
}

func jwksJSON(t testing.TB, keys ...testJWK) []byte {
	t.Helper()
	var set jwkset.JWKSMarshal
	for _, k := range keys {
		j, err := jwkset.NewJWKFromKey(k.key, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
			KID: k.kid, ALG: jwkset.ALG(k.alg), USE: jwkset.USE(k.use),
		}})
		if err != nil {
			t.Fatalf("JWK %s: %v", k.kid, err)
		}
		set.Keys = append(set.Keys, j.Marshal())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withOct adds a symmetric key to a JWKS document.
func withOct(t *testing.T, doc []byte, kid string, secret []byte) []byte {
	t.Helper()
	var m map[string][]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	m["keys"] = append(m["keys"], map[string]string{"kty": "oct", "kid": kid, "k": base64.RawURLEncoding.EncodeToString(secret)})
	b, _ := json.Marshal(m)
	return b
}

func standardSet(t testing.TB) []byte {
	return jwksJSON(t,
		testJWK{kid: "r1", alg: "RS256", use: "sig", key: &rsaKey().PublicKey},
		testJWK{kid: "r2", key: &rsaKey2().PublicKey},
		testJWK{kid: "e1", alg: "ES256", key: &ecKey().PublicKey},
		testJWK{kid: "d1", alg: "EdDSA", key: edKey().Public()},
		testJWK{kid: "enc1", use: "enc", key: &ecKey2().PublicKey},
	)
}

func jwksConfig(url string, log *logCounter) Config {
	cfg := Config{
		Algorithms: []string{"RS256", "PS256", "ES256", "EdDSA"},
		JWKSURL:    url,
		Issuer:     testIssuer,
		Audience:   testAudience,
		Now:        func() time.Time { return fixedNow },
	}
	if log != nil {
		cfg.Logger = slog.New(log)
	}
	return cfg
}

func kid(k string) map[string]any { return map[string]any{"kid": k} }

func TestJWKSVerify(t *testing.T) {
	srv := newJWKSServer(t, standardSet(t))
	v := newVerifier(t, jwksConfig(srv.URL, nil))
	tests := []struct {
		name   string
		method jwt.SigningMethod
		key    any
		claims jwt.MapClaims
		header map[string]any
		ok     bool
		reason string
	}{
		{"RS256", jwt.SigningMethodRS256, rsaKey(), validClaims(), kid("r1"), true, ""},
		{"PS256 on a JWK without alg", jwt.SigningMethodPS256, rsaKey2(), validClaims(), kid("r2"), true, ""},
		{"ES256", jwt.SigningMethodES256, ecKey(), validClaims(), kid("e1"), true, ""},
		{"EdDSA", jwt.SigningMethodEdDSA, edKey(), validClaims(), kid("d1"), true, ""},
		{"PS256 on a JWK whose alg is RS256", jwt.SigningMethodPS256, rsaKey(), validClaims(), kid("r1"), false, "does not fit"},
		{"RS256 naming an EC kid", jwt.SigningMethodRS256, rsaKey(), validClaims(), kid("e1"), false, "does not fit"},
		{"JWK for encryption", jwt.SigningMethodES256, ecKey2(), validClaims(), kid("enc1"), false, "does not fit"},
		{"no kid", jwt.SigningMethodRS256, rsaKey(), validClaims(), nil, false, "missing kid"},
		{"kid not a string", jwt.SigningMethodRS256, rsaKey(), validClaims(), map[string]any{"kid": 7}, false, "missing kid"},
		{"signed by another key", jwt.SigningMethodRS256, rsaKey2(), validClaims(), kid("r1"), false, "bad signature"},
		{"another issuer, known kid", jwt.SigningMethodRS256, rsaKey(), withClaim("iss", "https://other.example.com"), kid("r1"), false, "wrong issuer"},
		{"no issuer, known kid", jwt.SigningMethodRS256, rsaKey(), withClaim("iss", nil), kid("r1"), false, "wrong issuer"},
		{"wrong audience", jwt.SigningMethodRS256, rsaKey(), withClaim("aud", "x"), kid("r1"), false, "wrong audience"},
		{"HS256 with the RSA PEM", jwt.SigningMethodHS256, pemOf(t, &rsaKey().PublicKey), validClaims(), kid("r1"), false, "algorithm not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := sign(t, tt.method, tt.key, tt.claims, tt.header)
			_, err := v.Verify(context.Background(), tok)
			if tt.ok {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			checkRejected(t, err, tok, nil)
			if !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("error %q, want it to mention %q", err, tt.reason)
			}
		})
	}
}

// A symmetric key published in the set is never an HMAC key, and the RSA
// PEM is never one either, even with HS256 allowed.
func TestJWKSNoAlgorithmConfusion(t *testing.T) {
	octSecret := []byte("a-secret-published-in-the-jwks-set!!")
	srv := newJWKSServer(t, withOct(t, standardSet(t), "hs", octSecret))
	cfg := jwksConfig(srv.URL, nil)
	cfg.Algorithms = append(cfg.Algorithms, "HS256")
	cfg.HMACSecret = testSecret
	v := newVerifier(t, cfg)
	for name, tok := range map[string]string{
		"oct key from the set": sign(t, jwt.SigningMethodHS256, octSecret, validClaims(), kid("hs")),
		"RSA PEM as secret":    sign(t, jwt.SigningMethodHS256, pemOf(t, &rsaKey().PublicKey), validClaims(), kid("r1")),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tok)
			checkRejected(t, err, tok, nil)
		})
	}
	// The configured secret still works.
	if _, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodHS256, testSecret, validClaims(), nil)); err != nil {
		t.Fatalf("HS256 with the configured secret: %v", err)
	}
}

func TestJWKSRotation(t *testing.T) {
	srv := newJWKSServer(t, jwksJSON(t, testJWK{kid: "old", alg: "RS256", key: &rsaKey().PublicKey}))
	cfg := jwksConfig(srv.URL, nil)
	cfg.JWKSRefreshUnknownKIDRate = 300 * time.Millisecond
	v := newVerifier(t, cfg)
	ctx := context.Background()
	newTok := sign(t, jwt.SigningMethodRS256, rsaKey2(), validClaims(), kid("new"))
	oldTok := sign(t, jwt.SigningMethodRS256, rsaKey(), validClaims(), kid("old"))

	if _, err := v.Verify(ctx, oldTok); err != nil {
		t.Fatalf("old key before rotation: %v", err)
	}
	// An unknown kid causes one fetch; the server does not have it yet.
	hits := srv.hits.Load()
	_, err := v.Verify(ctx, newTok)
	checkRejected(t, err, newTok, nil)
	if got := srv.hits.Load(); got != hits+1 {
		t.Fatalf("fetches for an unknown kid = %d, want 1", got-hits)
	}

	srv.set(jwksJSON(t, testJWK{kid: "new", alg: "RS256", key: &rsaKey2().PublicKey}))
	// Within the rate limit, no fetch happens and the token still fails.
	_, err = v.Verify(ctx, newTok)
	checkRejected(t, err, newTok, nil)
	if got := srv.hits.Load(); got != hits+1 {
		t.Fatalf("fetched again within the rate limit")
	}
	eventually(t, "the new kid to verify after the rate-limited refresh", func() bool {
		_, err := v.Verify(ctx, newTok)
		return err == nil
	})
	// The retired key is gone with the old set.
	_, err = v.Verify(ctx, oldTok)
	checkRejected(t, err, oldTok, nil)
}

func TestJWKSUnknownKIDIsRateLimited(t *testing.T) {
	srv := newJWKSServer(t, standardSet(t))
	cfg := jwksConfig(srv.URL, nil) // default rate: one fetch a minute
	v := newVerifier(t, cfg)
	start := srv.hits.Load()
	for i := range 50 {
		tok := sign(t, jwt.SigningMethodRS256, rsaKey(), validClaims(), kid(fmt.Sprintf("unknown-%d", i)))
		_, err := v.Verify(context.Background(), tok)
		checkRejected(t, err, tok, nil)
		if !strings.Contains(err.Error(), "unknown kid") {
			t.Fatalf("error %q, want unknown kid", err)
		}
	}
	if got := srv.hits.Load() - start; got != 1 {
		t.Fatalf("50 unknown kids caused %d fetches, want 1", got)
	}
	// A token naming another issuer never causes a fetch.
	tok := sign(t, jwt.SigningMethodRS256, rsaKey(), withClaim("iss", "https://other.example.com"), kid("unknown-x"))
	_, err := v.Verify(context.Background(), tok)
	checkRejected(t, err, tok, nil)
	if got := srv.hits.Load() - start; got != 1 {
		t.Fatalf("another issuer's token caused a fetch")
	}
}

func TestJWKSOutageKeepsLastGoodKeys(t *testing.T) {
	tests := []struct {
		name string
		fail func(s *jwksServer)
	}{
		{"server answers 500", func(s *jwksServer) { s.setStatus(http.StatusInternalServerError) }},
		{"server closed", func(s *jwksServer) { s.Close() }},
		{"body not JSON", func(s *jwksServer) { s.set([]byte("<html>maintenance</html>")) }},
		{"body too large", func(s *jwksServer) {
			s.mu.Lock()
			s.padding = 4 << 10
			s.mu.Unlock()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, standardSet(t))
			log := &logCounter{}
			cfg := jwksConfig(srv.URL, log)
			cfg.JWKSRefreshInterval = 20 * time.Millisecond
			cfg.JWKSMaxBytes = 4 << 10
			v := newVerifier(t, cfg)
			tok := sign(t, jwt.SigningMethodES256, ecKey(), validClaims(), kid("e1"))
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatalf("before the outage: %v", err)
			}
			tt.fail(srv)
			eventually(t, "two failed refreshes", func() bool { return log.count("refresh failed") >= 2 })
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatalf("during the outage: %v", err)
			}
		})
	}
}

func TestJWKSInitialFetchFailure(t *testing.T) {
	srv := newJWKSServer(t, standardSet(t))
	srv.setStatus(http.StatusServiceUnavailable)
	log := &logCounter{}
	v := newVerifier(t, jwksConfig(srv.URL, log))
	if log.count("initial JWKS fetch failed") != 1 {
		t.Fatalf("initial failure not logged: %v", log.msgs)
	}
	srv.setStatus(0)
	// The first unknown kid fetches at once.
	tok := sign(t, jwt.SigningMethodRS256, rsaKey(), validClaims(), kid("r1"))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("after the server recovered: %v", err)
	}
}

func TestJWKSFirstFetchDoesNotHang(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	v, err := New(ctx, jwksConfig(srv.URL, nil))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer v.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("New blocked for %v", d)
	}
}

// Header parameters that carry or point to keys are never used, even when
// they name a kid the set knows.
func TestJWKSIgnoresKeysNamedByTheToken(t *testing.T) {
	evilSet := jwksJSON(t, testJWK{kid: "r1", alg: "RS256", key: &rsaKey2().PublicKey})
	evil := newJWKSServer(t, evilSet)
	srv := newJWKSServer(t, standardSet(t))
	v := newVerifier(t, jwksConfig(srv.URL, nil))

	var evilJWK map[string]any
	j := must(jwkset.NewJWKFromKey(&rsaKey2().PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "attacker"}}))
	b, _ := json.Marshal(j.Marshal())
	json.Unmarshal(b, &evilJWK)

	tests := map[string]map[string]any{
		"jku with a known kid":    {"jku": evil.URL, "kid": "r1"},
		"jku with a new kid":      {"jku": evil.URL, "kid": "attacker"},
		"x5u":                     {"x5u": evil.URL, "kid": "r1"},
		"embedded jwk":            {"jwk": evilJWK},
		"embedded jwk, known kid": {"jwk": evilJWK, "kid": "r1"},
	}
	for name, header := range tests {
		t.Run(name, func(t *testing.T) {
			tok := sign(t, jwt.SigningMethodRS256, rsaKey2(), validClaims(), header)
			_, err := v.Verify(context.Background(), tok)
			checkRejected(t, err, tok, nil)
		})
	}
	if n := evil.hits.Load(); n != 0 {
		t.Fatalf("the token's URL was fetched %d times", n)
	}
}

func TestJWKSOversizeBodyRefused(t *testing.T) {
	for _, mode := range []string{"chunked", "length"} {
		t.Run(mode, func(t *testing.T) {
			srv := newJWKSServer(t, standardSet(t))
			srv.mu.Lock()
			srv.mode, srv.padding = mode, 8<<10
			srv.mu.Unlock()
			log := &logCounter{}
			cfg := jwksConfig(srv.URL, log)
			cfg.JWKSMaxBytes = 4 << 10
			v := newVerifier(t, cfg)
			if log.count("initial JWKS fetch failed") != 1 {
				t.Fatalf("oversize body not refused: %v", log.msgs)
			}
			tok := sign(t, jwt.SigningMethodRS256, rsaKey(), validClaims(), kid("r1"))
			_, err := v.Verify(context.Background(), tok)
			checkRejected(t, err, tok, nil)
		})
	}
}

func TestJWKSDefaultClientFollowsNoRedirect(t *testing.T) {
	target := newJWKSServer(t, standardSet(t))
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	v := newVerifier(t, jwksConfig(redirect.URL, nil))
	tok := sign(t, jwt.SigningMethodRS256, rsaKey(), validClaims(), kid("r1"))
	_, err := v.Verify(context.Background(), tok)
	checkRejected(t, err, tok, nil)
	if target.hits.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
}

func TestJWKSWithStaticKeys(t *testing.T) {
	srv := newJWKSServer(t, standardSet(t))
	cfg := jwksConfig(srv.URL, nil)
	cfg.PublicKeys = []crypto.PublicKey{&ecKey2().PublicKey}
	v := newVerifier(t, cfg)
	for name, tok := range map[string]string{
		"JWKS key":             sign(t, jwt.SigningMethodES256, ecKey(), validClaims(), kid("e1")),
		"static key, no kid":   sign(t, jwt.SigningMethodES256, ecKey2(), validClaims(), nil),
		"static key, kid":      sign(t, jwt.SigningMethodES256, ecKey2(), validClaims(), kid("e1")),
		"static key, odd kid:": sign(t, jwt.SigningMethodES256, ecKey2(), validClaims(), kid("nope")),
	} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestJWKSCallerClientNotModified(t *testing.T) {
	srv := newJWKSServer(t, standardSet(t))
	client := &http.Client{Timeout: 2 * time.Second}
	cfg := jwksConfig(srv.URL, nil)
	cfg.JWKSHTTPClient = client
	v := newVerifier(t, cfg)
	if client.Transport != nil {
		t.Fatal("the caller's client was modified")
	}
	tok := sign(t, jwt.SigningMethodEdDSA, edKey(), validClaims(), kid("d1"))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
}

func TestJWKSRefreshOutlivesNewContextUntilClose(t *testing.T) {
	srv := newJWKSServer(t, standardSet(t))
	cfg := jwksConfig(srv.URL, nil)
	cfg.JWKSRefreshInterval = 10 * time.Millisecond
	// Fetches are counted where they start, in the verifier's own client:
	// the server's count can still rise after Close for a request already
	// on the wire that Close abandoned.
	var started atomic.Int64
	cfg.JWKSHTTPClient = &http.Client{Transport: countingTransport{n: &started, base: http.DefaultTransport}}
	ctx, cancel := context.WithCancel(context.Background())
	v, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	start := started.Load()
	eventually(t, "periodic refreshes after ctx ended", func() bool { return started.Load() >= start+3 })
	v.Close()
	v.Close()
	after := started.Load()
	// Close waited for the refresh goroutine: no fetch can start after it.
	time.Sleep(50 * time.Millisecond)
	if got := started.Load(); got != after {
		t.Fatalf("%d fetches started after Close", got-after)
	}
}

// countingTransport counts the requests it is asked to send.
type countingTransport struct {
	n    *atomic.Int64
	base http.RoundTripper
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}
