// Command rampart runs and operates a Rampart server. Its subcommands:
//
//   - serve: the server, from --config FILE, or --dev for a loopback
//     server with a fresh secret, a printed token and a demo page;
//   - token: mint an HS256 token from RAMPART_JWT_SECRET;
//   - check-config: validate a configuration, exit 1 with the line and the
//     reason;
//   - audit: probe a running endpoint from outside, exit 1 if a check
//     fails (package internal/audit);
//   - bench: the loopback load generator (package internal/bench);
//   - healthcheck: GET a health URL, exit 0 on 200 and 1 otherwise, for
//     container images that have no curl;
//   - version (the build information), and help.
//
// It only wires: it parses each subcommand's flags, reads configuration
// files and the environment, and handles signals and logging, around the
// rampart package and the packages that do the work.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `rampart: a real-time messaging server, secure by construction

usage:
  rampart serve --config rampart.yaml   run the server
  rampart serve --dev [--listen ADDR]   loopback dev server: fresh secret, prints a token and a demo URL
  rampart token --sub alice [--roles user,admin] [--ttl 1h]   mint an HS256 token from RAMPART_JWT_SECRET
  rampart check-config rampart.yaml     validate a configuration; exit 1 with the line and the reason
  rampart audit ws://127.0.0.1:8080/ws --token T [--origin O] [--json]   probe a running server from outside; exit 1 if a check fails
  rampart bench --mode idle|fanout|ramp|handshake --url ws://127.0.0.1:8080/ws   loopback load generator, one JSON line per run (see docs/performance.md)
  rampart healthcheck [--url URL]       probe /healthz (default http://127.0.0.1:8080/healthz); exit 0 if it answers 200, else 1
  rampart version                       print the version, the commit it was built from and the Go release
`

func main() {
	tuneRuntime(os.Args)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "token":
		return token(args[1:], stdout, stderr)
	case "bench":
		return benchCmd(args[1:], stdout, stderr)
	case "check-config":
		return checkConfig(args[1:], stdout, stderr)
	case "audit":
		return auditCmd(args[1:], stdout, stderr)
	case "healthcheck":
		return healthcheck(args[1:], stdout, stderr)
	case "version", "--version":
		return versionCmd(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "rampart: unknown command %q\n\n%s", args[0], usage)
	return 2
}
