package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// contractCommands are the subcommands users rely on (docs/operations.md):
// none may disappear from the command table.
var contractCommands = []string{"serve", "init", "token", "check-config", "audit", "bench", "healthcheck", "version", "completion", "help"}

// runCLI runs the built binary to its end (bounded) and returns its exit
// code, stdout and stderr.
func runCLI(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%q still running after 20s; stderr:\n%s", args, stderr.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%q: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// flagNames are c's flags as its help and completion name them.
func flagNames(c command) []string {
	var names []string
	for _, f := range flagsOf(c) {
		if f.name != "help" {
			names = append(names, "--"+f.name)
		}
	}
	return names
}

// checkUsageError checks stderr is one line starting with want, a blank
// line, then c's usage.
func checkUsageError(t *testing.T, c command, stderr, want string) {
	t.Helper()
	first, rest, _ := strings.Cut(stderr, "\n")
	if !strings.HasPrefix(first, want) {
		t.Errorf("first line %q, want it to start with %q", first, want)
	}
	if !strings.HasPrefix(rest, "\nusage: rampart "+c.name) {
		t.Errorf("after the error line, want a blank line and the usage; got:\n%s", rest)
	}
}

func TestEveryCommandExplainsItself(t *testing.T) {
	var names []string
	for _, c := range commandList() {
		names = append(names, c.name)
	}
	for _, name := range contractCommands {
		if !slices.Contains(names, name) {
			t.Errorf("command %q is gone from the command table", name)
		}
	}
	bin := buildRampart(t, t.TempDir())
	for _, c := range commandList() {
		t.Run(c.name, func(t *testing.T) {
			var help string
			for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
				code, stdout, stderr := runCLI(t, bin, args...)
				if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "usage: rampart "+c.name) {
					t.Fatalf("%q: exit %d, stderr %q, stdout:\n%s", args, code, stderr, stdout)
				}
				for _, f := range flagNames(c) {
					if !strings.Contains(stdout, f) {
						t.Errorf("%q: the usage does not mention %s", args, f)
					}
				}
				if help != "" && stdout != help {
					t.Errorf("%q printed a different help:\n%s\nthan:\n%s", args, stdout, help)
				}
				help = stdout
			}

			code, stdout, stderr := runCLI(t, bin, c.name, "--no-such-flag")
			if code != 2 || stdout != "" {
				t.Errorf("unknown flag: exit %d, stdout %q; want 2 and nothing", code, stdout)
			}
			checkUsageError(t, c, stderr, "rampart "+c.name+": flag provided but not defined: -no-such-flag")

			// One argument more than the command takes.
			args := []string{c.name}
			for range max(c.args, 1) {
				args = append(args, "serve")
			}
			args = append(args, "extra")
			code, stdout, stderr = runCLI(t, bin, args...)
			if code != 2 || stdout != "" {
				t.Errorf("%q: exit %d, stdout %q; want 2 and nothing", args, code, stdout)
			}
			checkUsageError(t, c, stderr, "rampart "+c.name+`: unexpected argument "`)
		})
	}
}

func TestTopLevelHelpAndUnknownCommand(t *testing.T) {
	bin := buildRampart(t, t.TempDir())
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, stdout, stderr := runCLI(t, bin, args...)
		if code != 0 || stderr != "" {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
		}
		for _, name := range contractCommands {
			if !strings.Contains(stdout, "\n  "+name+" ") {
				t.Errorf("%q: %s is not in the command list:\n%s", args, name, stdout)
			}
		}
	}
	for _, args := range [][]string{{"nope"}, {"help", "nope"}} {
		code, stdout, stderr := runCLI(t, bin, args...)
		first, rest, _ := strings.Cut(stderr, "\n")
		if code != 2 || stdout != "" || first != `rampart: unknown command "nope"` || !strings.Contains(rest, "\n  check-config ") {
			t.Errorf("%q: exit %d, stdout %q, stderr:\n%s", args, code, stdout, stderr)
		}
	}
	// A help flag is never taken as the configuration file's name.
	if code, stdout, _ := runCLI(t, bin, "check-config", "--help"); code != 0 || strings.Contains(stdout, ": ok") {
		t.Errorf("check-config --help: exit %d, stdout:\n%s", code, stdout)
	}
	code, _, stderr := runCLI(t, bin, "check-config")
	if code != 2 {
		t.Errorf("check-config without a file: exit %d, want 2", code)
	}
	checkUsageError(t, mustLookup("check-config"), stderr, "rampart check-config: missing argument")
}

