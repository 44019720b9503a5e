package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/rampart-rt/rampart/internal/audit"
	"github.com/rampart-rt/rampart/internal/bench"
)

// command is one subcommand: what its help says, how its flags are
// defined, and what runs it. Help, usage errors and the completion
// scripts are all generated from this table and from flagSet, so they
// cannot drift from what the subcommand parses.
type command struct {
	name     string
	synopsis string // after "rampart NAME"
	summary  string // one line, for the command list
	// args is the number of positional arguments: 0 or 1; -1 means at
	// most one (help).
	args int
	// argWords are the values completion offers for the argument
	// (see words).
	argWords []string
	// flagSet defines the flags on a fresh set, with destinations the
	// caller does not read; nil for a command without flags.
	flagSet func() *flag.FlagSet
	// flagValues are the values completion offers after a flag that takes
	// one of a few words, by flag name.
	flagValues map[string][]string
	run        func(args []string, stdout, stderr io.Writer) int
}

var shells = []string{"bash", "zsh", "fish"}

// commandList is the subcommands in the order help prints them (a
// function rather than a variable: help refers back to it).
func commandList() []command {
	return []command{
		{name: "serve", synopsis: "--config FILE | --dev [--dev-state DIR] [--listen ADDR]",
			summary: "run the server (--dev: loopback, a kept secret, prints a token and a demo URL)",
			flagSet: func() *flag.FlagSet { fs, _ := serveFlags(); return fs }, run: serve},
		{name: "init", synopsis: "[--out rampart.yaml] [--secret-file rampart.secret] [--force]",
			summary: "write a commented configuration with every key at its default, and a fresh JWT secret",
			flagSet: func() *flag.FlagSet { fs, _ := initFlags(); return fs }, run: initCmd},
		{name: "token", synopsis: "--sub USER [--roles R1,R2] [--ttl 1h] [--secret-file FILE]",
			summary: "mint an HS256 token from RAMPART_JWT_SECRET (or --secret-file)",
			flagSet: func() *flag.FlagSet { fs, _ := tokenFlags(); return fs }, run: token},
		{name: "check-config", synopsis: "FILE", args: 1,
			summary: "validate a configuration; exit 1 with the line and the reason", run: checkConfig},
		{name: "audit", synopsis: "ws[s]://HOST[:PORT]/PATH [--token T] [--origin O] [--profile P] [--json|--sarif] [--dry-run]", args: 1,
			summary: "probe any WebSocket endpoint from outside as an attacker would; exit 1 on findings, 3 if it cannot connect (docs/audit.md)",
			flagSet: func() *flag.FlagSet { fs, _, _ := auditFlags(); return fs }, run: auditCmd,
			flagValues: map[string][]string{"profile": audit.ProfileNames, "fail-on": audit.FailOnValues}},
		{name: "bench", synopsis: "--mode idle|fanout|ramp|handshake [--url ws://127.0.0.1:8080/ws]",
			summary: "loopback load generator, one JSON line per run (see docs/performance.md)",
			flagSet: func() *flag.FlagSet { fs, _, _ := benchFlags(); return fs }, run: benchCmd,
			flagValues: map[string][]string{"mode": bench.Modes()}},
		{name: "healthcheck", synopsis: "[--url URL] [--timeout 2s]",
			summary: "probe /healthz; exit 0 if it answers 200, else 1",
			flagSet: func() *flag.FlagSet { fs, _, _ := healthcheckFlags(); return fs }, run: healthcheck},
		{name: "version", summary: "print the version, the commit it was built from and the Go release", run: versionCmd},
		{name: "completion", synopsis: strings.Join(shells, "|"), args: 1, argWords: shells,
			summary: "print a shell completion script", run: completionCmd},
		{name: "help", synopsis: "[COMMAND]", args: -1,
			summary: "print help for rampart or for a command", run: helpCmd},
	}
}

// words are the values completion offers for c's argument: for help,
// the commands.
func (c command) words() []string {
	if c.name != "help" {
		return c.argWords
	}
	var names []string
	for _, c := range commandList() {
		names = append(names, c.name)
	}
	return names
}

func lookup(name string) (command, bool) {
	for _, c := range commandList() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// writeUsage prints the top-level help: every command and its summary.
func writeUsage(w io.Writer) {
	fmt.Fprint(w, "rampart: a real-time messaging server, secure by construction\n\nusage: rampart COMMAND [flags] [arguments]\n\ncommands:\n")
	for _, c := range commandList() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nEvery command answers --help; `rampart help COMMAND` prints the same.\n")
}

// writeHelp prints a command's usage line, summary and flags.
func (c command) writeHelp(w io.Writer) {
	fmt.Fprintf(w, "usage: rampart %s", c.name)
	if c.synopsis != "" {
		fmt.Fprint(w, " "+c.synopsis)
	}
	fmt.Fprintf(w, "\n\n%s\n", c.summary)
	if c.flagSet == nil {
		return
	}
	fmt.Fprint(w, "\nflags:\n")
	c.flagSet().VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if kind != "" {
			fmt.Fprint(w, " "+kind)
		}
		fmt.Fprintf(w, "\n      %s", usage)
		if !isZeroDefault(f.DefValue) {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

func isZeroDefault(v string) bool {
	switch v {
	case "", "false", "0", "0s":
		return true
	}
	return false
}

// parse parses args with fs (nil: no flags) for the command c; flags may
// come before or after the positional arguments, and "--" ends them.
// --help and -h print the help on stdout, exit 0; a bad flag or argument
// prints one line and the help on stderr, exit 2. When ok is false, the
// command returns exit at once.
func (c command) parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (positional []string, exit int, ok bool) {
	if fs == nil {
		fs = flag.NewFlagSet(c.name, flag.ContinueOnError)
	}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for rest := args; ; {
		err := fs.Parse(rest)
		if errors.Is(err, flag.ErrHelp) {
			c.writeHelp(stdout)
			return nil, 0, false
		}
		if err != nil {
			return nil, c.usageError(stderr, err.Error()), false
		}
		if fs.NArg() == 0 {
			break
		}
		if used := len(rest) - fs.NArg(); used > 0 && rest[used-1] == "--" {
			positional = append(positional, fs.Args()...)
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	most := c.args
	if most < 0 {
		most = 1
	}
	switch {
	case len(positional) > most:
		return nil, c.usageError(stderr, fmt.Sprintf("unexpected argument %q", positional[most])), false
	case len(positional) < c.args:
		return nil, c.usageError(stderr, "missing argument"), false
	}
	return positional, 0, true
}

// usageError prints "rampart NAME: msg" and the help on stderr; exit 2.
func (c command) usageError(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "rampart %s: %s\n\n", c.name, msg)
	c.writeHelp(stderr)
	return 2
}

// helpCmd is `rampart help [COMMAND]`.
func helpCmd(args []string, stdout, stderr io.Writer) int {
	c, _ := lookup("help")
	pos, exit, ok := c.parse(nil, args, stdout, stderr)
	if !ok {
		return exit
	}
	if len(pos) == 0 {
		writeUsage(stdout)
		return 0
	}
	target, found := lookup(pos[0])
	if !found {
		return unknownCommand(pos[0], stderr)
	}
	target.writeHelp(stdout)
	return 0
}

func unknownCommand(name string, stderr io.Writer) int {
	fmt.Fprintf(stderr, "rampart: unknown command %q\n\n", name)
	writeUsage(stderr)
	return 2
}

// mustLookup is the command named name, for a subcommand's own entry.
func mustLookup(name string) command {
	c, ok := lookup(name)
	if !ok {
		panic("rampart: no command " + name)
	}
	return c
}
