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
		{"audit", "ws://127.0.0.1:1/ws"}, // no token
		{"audit", "http://127.0.0.1:1/ws", "--token", "a.b.c"}, // not ws
		{"audit", "ws:///ws", "--token", "a.b.c"},              // no host
		{"audit", "ws://127.0.0.1:1/ws", "--token", "a.b.c", "--origin", "app.example.com"},
		{"audit", "ws://127.0.0.1:1/ws", "ws://127.0.0.1:2/ws", "--token", "a.b.c"},
		{"audit", "ws://127.0.0.1:1/ws", "--token", "a.b.c", "--timeout", "0s"},
		{"audit", "ws://127.0.0.1:1/ws", "--no-such-flag"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 || out.Len() != 0 || errOut.Len() == 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2, a message and no report", args, code, out.String(), errOut.String())
		}
	}
}

func TestAuditFlagsAnywhereAndTokenFromEnv(t *testing.T) {
	t.Setenv("RAMPART_AUDIT_TOKEN", "e.n.v")
	o, _, ok := parseAuditFlags([]string{"--json", "wss://rt.example.com/ws", "--origin", "https://app.example.com", "--timeout", "2s", "--ca", "ca.pem"}, &bytes.Buffer{}, &bytes.Buffer{})
	want := audit.Options{URL: "wss://rt.example.com/ws", Token: "e.n.v", Origin: "https://app.example.com",
		Timeout: 2 * time.Second, CAFile: "ca.pem", JSON: true, UserAgent: "rampart-audit/" + versionString()}
	if !ok || o != want {
		t.Errorf("parsed %+v, %v; want %+v", o, ok, want)
	}
	if o, _, _ := parseAuditFlags([]string{"ws://h/ws", "--token", "f.l.ag"}, &bytes.Buffer{}, &bytes.Buffer{}); o.Token != "f.l.ag" {
		t.Errorf("--token %q, want the flag's over the environment's", o.Token)
	}
}

// A failing check exits 1 after the report: here nothing listens.
func TestAuditFailingCheckExits1(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	var out, errOut bytes.Buffer
	code := run([]string{"audit", "ws://" + addr + "/ws", "--token", "a.b.c", "--timeout", "2s"}, &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), "FAIL  baseline ") || !strings.Contains(out.String(), "20 checks: 1 pass, 1 fail, 18 skip") {
		t.Errorf("exit %d, stderr %q, report:\n%s", code, errOut.String(), out.String())
	}
}
