package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/internal/devtoken"
	"github.com/rampart-rt/rampart/policy"
)

var auditTestSecret = []byte("audit-test-secret-0123456789abcdef-0123456789")

const auditTestOrigin = "https://app.example.com"

// startAuditTarget serves a rampart server with its defaults, behind
// httptest on 127.0.0.1 (with TLS when tlsOn), and returns the server.
func startAuditTarget(t *testing.T, tlsOn bool) *httptest.Server {
	t.Helper()
	srv, err := rampart.New(rampart.Config{
		Origins:  rampart.Origins{Allow: []string{auditTestOrigin}},
		Auth:     rampart.Auth{HMACSecret: auditTestSecret},
		Channels: []policy.Rule{{Pattern: "news:*", Subscribe: []string{"user"}, Publish: []string{"admin"}}},
	})
	if err != nil {
		t.Fatalf("rampart.New: %v", err)
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the TLS 1.1 probe's refusal
	if tlsOn {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return ts
}

func auditTestToken(t *testing.T) string {
	t.Helper()
	tok, err := devtoken.Mint(auditTestSecret, devtoken.Claims{Sub: "alice", Roles: []string{"user"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// runAudit runs the command with --json and returns the exit code and the
// verdicts by check name.
func runAudit(t *testing.T, args ...string) (int, map[string]auditResult, []auditResult) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"audit"}, append(args, "--json")...), &out, &errOut)
	var results []auditResult
	if err := json.Unmarshal(out.Bytes(), &results); err != nil {
		t.Fatalf("exit %d, output is not a JSON array: %v\n%s\nstderr: %s", code, err, out.String(), errOut.String())
	}
	if len(results) != len(auditChecks) {
		t.Fatalf("%d results, want %d", len(results), len(auditChecks))
	}
	by := map[string]auditResult{}
	for _, r := range results {
		if r.Detail == "" {
			t.Errorf("%s: empty detail", r.Check)
		}
		by[r.Check] = r
	}
	return code, by, results
}

func auditWSURL(ts *httptest.Server, scheme string) string {
	return scheme + "://" + strings.TrimPrefix(strings.TrimPrefix(ts.URL, "http://"), "https://") + "/ws"
}

func TestAuditRampartPlaintextLoopback(t *testing.T) {
	ts := startAuditTarget(t, false)
	tok := auditTestToken(t)
	code, by, results := runAudit(t, auditWSURL(ts, "ws"), "--token", tok, "--origin", auditTestOrigin, "--timeout", "3s")
	skipped := map[string]bool{"tls-version": true, "hsts": true} // ws:// has no TLS
	for _, r := range results {
		want := auditPass
		if skipped[r.Check] {
			want = auditSkip
		}
		if r.Result != want {
			t.Errorf("%s: %s (%s), want %s", r.Check, r.Result, r.Detail, want)
		}
		if strings.Contains(r.Detail, tok) {
			t.Errorf("%s: the detail holds the token", r.Check)
		}
	}
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	if d := by["baseline"].Detail; !strings.Contains(d, "max_message_bytes 16384") {
		t.Errorf("baseline detail %q", d)
	}

	var text bytes.Buffer
	printAudit(&text, "ws://x/ws", results)
	for _, line := range []string{"PASS  baseline ", "SKIP  hsts ", "20 checks: 18 pass, 2 skip"} {
		if !strings.Contains(text.String(), line) {
			t.Errorf("text report lacks %q:\n%s", line, text.String())
		}
	}
}

func TestAuditRampartTLS(t *testing.T) {
	ts := startAuditTarget(t, true)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, results := runAudit(t, auditWSURL(ts, "wss"), "--token", auditTestToken(t), "--origin", auditTestOrigin, "--ca", ca, "--timeout", "3s")
	for _, r := range results {
		if r.Result != auditPass {
			t.Errorf("%s: %s (%s), want PASS", r.Check, r.Result, r.Detail)
		}
	}
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
}

// weakHandler echoes; its upgrader accepts any origin, asks for no token,
// selects no subprotocol and negotiates compression.
type weakHandler struct{ gws.BuiltinEventHandler }

func (weakHandler) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

func TestAuditWeakEndpointFails(t *testing.T) {
	up := gws.NewUpgrader(weakHandler{}, &gws.ServerOption{
		PermessageDeflate: gws.PermessageDeflate{Enabled: true},
	})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
	}))
	t.Cleanup(ts.Close)

	code, by, _ := runAudit(t, auditWSURL(ts, "ws"), "--token", auditTestToken(t), "--origin", auditTestOrigin, "--timeout", "2s")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := map[string]string{
		"baseline": auditFail, "no-token": auditFail, "alg-none": auditFail, "bad-signature": auditFail,
		"origin-evil": auditFail, "origin-null": auditFail, "origin-suffix": auditFail, "origin-missing": auditInfo,
		"no-subprotocol": auditFail, "query-token": auditWarn, "bearer-echo": auditFail,
		"binary-frame": auditFail, "invalid-utf8": auditFail, "too-big": auditFail, "unknown-field": auditFail,
		"compression": auditFail, "refusal-headers": auditFail, "tls-version": auditSkip, "hsts": auditSkip,
		"plaintext": auditPass,
	}
	for name, w := range want {
		if got := by[name]; got.Result != w {
			t.Errorf("%s: %s (%s), want %s", name, got.Result, got.Detail, w)
		}
	}
}

func TestAuditUsage(t *testing.T) {
	t.Setenv("RAMPART_AUDIT_TOKEN", "")
	for _, args := range [][]string{
		{"audit"},
		{"audit", "ws://127.0.0.1:1/ws"}, // no token
		{"audit", "http://127.0.0.1:1/ws", "--token", "a.b.c"}, // not ws
		{"audit", "ws:///ws", "--token", "a.b.c"},              // no host
		{"audit", "ws://127.0.0.1:1/ws", "--token", "a.b.c", "--origin", "app.example.com"},
		{"audit", "ws://127.0.0.1:1/ws", "ws://127.0.0.1:2/ws", "--token", "a.b.c"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

func TestAuditPlaintextRemoteWarns(t *testing.T) {
	a, err := newAuditor("ws://rt.example.com/ws", "a.b.c", "", time.Second, "")
	if err != nil {
		t.Fatal(err)
	}
	if v := a.checkPlaintext(); v.result != auditWarn {
		t.Errorf("ws:// to a remote host: %s, want WARN", v.result)
	}
	if a.hostPort != "rt.example.com:80" || a.path != "/ws" {
		t.Errorf("hostPort %q path %q", a.hostPort, a.path)
	}
}
