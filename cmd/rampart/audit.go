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
	o, ok := parseAuditFlags(args, stderr)
	if !ok {
		return 2
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
func parseAuditFlags(args []string, stderr io.Writer) (audit.Options, bool) {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := audit.Options{UserAgent: "rampart-audit/" + versionString()}
	fs.StringVar(&o.Token, "token", "", "a valid token for the endpoint (default $RAMPART_AUDIT_TOKEN)")
	fs.StringVar(&o.Origin, "origin", "", "an origin the server allows, e.g. https://app.example.com")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Second, "time allowed to each check")
	fs.BoolVar(&o.JSON, "json", false, "print a JSON array of {check, result, detail}")
	fs.StringVar(&o.CAFile, "ca", "", "PEM file of CA certificates to trust for wss:// (default: the system roots)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: rampart audit ws[s]://HOST[:PORT]/PATH --token T [--origin O] [--timeout 5s] [--json] [--ca FILE]")
		fs.PrintDefaults()
	}
	var positional []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return o, false
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(positional) != 1 {
		fs.Usage()
		return o, false
	}
	o.URL = positional[0]
	if o.Token == "" {
		o.Token = os.Getenv("RAMPART_AUDIT_TOKEN")
	}
	return o, true
}
