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
	fs, o := tokenFlags()
	if _, exit, ok := mustLookup("token").parse(fs, args, stdout, stderr); !ok {
		return exit
	}
	secret, err := tokenSecret(o)
	if err != nil {
		fmt.Fprintln(stderr, "rampart token:", err)
		return 1
	}
	tok, err := devtoken.Mint(secret, devtoken.Claims{
		Sub: o.sub, Roles: splitList(o.roles), TTL: o.ttl, Iss: o.iss, Aud: o.aud, CSRF: o.csrf,
	})
	if err != nil {
		fmt.Fprintln(stderr, "rampart token:", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

// tokenSecret reads the HMAC secret from --secret-file (trimmed, as the
// server reads auth.hmac_secret_file), else from the --secret-env variable.
func tokenSecret(o *tokenOptions) ([]byte, error) {
	if o.secretFile == "" {
		return []byte(os.Getenv(o.secretEnv)), nil
	}
	f, err := os.Open(o.secretFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.secretFile, err)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}

// tokenOptions are token's flags.
type tokenOptions struct {
	sub, roles, iss, aud, csrf, secretEnv, secretFile string
	ttl                                               time.Duration
}

func tokenFlags() (*flag.FlagSet, *tokenOptions) {
	o := new(tokenOptions)
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.StringVar(&o.sub, "sub", "", "user id (required)")
	fs.StringVar(&o.roles, "roles", "", "comma-separated roles")
	fs.DurationVar(&o.ttl, "ttl", time.Hour, "lifetime")
	fs.StringVar(&o.iss, "iss", "", "issuer")
	fs.StringVar(&o.aud, "aud", "", "audience")
	fs.StringVar(&o.csrf, "csrf", "", "csrf claim, for cookie sessions")
	fs.StringVar(&o.secretEnv, "secret-env", "RAMPART_JWT_SECRET", "variable holding the HMAC secret")
	fs.StringVar(&o.secretFile, "secret-file", "", "file holding the HMAC secret, as auth.hmac_secret_file (instead of --secret-env)")
	return fs, o
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
