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

// auditCmd is `rampart audit` (package internal/audit): exit 2 for bad
// flags or options, 1 when a check fails, 0 otherwise.
func auditCmd(args []string, stdout, stderr io.Writer) int {
	o, exit, ok := parseAuditFlags(args, stdout, stderr)
	if !ok {
		return exit
	}
	err := audit.Run(context.Background(), o, stdout)
	switch {
	case errors.Is(err, audit.ErrFailed):
		return 1
	case err != nil:
		fmt.Fprintln(stderr, "rampart audit:", err)
		return 2
	}
	return 0
}

// parseAuditFlags reads the flags, which may come before or after the URL,
// into the options; the token defaults to $RAMPART_AUDIT_TOKEN.
func parseAuditFlags(args []string, stdout, stderr io.Writer) (audit.Options, int, bool) {
	fs, o := auditFlags()
	pos, exit, ok := mustLookup("audit").parse(fs, args, stdout, stderr)
	if !ok {
		return *o, exit, false
	}
	o.URL = pos[0]
	if o.Token == "" {
		o.Token = os.Getenv("RAMPART_AUDIT_TOKEN")
	}
	return *o, 0, true
}

func auditFlags() (*flag.FlagSet, *audit.Options) {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	o := &audit.Options{UserAgent: "rampart-audit/" + versionString()}
	fs.StringVar(&o.Token, "token", "", "a valid token for the endpoint (default $RAMPART_AUDIT_TOKEN)")
	fs.StringVar(&o.Origin, "origin", "", "an origin the server allows, e.g. https://app.example.com")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Second, "time allowed to each check")
	fs.BoolVar(&o.JSON, "json", false, "print a JSON array of {check, result, detail}")
	fs.StringVar(&o.CAFile, "ca", "", "PEM file of CA certificates to trust for wss:// (default: the system roots)")
	return fs, o
}
