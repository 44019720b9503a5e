package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runBinary runs the built command to its end (bounded) and returns its
// exit code and stderr. A command that is still running after the bound
// (a server that started) fails the test.
func runBinary(t *testing.T, bin string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%q still running after 20s (it started instead of refusing); stderr:\n%s", args, stderr.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%q: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// A setting given by flag is checked as the same setting in the file or in
// the environment: serve refuses to start, naming the flag and the key.
func TestServeFlagsAreChecked(t *testing.T) {
	dir := t.TempDir()
	bin := buildRampart(t, dir)
	secret := "RAMPART_JWT_SECRET=" + serveTestSecret
	loopback := writeConfig(t, dir, "loopback.yaml", "listen: \"127.0.0.1:0\"\n")
	plaintextOK := writeConfig(t, dir, "plaintext.yaml", "listen: \"127.0.0.1:0\"\ninsecure_allow_plaintext: true\n")
	cases := []struct {
		name string
		env  []string
		args []string
		want string // a line of stderr starts with this
	}{
		{"plaintext on every address", nil, []string{"serve", "--config", loopback, "--listen", "0.0.0.0:0"},
			"--listen: listen: plain ws:// on a non-loopback address: configure tls, or set insecure_allow_plaintext: true"},
		{"plaintext on every address, flag first", nil, []string{"serve", "--listen=0.0.0.0:0", "--config", loopback},
			"--listen: listen: plain ws:// on a non-loopback address"},
		{"the same from the environment", []string{"RAMPART_LISTEN=0.0.0.0:0"}, []string{"serve", "--config", loopback},
			"RAMPART_LISTEN: listen: plain ws:// on a non-loopback address"},
		{"open metrics on a public address", nil, []string{"serve", "--config", plaintextOK, "--listen", "[::]:0"},
			"--listen: listen: /metrics would answer anyone on the non-loopback address [::]:0"},
		{"not an address", nil, []string{"serve", "--config", loopback, "--listen", "localhost"},
			"--listen: listen: not a host:port address"},
		{"dev on every address", nil, []string{"serve", "--dev", "--listen", "0.0.0.0:0"},
			"--listen: listen: plain ws:// on a non-loopback address"},
		{"dev on a private address with plaintext allowed", []string{"RAMPART_INSECURE_ALLOW_PLAINTEXT=true", "RAMPART_METRICS_INSECURE_PUBLIC=true"},
			[]string{"serve", "--dev", "--listen", "10.255.255.1:0"},
			"--listen: listen: 10.255.255.1:0 is not a loopback address, and serve --dev listens only on loopback"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := runBinary(t, bin, append([]string{secret}, tc.env...), tc.args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
			}
			found := false
			for line := range strings.Lines(stderr) {
				found = found || strings.HasPrefix(line, tc.want)
			}
			if !found {
				t.Fatalf("no stderr line starts with %q:\n%s", tc.want, stderr)
			}
		})
	}
}

// --listen still overrides the file: the server starts where the flag says.
func TestServeListenFlagOverridesTheFile(t *testing.T) {
	dir := t.TempDir()
	bin := buildRampart(t, dir)
	path := writeConfig(t, dir, "rampart.yaml", "listen: \"127.0.0.1:1\"\nlimits: { shutdown_spread: 10ms }\n")
	p := startProcess(t, bin, "serve", "--config", path, "--listen", "127.0.0.1:0")
	started := p.event(t, "server_started", nil, 30*time.Second)
	if addr, _ := started["addr"].(string); !strings.HasPrefix(addr, "127.0.0.1:") || addr == "127.0.0.1:1" {
		t.Fatalf("listening on %q, want the flag's 127.0.0.1 with a free port", addr)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exit:
		if err != nil {
			t.Fatalf("exit: %v; log:\n%s", err, p.text())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after SIGTERM; log:\n%s", p.text())
	}
}
