package main

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/internal/audit"
)

func TestAuditUsage(t *testing.T) {
	t.Setenv("RAMPART_AUDIT_TOKEN", "")
	for _, args := range [][]string{
		{"audit"},
		{"audit", "http://127.0.0.1:1/ws", "--token", "a.b.c"}, // not ws
		{"audit", "ws:///ws", "--token", "a.b.c"},              // no host
		{"audit", "ws://127.0.0.1:1/ws", "--token", "a.b.c", "--origin", "app.example.com"},
		{"audit", "ws://127.0.0.1:1/ws", "ws://127.0.0.1:2/ws", "--token", "a.b.c"},
		{"audit", "ws://127.0.0.1:1/ws", "--token", "a.b.c", "--timeout", "0s"},
		{"audit", "ws://127.0.0.1:1/ws", "--no-such-flag"},
		{"audit", "ws://127.0.0.1:1/ws", "--json", "--sarif"},
		{"audit", "ws://127.0.0.1:1/ws", "--fail-on", "critical"},
		{"audit", "ws://127.0.0.1:1/ws", "--profile", "phoenix"},
		{"audit", "ws://127.0.0.1:1/ws", "--max-connections", "1"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 || out.Len() != 0 || errOut.Len() == 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2, a message and no report", args, code, out.String(), errOut.String())
		}
	}
}

func TestAuditFlagsAnywhereAndTokenFromEnv(t *testing.T) {
	t.Setenv("RAMPART_AUDIT_TOKEN", "e.n.v")
	t.Setenv("RAMPART_AUDIT_COOKIE", "sid=env")
	o, _, ok := parseAuditFlags([]string{"--json", "wss://rt.example.com/ws", "--origin", "https://app.example.com", "--timeout", "2s", "--ca", "ca.pem",
		"--profile", "socketio", "--max-connections", "7", "--duration", "1m", "--fail-on", "high"}, &bytes.Buffer{}, &bytes.Buffer{})
	want := audit.Options{URL: "wss://rt.example.com/ws", Token: "e.n.v", Cookie: "sid=env", Origin: "https://app.example.com", Profile: "socketio",
		Timeout: 2 * time.Second, Duration: time.Minute, IdleWait: time.Minute, HeaderWait: 20 * time.Second, MaxConns: 7, SizeCap: 1 << 20,
		CAFile: "ca.pem", Format: "json", FailOn: "high", UserAgent: "rampart-audit/" + versionString(), Version: versionString()}
	if !ok || o != want {
		t.Errorf("parsed %+v, %v; want %+v", o, ok, want)
	}
	if o, _, _ := parseAuditFlags([]string{"ws://h/ws", "--token", "f.l.ag", "--sarif"}, &bytes.Buffer{}, &bytes.Buffer{}); o.Token != "f.l.ag" || o.Format != "sarif" {
		t.Errorf("--token %q, format %q; want the flag's over the environment's, and sarif", o.Token, o.Format)
	}
}

// Nothing listens: the baseline fails, nothing else can be judged, and the
// audit exits 3 after the report, whatever --fail-on says.
func TestAuditUnreachableExits3(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	var out, errOut bytes.Buffer
	code := run([]string{"audit", "ws://" + addr + "/ws", "--token", "a.b.c", "--timeout", "2s", "--fail-on", "none"}, &out, &errOut)
	if code != 3 || !strings.Contains(out.String(), "FAIL    none      baseline") || !strings.Contains(errOut.String(), "baseline") {
		t.Errorf("exit %d, stderr %q, report:\n%s", code, errOut.String(), out.String())
	}
}

// --dry-run prints the plan and exits 0 without a server.
func TestAuditDryRun(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"audit", "ws://127.0.0.1:1/ws", "--dry-run", "--profile", "rampart"}, &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), "rampart-token-expiry") || !strings.Contains(out.String(), "nothing is sent") {
		t.Errorf("exit %d, stderr %q, output:\n%s", code, errOut.String(), out.String())
	}
}
