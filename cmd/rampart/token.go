package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rampart-rt/rampart/internal/devtoken"
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
	tok, err := devtoken.Mint([]byte(os.Getenv(*secretEnv)), devtoken.Claims{
		Sub: *sub, Roles: splitList(*roles), TTL: *ttl, Iss: *iss, Aud: *aud, CSRF: *csrf,
	})
	if err != nil {
		fmt.Fprintln(stderr, "rampart token:", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
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
