// Command rampart runs and operates a Rampart server. Its subcommands:
//
//   - serve: the server, from --config FILE, or --dev for a loopback
//     server with a secret kept across restarts, a printed token and a demo
//     page;
//   - init: write a commented configuration with every key at its default
//     (config.Template) and a fresh JWT secret file;
//   - token: mint an HS256 token from RAMPART_JWT_SECRET or a secret file;
//   - check-config: validate a configuration, exit 1 with the line and the
//     reason;
//   - audit: probe a running endpoint from outside, exit 1 if a check
//     fails (package internal/audit);
//   - bench: the loopback load generator (package internal/bench);
//   - healthcheck: GET a health URL, exit 0 on 200 and 1 otherwise, for
//     container images that have no curl;
//   - version (the build information);
//   - completion: a bash, zsh or fish completion script;
//   - help, and --help on every command (see commands.go).
//
// It only wires: it parses each subcommand's flags, reads configuration
// files and the environment, and handles signals and logging, around the
// rampart package and the packages that do the work.
package main

import (
	"io"
	"os"
)

func main() {
	tuneRuntime(os.Args)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		writeUsage(stderr)
		return 2
	}
	switch args[0] {
	case "--version":
		return versionCmd(args[1:], stdout, stderr)
	case "-h", "-help", "--help":
		writeUsage(stdout)
		return 0
	}
	c, ok := lookup(args[0])
	if !ok {
		return unknownCommand(args[0], stderr)
	}
	return c.run(args[1:], stdout, stderr)
}
