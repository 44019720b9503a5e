package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Test keys are generated once per test binary: RSA generation is slow.
var (
	rsaKey  = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	rsaKey2 = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	ecKey   = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	ecKey2  = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	ec384   = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader)) })
	edKey   = sync.OnceValue(func() ed25519.PrivateKey {
		_, k := must2(ed25519.GenerateKey(rand.Reader))
		return k
	})
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")

const (
	testIssuer   = "https://issuer.example.com"
	testAudience = "rampart"
)

// fixedNow is the clock of every test verifier.
var fixedNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

// validClaims returns claims that pass the default test config.
func validClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub":   "alice",
		"iss":   testIssuer,
		"aud":   testAudience,
		"exp":   fixedNow.Add(time.Hour).Unix(),
		"iat":   fixedNow.Add(-time.Minute).Unix(),
		"roles": []string{"user", "admin"},
		"csrf":  "csrf-value",
	}
}

// sign makes a token; header entries are added to (or override) the
// library's header.
func sign(t testing.TB, m jwt.SigningMethod, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func pemOf(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// baseConfig allows every algorithm family with static keys.
func baseConfig() Config {
	return Config{
		Algorithms: []string{"HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "EdDSA"},
		HMACSecret: testSecret,
		PublicKeys: []crypto.PublicKey{&rsaKey().PublicKey, &ecKey().PublicKey, edKey().Public()},
		Issuer:     testIssuer,
		Audience:   testAudience,
		Now:        func() time.Time { return fixedNow },
	}
}

func newVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	v, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// checkRejected asserts that err is a verification failure that reveals
// neither the token nor the HMAC secret.
func checkRejected(t testing.TB, err error, token string, want error) {
	t.Helper()
	if err == nil {
		t.Fatal("token accepted, want rejection")
	}
	if !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("error %q does not wrap ErrInvalidToken", err)
	}
	if want != nil && !errors.Is(err, want) {
		t.Fatalf("error %q, want %q", err, want)
	}
	msg := err.Error()
	if len(token) >= 16 && strings.Contains(msg, token) {
		t.Fatalf("error contains the token: %q", msg)
	}
	for _, part := range strings.Split(token, ".") {
		if len(part) >= 16 && strings.Contains(msg, part) {
			t.Fatalf("error contains part of the token: %q", msg)
		}
	}
	if bytes.Contains([]byte(msg), testSecret) {
		t.Fatalf("error contains the secret: %q", msg)
	}
}

// logCounter is a slog handler that counts records whose message contains a
// given text.
type logCounter struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }

func (l *logCounter) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, sub) {
			n++
		}
	}
	return n
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
