package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/internal/devtoken"
)

// The audit against servers nobody here wrote (ws and Socket.IO from npm,
// in internal/audit/testdata/peers, installed by scripts/browser-deps.sh),
// each strict and lax, and against the rampart binary with its defaults
// and with its escape hatches open. A strict server passes every check
// that applies; a lax one fails the checks of its weaknesses.

const (
	peerDir    = "../../internal/audit/testdata/peers"
	peerToken  = "peer-token-0123456789"
	peerOrigin = "http://app.test"
)

// startPeer runs a node peer in mode (strict or lax) and returns its port.
func startPeer(t *testing.T, script, mode string) int {
	t.Helper()
	if _, err := os.Stat(filepath.Join(peerDir, "node_modules", "ws")); err != nil {
		t.Fatalf("the audit peers' packages are missing: run scripts/browser-deps.sh (npm ci in %s): %v", peerDir, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed for the audit peers: %v", err)
	}
	cmd := exec.Command(node, script, mode)
	cmd.Dir = peerDir
	cmd.Env = append(os.Environ(), "PEER_TOKEN="+peerToken, "PEER_ORIGIN="+peerOrigin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	port := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m struct{ Port int }
			if json.Unmarshal(sc.Bytes(), &m) == nil && m.Port > 0 {
				port <- m.Port
			}
		}
		close(port)
	}()
	select {
	case p, ok := <-port:
		if !ok {
			t.Fatalf("%s %s exited before announcing its port: %s", script, mode, stderr.String())
		}
		return p
	case <-time.After(30 * time.Second):
		t.Fatalf("%s %s did not announce its port within 30s", script, mode)
	}
	return 0
}

type auditResult struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Result   string `json:"result"`
	Detail   string `json:"detail"`
}

