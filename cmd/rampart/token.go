package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// token mints an HS256 token, for development and tests.
func token(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sub := fs.String("sub", "", "user id (required)")
	roles := fs.String("roles", "", "comma-separated roles")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	iss := fs.String("iss", "", "issuer")
	aud := fs.String("aud", "", "audience")
	csrf := fs.String("csrf", "", "csrf claim, for cookie sessions")
	secretEnv := fs.String("secret-env", "RAMPART_JWT_SECRET", "variable holding the HMAC secret")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	tok, err := mint([]byte(os.Getenv(*secretEnv)), claims{sub: *sub, roles: splitList(*roles), ttl: *ttl, iss: *iss, aud: *aud, csrf: *csrf})
	if err != nil {
		fmt.Fprintln(stderr, "rampart token:", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

type claims struct {
	sub, iss, aud, csrf string
	roles               []string
	ttl                 time.Duration
}

func mint(secret []byte, c claims) (string, error) {
	if len(secret) < 32 {
		return "", errors.New("the HMAC secret must be at least 32 bytes")
	}
	if c.sub == "" {
		return "", errors.New("--sub is required")
	}
	if c.ttl <= 0 {
		return "", errors.New("--ttl must be positive")
	}
	now := time.Now()
	m := jwt.MapClaims{"sub": c.sub, "iat": now.Unix(), "exp": now.Add(c.ttl).Unix()}
	if len(c.roles) > 0 {
		m["roles"] = c.roles
	}
	for k, v := range map[string]string{"iss": c.iss, "aud": c.aud, "csrf": c.csrf} {
		if v != "" {
			m[k] = v
		}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, m).SignedString(secret)
}

func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}