func TestCompletionScripts(t *testing.T) {
	bin := buildRampart(t, t.TempDir())
	for _, shell := range shells {
		t.Run(shell, func(t *testing.T) {
			code, script, stderr := runCLI(t, bin, "completion", shell)
			if code != 0 || stderr != "" || script == "" {
				t.Fatalf("exit %d, stderr %q, %d bytes", code, stderr, len(script))
			}
			for _, c := range commandList() {
				words := append(flagNames(c), c.name)
				for _, values := range c.flagValues {
					words = append(words, values...)
				}
				for _, word := range words {
					if shell == "fish" && strings.HasPrefix(word, "--") {
						word = "-l " + word[2:] // complete -l NAME
					}
					if !strings.Contains(script, word) {
						t.Errorf("the %s script does not mention %s", shell, word)
					}
				}
			}
			// Syntax only, where the shell is installed.
			if path, err := exec.LookPath(shell); err == nil && shell != "bash" {
				file := filepath.Join(t.TempDir(), "rampart."+shell)
				replaceFile(t, file, []byte(script))
				if out, err := exec.Command(path, "-n", file).CombinedOutput(); err != nil {
					t.Errorf("%s -n: %v\n%s", shell, err, out)
				}
			}
		})
	}
	code, _, stderr := runCLI(t, bin, "completion", "tcsh")
	if code != 2 || !strings.HasPrefix(stderr, `rampart completion: unknown shell "tcsh"`) {
		t.Errorf("completion tcsh: exit %d, stderr %q", code, stderr)
	}
}

// The bash script, sourced, completes commands, flags and arguments.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash is not installed: the completion test needs it (scripts/test.sh runs under bash)")
	}
	bin := buildRampart(t, t.TempDir())
	_, script, _ := runCLI(t, bin, "completion", "bash")
	file := filepath.Join(t.TempDir(), "rampart.bash")
	replaceFile(t, file, []byte(script))
	cases := []struct {
		words []string // the line so far; the last is the word completed
		want  string
	}{
		{[]string{"rampart", ""}, strings.Join(contractCommands, " ")},
		{[]string{"rampart", "ch"}, "check-config"},
		{[]string{"rampart", "serve", "--"}, "--config --dev --dev-state --listen --help"},
		{[]string{"rampart", "token", "--s"}, "--secret-env --secret-file --sub"},
		{[]string{"rampart", "completion", ""}, "bash zsh fish"},
		{[]string{"rampart", "help", "he"}, "healthcheck help"},
		{[]string{"rampart", "serve", "--config", ""}, ""},
		{[]string{"rampart", "audit", "ws://127.0.0.1:1/ws", "--profile", ""}, "rampart socketio centrifugo"},
		{[]string{"rampart", "audit", "--fail-on", "m"}, "medium"},
		{[]string{"rampart", "bench", "--mode", "h"}, "handshake"},
		{[]string{"rampart", "bench", "--mode", "idle", "--"}, "--channel --channel-per-conn --channels --concurrency --conns --drain --duration --first --handshakes --label --loops --mode --p99-limit --procs --rate --rate-max --rate-step --role --secret-env --server-pid --size --sources --subscribers --timeout --url --users --help"},
	}
	for _, tc := range cases {
		// COMP_WORDS and COMP_CWORD as bash sets them for complete -F.
		prog := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _rampart; echo "${COMPREPLY[*]}"`
		out, err := exec.Command(bash, append([]string{"-c", prog, "bash", file}, tc.words...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", tc.words, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("completing %q: got %q, want %q", tc.words, got, tc.want)
		}
	}
}
