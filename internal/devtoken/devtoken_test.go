package devtoken

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte("devtoken-test-secret-0123456789abcdef")

func TestMintClaims(t *testing.T) {
	tok, err := Mint(secret, Claims{Sub: "alice", Roles: []string{"user", "admin"}, TTL: time.Hour, Aud: "app"})
	if err != nil {
		t.Fatal(err)
	}
	got := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(tok, got, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{"HS256"})); err != nil {
		t.Fatalf("parse: %v", err)
	}
	if got["sub"] != "alice" || got["aud"] != "app" || len(got["roles"].([]any)) != 2 {
		t.Errorf("claims %v", got)
	}
	for _, absent := range []string{"iss", "csrf"} {
		if _, ok := got[absent]; ok {
			t.Errorf("claim %s present though empty", absent)
		}
	}
	exp, _ := got.GetExpirationTime()
	if d := time.Until(exp.Time); d < 59*time.Minute || d > time.Hour {
		t.Errorf("exp in %s, want about 1h", d)
	}
}

func TestMintRefuses(t *testing.T) {
	cases := []struct {
		name   string
		secret []byte
		c      Claims
		want   string
	}{
		{"short secret", secret[:31], Claims{Sub: "a", TTL: time.Hour}, "32 bytes"},
		{"no sub", secret, Claims{TTL: time.Hour}, "--sub"},
		{"no ttl", secret, Claims{Sub: "a"}, "--ttl"},
	}
	for _, tc := range cases {
		if _, err := Mint(tc.secret, tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one naming %s", tc.name, err, tc.want)
		}
	}
}
