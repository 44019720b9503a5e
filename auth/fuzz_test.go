package auth

import (
	"context"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify feeds arbitrary strings to Verify: it must never panic, accept
// nothing but the one valid seed, and answer with a short, fixed-form error.
func FuzzVerify(f *testing.F) {
	v := newVerifier(f, baseConfig())
	valid := map[string]bool{}
	for _, tok := range []string{
		sign(f, jwt.SigningMethodHS256, testSecret, validClaims(), nil),
		sign(f, jwt.SigningMethodRS256, rsaKey(), validClaims(), nil),
		sign(f, jwt.SigningMethodES256, ecKey(), validClaims(), nil),
		sign(f, jwt.SigningMethodEdDSA, edKey(), validClaims(), map[string]any{"kid": "k"}),
	} {
		valid[tok] = true
		f.Add(tok)
		i := strings.LastIndexByte(tok, '.')
		f.Add(tok[:i+1])                 // signature dropped
		f.Add(tok[:i] + "." + tok[:i/2]) // signature replaced
	}
	for _, s := range []string{"", ".", "..", "a.b.c", "e30.e30.", "eyJhbGciOiJub25lIn0.e30.", "\x00\xff", strings.Repeat("A", MaxTokenBytes+1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(context.Background(), token)
		if err == nil {
			if !valid[token] || c == nil || c.Subject == "" {
				t.Fatalf("accepted a token that was never signed: %q", token)
			}
			return
		}
		if c != nil {
			t.Fatal("claims returned with an error")
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, ErrInvalidToken.Error()) || len(msg) > 80 {
			t.Fatalf("unexpected error text %q", msg)
		}
	})
}
