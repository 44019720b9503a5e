package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rampart-rt/rampart/internal/audit"
)

// auditCmd is `rampart audit` (package internal/audit). Exit codes: 0 no
// finding at or above --fail-on, 1 findings at or above it, 2 bad flags or
// options (nothing was sent), 3 the baseline upgrade failed (nothing could
// be judged).
func auditCmd(args []string, stdout, stderr io.Writer) int {
	o, exit, ok := parseAuditFlags(args, stdout, stderr)
	if !ok {
		return exit
	}
	err := audit.Run(context.Background(), o, stdout)
	switch {
	case errors.Is(err, audit.ErrFindings):
		return 1
	case errors.Is(err, audit.ErrInconclusive):
		fmt.Fprintln(stderr, "rampart audit:", err)
		return 3
	case err != nil:
		fmt.Fprintln(stderr, "rampart audit:", err)
		return 2
	}
	return 0
}

// parseAuditFlags reads the flags, which may come before or after the URL,
// into the options; the token and the cookie default to
// $RAMPART_AUDIT_TOKEN and $RAMPART_AUDIT_COOKIE.
func parseAuditFlags(args []string, stdout, stderr io.Writer) (audit.Options, int, bool) {
	fs, o, f := auditFlags()
	pos, exit, ok := mustLookup("audit").parse(fs, args, stdout, stderr)
	if !ok {
		return *o, exit, false
	}
	o.URL = pos[0]
	if o.Token == "" {
		o.Token = os.Getenv("RAMPART_AUDIT_TOKEN")
	}
	if o.Cookie == "" {
		o.Cookie = os.Getenv("RAMPART_AUDIT_COOKIE")
	}
	switch {
	case f.json && f.sarif:
		fmt.Fprintln(stderr, "rampart audit: --json and --sarif exclude each other")
		return *o, 2, false
	case f.json:
		o.Format = "json"
	case f.sarif:
		o.Format = "sarif"
	}
	return *o, 0, true
}

// auditFormat holds the report flags.
type auditFormat struct{ json, sarif bool }

func auditFlags() (*flag.FlagSet, *audit.Options, *auditFormat) {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	o := &audit.Options{UserAgent: "rampart-audit/" + versionString(), Version: versionString()}
	f := &auditFormat{}
	fs.StringVar(&o.Token, "token", "", "a valid bearer token for the endpoint (default $RAMPART_AUDIT_TOKEN)")
	fs.StringVar(&o.Cookie, "cookie", "", "a valid session cookie, name=value (default $RAMPART_AUDIT_COOKIE)")
	fs.StringVar(&o.Origin, "origin", "", "an origin the server allows, e.g. https://app.example.com")
	fs.StringVar(&o.Subprotocol, "subprotocol", "", "a subprotocol to offer in every upgrade (the rampart profile offers rampart.v1)")
	fs.StringVar(&o.Profile, "profile", "", "also run the checks of an application protocol: rampart, socketio or centrifugo")
	fs.StringVar(&o.Expiring, "expiring-token", "", "rampart profile: a valid token that expires within --duration, to check the close on expiry")
	fs.StringVar(&o.FailOn, "fail-on", "low", "exit 1 on a finding of this severity or above: high, medium, low or none")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Second, "time allowed to each step of a check")
	fs.DurationVar(&o.Duration, "duration", 5*time.Minute, "budget for the whole audit; checks that would start after it are skipped")
	fs.DurationVar(&o.IdleWait, "idle-wait", time.Minute, "how long an idle connection that never answers pings may stay open")
	fs.DurationVar(&o.HeaderWait, "header-wait", 20*time.Second, "how long a handshake sent a header line every 500ms may last")
	fs.IntVar(&o.MaxConns, "max-connections", 50, "most connections open at once, and most handshakes in the rate burst")
	fs.IntVar(&o.SizeCap, "size-cap", 1<<20, "largest message the size probe sends, in bytes")
	fs.StringVar(&o.CAFile, "ca", "", "PEM file of CA certificates to trust for wss:// (default: the system roots)")
	fs.BoolVar(&f.json, "json", false, "print the report as JSON")
	fs.BoolVar(&f.sarif, "sarif", false, "print the report as SARIF 2.1.0, for code-scanning tools")
	fs.BoolVar(&o.DryRun, "dry-run", false, "list the checks and what each would send; connect to nothing")
	return fs, o, f
}
