package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/internal/bench"
)

// The command line a --procs parent gives its children parses back into
// the options it was made from (the ramp's and the label, which children
// do not use, at their defaults).
func TestBenchChildArgsParseBack(t *testing.T) {
	secret := "bench-flags-secret-0123456789abcdef-0123"
	t.Setenv("RAMPART_BENCH_SECRET", secret)
	sources, err := bench.ParseSources("127.0.0.2-127.0.0.4")
	if err != nil {
		t.Fatal(err)
	}
	base := bench.Options{URL: "ws://127.0.0.1:9/ws", Mode: bench.ModeFanout, Conns: 7, First: 14, Channel: "bench:c",
		Channels: 1, Users: 3, Sources: sources, Concurrency: 2, Duration: time.Second, Rate: 10, RateStep: 2,
		RateMax: 40, P99Limit: time.Second, Size: 100, Loops: 64, Handshakes: 100000, Procs: 1,
		Timeout: time.Minute, Drain: 2 * time.Second, Secret: []byte(secret)}
	idle := base
	idle.Mode, idle.Channels, idle.ChannelPerConn = bench.ModeIdle, 5, true
	handshake := base
	handshake.Mode, handshake.Loops, handshake.Handshakes = bench.ModeHandshake, 32, 5000
	for _, want := range []bench.Options{base, idle, handshake} {
		args := bench.ChildArgs(want)
		got, role, _, ok := parseBenchFlags(args[1:], io.Discard, io.Discard)
		if !ok || role != "child" || args[0] != "bench" {
			t.Fatalf("parse %q: role %q, ok %v", args, role, ok)
		}
		got.Log = nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("parsed back:\n%+v\nwant\n%+v", got, want)
		}
	}
}

func TestBenchBadFlagsExit2(t *testing.T) {
	t.Setenv("RAMPART_JWT_SECRET", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--url", "ws://10.0.0.1/ws"}, "the target must be a loopback address"},
		{[]string{"bench", "--sources", "10.0.0.1"}, "--sources"},
		{[]string{"bench", "--mode", "burst"}, "--mode must be one of idle, fanout, ramp, handshake"},
		{[]string{"bench", "--no-such-flag"}, "flag provided but not defined"},
	} {
		var out, errOut bytes.Buffer
		if code := run(tc.args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}

// Each mode of rampart bench, spread over two child processes, against a
// real rampart serve: one JSON line on stdout, with the server's CPU time
// read through --server-pid.
func TestBenchModesOverProcesses(t *testing.T) {
	dir := t.TempDir()
	bin := buildRampart(t, dir)
	cfg := writeConfig(t, dir, "bench.yaml", `listen: "127.0.0.1:0"
origins: { allow_missing: true }
auth: { hmac_secret_env: RAMPART_JWT_SECRET }
limits: { max_connections_per_ip: 5000, max_connections_per_user: 5000, handshakes_per_ip_per_minute: 1000000, messages_per_minute: 1000000, burst: 10000 }
channels:
  - { pattern: "bench:*", subscribe: ["*"], publish: ["*"] }
`)
	srv := startProcess(t, bin, "serve", "--config", cfg)
	addr, _ := srv.event(t, "server_started", nil, 30*time.Second)["addr"].(string)
	common := []string{"bench", "--url", "ws://" + addr + "/ws", "--procs", "2", "--sources", "127.0.0.2-127.0.0.9",
		"--server-pid", strconv.Itoa(srv.cmd.Process.Pid), "--label", "e2e", "--timeout", "1m"}
	cases := []struct {
		args  []string
		check func(r bench.Report) bool
	}{
		{[]string{"--mode", "idle", "--conns", "40", "--channel", "bench:own", "--channel-per-conn", "--duration", "500ms"},
			func(r bench.Report) bool {
				i := r.Idle
				return i != nil && i.Opened == 40 && i.ClosedByServer == 0 && i.RSSBeforeKiB > 0 && r.Params.Channels == 40
			}},
		{[]string{"--mode", "fanout", "--subscribers", "20", "--rate", "20", "--duration", "500ms"},
			func(r bench.Report) bool {
				f := r.Fanout
				return f != nil && f.Published == 10 && f.Received == 200 && f.Lost == 0 && f.P99MS > 0
			}},
		{[]string{"--mode", "ramp", "--subscribers", "20", "--rate", "10", "--rate-step", "10", "--rate-max", "50",
			"--duration", "200ms", "--p99-limit", "1ns"},
			func(r bench.Report) bool {
				return r.Ramp != nil && len(r.Ramp.Steps) == 1 && r.Ramp.Best == nil && r.Ramp.Steps[0].Received == 40
			}},
		{[]string{"--mode", "handshake", "--loops", "8", "--handshakes", "100", "--duration", "5s"},
			func(r bench.Report) bool {
				h := r.Handshake
				return h != nil && h.Handshakes >= 1 && h.Errors == 0 && h.PerS > 0
			}},
	}
	for _, tc := range cases {
		t.Run(tc.args[1], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append(common, tc.args...)...)
			cmd.Env = append(os.Environ(), "RAMPART_JWT_SECRET="+serveTestSecret)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v\nstderr:\n%s", err, stderr.String())
			}
			var r bench.Report
			if n := strings.Count(stdout.String(), "\n"); n != 1 {
				t.Fatalf("stdout has %d lines, want 1:\n%s", n, stdout.String())
			}
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
				t.Fatalf("%v: %s", err, stdout.String())
			}
			if r.Mode != tc.args[1] || r.Label != "e2e" || r.Params.Procs != 2 || !tc.check(r) {
				t.Errorf("report:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			}
		})
	}
}