// auditJSON runs `rampart audit ... --json` in-process and returns the
// exit code and the verdicts by check ID.
func auditJSON(t *testing.T, args ...string) (int, map[string]auditResult) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"audit", "--json"}, args...), &out, &errOut)
	var rep struct {
		Results []auditResult `json:"results"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("exit %d, stderr %q, the report is not JSON: %v\n%s", code, errOut.String(), err, out.String())
	}
	by := map[string]auditResult{}
	for _, r := range rep.Results {
		by[r.ID] = r
	}
	return code, by
}

// budgets keep each audit short: the strict peers' timeouts are 2s at
// most. The bursts go past the strict peers' bucket of 45 handshakes
// however long the checks before them took.
var budgets = []string{"--timeout", "3s", "--idle-wait", "6s", "--header-wait", "6s", "--max-connections", "60", "--size-cap", "262144"}

// expect checks verdicts: every listed check has its verdict, and with
// allElse, every check not listed passes or does not apply.
func expect(t *testing.T, by map[string]auditResult, want map[string]string, allElse bool) {
	t.Helper()
	for id, w := range want {
		if r, ok := by[id]; !ok || r.Result+"/"+r.Severity != w && r.Result != w {
			t.Errorf("%s: %s/%s (%s), want %s", id, r.Result, r.Severity, r.Detail, w)
		}
	}
	if !allElse {
		return
	}
	for id, r := range by {
		if _, listed := want[id]; !listed && r.Result != "PASS" && r.Result != "N/A" {
			t.Errorf("%s: %s (%s), want PASS or N/A", id, r.Result, r.Detail)
		}
	}
}

// What the lax peers get wrong, both of them.
var laxFindings = map[string]string{
	"cswsh-foreign-origin": "FAIL/high", "cswsh-null-origin": "FAIL/high", "cswsh-lookalike-origin": "FAIL/high",
	"cswsh-foreign-origin-anonymous": "FAIL/medium", "origin-missing": "FAIL/low", "auth-none": "FAIL/high",
	"auth-query-token": "SKIP", "limit-message-size": "FAIL/medium", "compression-bomb": "FAIL/high",
	"slow-handshake": "FAIL/medium", "leak-error-text": "FAIL/low", "http-security-headers": "FAIL/low",
	"limit-connections-per-address": "FAIL/medium", "limit-handshake-rate": "FAIL/medium", "idle-connection": "FAIL/low",
	"rfc-unmasked": "PASS", "rfc-reserved-bits": "PASS", "rfc-invalid-utf8": "PASS", "rfc-control-too-long": "PASS",
	"rfc-control-fragmented": "PASS", "rfc-length-top-bit": "PASS", "rfc-absurd-length": "PASS",
	"baseline": "PASS", "availability": "PASS",
}

func TestAuditWSPeers(t *testing.T) {
	t.Parallel()
	t.Run("strict", func(t *testing.T) {
		t.Parallel()
		port := startPeer(t, "ws-peer.mjs", "strict")
		code, by := auditJSON(t, append([]string{fmt.Sprintf("ws://127.0.0.1:%d/", port), "--token", peerToken, "--origin", peerOrigin}, budgets...)...)
		expect(t, by, map[string]string{"baseline": "PASS", "compression-bomb": "N/A", "auth-none": "PASS", "limit-message-size": "PASS"}, true)
		if code != 0 {
			t.Errorf("exit %d, want 0", code)
		}
	})
	t.Run("lax", func(t *testing.T) {
		t.Parallel()
		port := startPeer(t, "ws-peer.mjs", "lax")
		code, by := auditJSON(t, append([]string{fmt.Sprintf("ws://127.0.0.1:%d/", port), "--token", peerToken, "--origin", peerOrigin}, budgets...)...)
		expect(t, by, laxFindings, false)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		// --fail-on decides the exit code, not the report.
		if code, _ := auditJSON(t, append([]string{fmt.Sprintf("ws://127.0.0.1:%d/", port), "--token", peerToken, "--origin", peerOrigin, "--fail-on", "none", "--duration", "1s"}, budgets...)...); code != 0 {
			t.Errorf("--fail-on none: exit %d, want 0", code)
		}
	})
}

// With a cookie session instead of a token, a foreign page riding the
// cookie is the hijacking the cswsh checks are about.
func TestAuditWSPeersCookie(t *testing.T) {
	t.Parallel()
	cookie := "sid=" + peerToken
	t.Run("strict", func(t *testing.T) {
		t.Parallel()
		port := startPeer(t, "ws-peer.mjs", "strict")
		code, by := auditJSON(t, append([]string{fmt.Sprintf("ws://127.0.0.1:%d/", port), "--cookie", cookie, "--origin", peerOrigin, "--duration", "20s"}, budgets...)...)
		expect(t, by, map[string]string{"baseline": "PASS", "cswsh-foreign-origin": "PASS", "auth-none": "PASS", "auth-query-token": "SKIP"}, false)
		if code != 0 {
			t.Errorf("exit %d, want 0", code)
		}
	})
	t.Run("lax", func(t *testing.T) {
		t.Parallel()
		port := startPeer(t, "ws-peer.mjs", "lax")
		_, by := auditJSON(t, append([]string{fmt.Sprintf("ws://127.0.0.1:%d/", port), "--cookie", cookie, "--origin", peerOrigin, "--duration", "20s"}, budgets...)...)
		expect(t, by, map[string]string{"cswsh-foreign-origin": "FAIL/high", "cswsh-null-origin": "FAIL/high", "auth-none": "FAIL/high"}, false)
		if d := by["cswsh-foreign-origin"].Detail; strings.Contains(d, "token") {
			t.Errorf("cswsh-foreign-origin with a cookie: %q speaks of a token", d)
		}
	})
	t.Run("lax-anonymous", func(t *testing.T) {
		t.Parallel()
		port := startPeer(t, "ws-peer.mjs", "lax")
		// Without credentials the audit cannot know the endpoint is private.
		code, by := auditJSON(t, append([]string{fmt.Sprintf("ws://127.0.0.1:%d/", port), "--origin", peerOrigin, "--duration", "20s"}, budgets...)...)
		expect(t, by, map[string]string{"cswsh-foreign-origin": "FAIL/medium", "auth-none": "INFO", "cswsh-foreign-origin-anonymous": "INFO"}, false)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
	})
}

func TestAuditSocketIOPeers(t *testing.T) {
	t.Parallel()
	path := "/socket.io/?EIO=4&transport=websocket"
	t.Run("strict", func(t *testing.T) {
		t.Parallel()
		port := startPeer(t, "socketio-peer.mjs", "strict")
		code, by := auditJSON(t, append([]string{fmt.Sprintf("ws://127.0.0.1:%d%s", port, path), "--token", peerToken, "--origin", peerOrigin, "--profile", "socketio"}, budgets...)...)
		expect(t, by, map[string]string{"baseline": "PASS", "socketio-connect-anonymous": "PASS", "socketio-connect-forged": "PASS", "limit-message-size": "PASS"}, true)
		if code != 0 {
			t.Errorf("exit %d, want 0", code)
		}
	})
	t.Run("lax", func(t *testing.T) {
		t.Parallel()
		port := startPeer(t, "socketio-peer.mjs", "lax")
		code, by := auditJSON(t, append([]string{fmt.Sprintf("ws://127.0.0.1:%d%s", port, path), "--token", peerToken, "--origin", peerOrigin, "--profile", "socketio"}, budgets...)...)
		want := map[string]string{"socketio-connect-anonymous": "FAIL/high", "socketio-connect-forged": "FAIL/high"}
		for id, v := range laxFindings {
			want[id] = v
		}
		expect(t, by, want, false)
		if !strings.Contains(by["auth-none"].Detail, "sent data before any authentication") {
			t.Errorf("auth-none: %q, want the Engine.IO open packet named", by["auth-none"].Detail)
		}
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
	})
}

// startRampart runs the rampart binary with config and returns its
// address.
func startRampart(t *testing.T, bin, config string) string {
	t.Helper()
	path := writeConfig(t, t.TempDir(), "rampart.yaml", config)
	p := startProcess(t, bin, "serve", "--config", path)
	return fmt.Sprint(p.event(t, "server_started", nil, 30*time.Second)["addr"])
}

func mint(t *testing.T, ttl time.Duration) string {
	t.Helper()
	tok, err := devtoken.Mint([]byte(serveTestSecret), devtoken.Claims{Sub: "alice", Roles: []string{"user"}, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

const rampartBase = `listen: 127.0.0.1:0
origins:
  allow: ["http://app.test"]
auth:
  hmac_secret_env: RAMPART_JWT_SECRET
channels:
  - pattern: "news:*"
    subscribe: ["user"]
`

// Rampart's escape hatches, each opened.
const rampartLax = `handshake_timeout: 1m
require_subprotocol: false
origins:
  allow: ["http://app.test"]
  allow_missing: true
auth:
  hmac_secret_env: RAMPART_JWT_SECRET
  sources: [header, subprotocol, cookie, query]
limits:
  max_connections_per_ip: 1048576
  max_connections_per_user: 1048576
  handshakes_per_ip_per_minute: 1048576
  max_message_bytes: 16777216
  messages_per_minute: 1048576
  burst: 1048576
  ping_interval: 1h
  pong_timeout: 1h
listen: 127.0.0.1:0
`

func TestAuditRampartBinary(t *testing.T) {
	t.Parallel()
	bin := buildRampart(t, t.TempDir())
	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		addr := startRampart(t, bin, rampartBase)
		url := "ws://" + addr + "/ws"
		// The command as the operator surface writes it: no profile, no
		// --subprotocol. Rampart's refusal of the first upgrade names
		// subprotocol_required, and the audit offers rampart.v1 from then
		// on. Rampart closes an idle connection after ping_interval (25s)
		// and pong_timeout (10s): the idle wait covers both. Its handshake
		// bucket holds 60: the bursts go past it.
		code, by := auditJSON(t, url, "--token", mint(t, time.Hour), "--origin", peerOrigin,
			"--timeout", "3s", "--idle-wait", "50s", "--header-wait", "10s", "--max-connections", "70", "--size-cap", "262144")
		expect(t, by, map[string]string{"baseline": "PASS", "limit-message-size": "PASS", "idle-connection": "PASS"}, true)
		if d := by["baseline"].Detail; !strings.Contains(d, "every upgrade offers rampart.v1") {
			t.Errorf("baseline: %q, want it to say the audit offers rampart.v1", d)
		}
		if code != 0 {
			t.Errorf("generic checks: exit %d, want 0", code)
		}
	})
	t.Run("profile", func(t *testing.T) {
		t.Parallel()
		addr := startRampart(t, bin, rampartBase)
		code, by := auditJSON(t, "ws://"+addr+"/ws", "--token", mint(t, time.Hour), "--expiring-token", mint(t, 3*time.Second),
			"--origin", peerOrigin, "--profile", "rampart", "--timeout", "3s", "--idle-wait", "1s", "--header-wait", "10s", "--max-connections", "70")
		want := map[string]string{"rampart-token-expiry": "PASS", "rampart-forbidden-channel": "PASS", "rampart-bad-signature": "PASS",
			"rampart-alg-none": "PASS", "rampart-no-subprotocol": "PASS", "rampart-too-big": "PASS",
			"idle-connection": "FAIL/low"} // one second is shorter than Rampart's keepalive
		expect(t, by, want, true)
		if code != 1 {
			t.Errorf("exit %d, want 1 (the idle connection)", code)
		}
	})
	t.Run("compression", func(t *testing.T) {
		t.Parallel()
		// Compression on: the bomb is sent, and refused with 1009.
		addr := startRampart(t, bin, rampartBase+"compression:\n  enabled: true\n")
		_, by := auditJSON(t, append([]string{"ws://" + addr + "/ws", "--token", mint(t, time.Hour), "--origin", peerOrigin, "--profile", "rampart"}, budgets...)...)
		expect(t, by, map[string]string{"compression-bomb": "PASS"}, false)
		if d := by["compression-bomb"].Detail; !strings.Contains(d, "1009") {
			t.Errorf("compression-bomb: %q, want the bomb refused with 1009", d)
		}
	})
	t.Run("escape-hatches", func(t *testing.T) {
		t.Parallel()
		addr := startRampart(t, bin, rampartLax)
		code, by := auditJSON(t, append([]string{"ws://" + addr + "/ws", "--token", mint(t, time.Hour), "--origin", peerOrigin, "--profile", "rampart"}, budgets...)...)
		want := map[string]string{
			"origin-missing": "FAIL/low", "auth-query-token": "FAIL/medium", "limit-message-size": "FAIL/medium",
			"slow-handshake": "FAIL/medium", "limit-connections-per-address": "FAIL/medium", "limit-handshake-rate": "FAIL/medium",
			"idle-connection": "FAIL/low", "rampart-no-subprotocol": "FAIL/low", "rampart-token-expiry": "SKIP",
		}
		expect(t, by, want, true)
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
	})
}
