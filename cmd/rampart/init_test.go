package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/internal/devtoken"
)

// runIn runs the binary in dir and returns its exit code and output.
func runIn(t *testing.T, dir, bin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%q still running after 20s", args)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != want {
		t.Errorf("%s has mode %o, want %o", path, st.Mode().Perm(), want)
	}
}

// rampart init writes a configuration that check-config accepts and a
// secret file of mode 0600 that the configuration names; it refuses to
// overwrite either (even through a planted symbolic link) without --force.
func TestInitWritesAConfigAndASecret(t *testing.T) {
	bin := buildRampart(t, t.TempDir())
	dir := t.TempDir()
	code, stdout, stderr := runIn(t, dir, bin, "init")
	if code != 0 || stderr != "" || !strings.Contains(stdout, "rampart check-config rampart.yaml") {
		t.Fatalf("init: exit %d, stderr %q, stdout %q", code, stderr, stdout)
	}
	cfg, secPath := filepath.Join(dir, "rampart.yaml"), filepath.Join(dir, "rampart.secret")
	checkMode(t, secPath, 0o600)
	secret := strings.TrimSpace(readFile(t, secPath))
	if raw, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(raw) != 32 {
		t.Fatalf("secret %q: want 32 random bytes, base64url (%v)", secret, err)
	}
	if !strings.Contains(readFile(t, cfg), "\n  hmac_secret_file: rampart.secret\n") {
		t.Errorf("the configuration does not name the secret file:\n%s", readFile(t, cfg))
	}
	if code, stdout, stderr := runIn(t, dir, bin, "check-config", "rampart.yaml"); code != 0 {
		t.Fatalf("check-config on init's file: exit %d\n%s%s", code, stdout, stderr)
	}

	// Again: refused, both files as they were.
	before := readFile(t, cfg)
	code, _, stderr = runIn(t, dir, bin, "init")
	if code != 1 || !strings.Contains(stderr, "rampart.yaml exists") || !strings.Contains(stderr, "--force") {
		t.Errorf("init over existing files: exit %d, stderr %q; want 1 and a message naming the file and --force", code, stderr)
	}
	if readFile(t, cfg) != before || strings.TrimSpace(readFile(t, secPath)) != secret {
		t.Error("a refused init changed the files")
	}
	// Only the secret exists: still refused, and no configuration written.
	code, _, stderr = runIn(t, dir, bin, "init", "--out", "other.yaml")
	if _, err := os.Stat(filepath.Join(dir, "other.yaml")); code != 1 || !strings.Contains(stderr, "rampart.secret exists") || err == nil {
		t.Errorf("init with an existing secret file: exit %d, stderr %q, other.yaml written: %v", code, stderr, err == nil)
	}
	// A symbolic link planted where the secret goes is not written through.
	target := filepath.Join(t.TempDir(), "target")
	if err := os.Symlink(target, filepath.Join(dir, "planted")); err != nil {
		t.Fatal(err)
	}
	code, _, _ = runIn(t, dir, bin, "init", "--out", "x.yaml", "--secret-file", "planted")
	if _, err := os.Stat(target); code != 1 || err == nil {
		t.Errorf("init through a planted link: exit %d, target written: %v", code, err == nil)
	}
	if code, _, _ := runIn(t, dir, bin, "init", "--out", "same", "--secret-file", "./same"); code != 1 {
		t.Errorf("--out and --secret-file the same file: exit %d, want 1", code)
	}

	// --force replaces both, with a new secret, mode 0600 still.
	if code, _, stderr := runIn(t, dir, bin, "init", "--force"); code != 0 {
		t.Fatalf("init --force: exit %d, %s", code, stderr)
	}
	checkMode(t, secPath, 0o600)
	if strings.TrimSpace(readFile(t, secPath)) == secret {
		t.Error("init --force kept the old secret")
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".rampart*"))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// A secret file elsewhere is named by a path relative to the
// configuration's directory, so the server finds it from any directory.
func TestInitSecretFileElsewhere(t *testing.T) {
	bin := buildRampart(t, t.TempDir())
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runIn(t, dir, bin, "init", "--out", "etc/rampart.yaml", "--secret-file", "secrets/jwt"); code != 1 || !strings.Contains(stderr, "secrets") {
		t.Errorf("init into a missing directory: exit %d, stderr %q; want 1 naming it", code, stderr)
	}
	// The configuration cannot be written: the secret written just before is
	// removed, not left behind with nothing naming it.
	if code, _, stderr := runIn(t, dir, bin, "init", "--out", "missing/rampart.yaml"); code != 1 || !strings.Contains(stderr, "missing") {
		t.Errorf("init into a missing directory: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Lstat(filepath.Join(dir, "rampart.secret")); err == nil {
		t.Error("a secret was left behind by a failed init")
	}
	if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runIn(t, dir, bin, "init", "--out", "etc/rampart.yaml", "--secret-file", "secrets/jwt"); code != 0 {
		t.Fatalf("init: exit %d, %s", code, stderr)
	}
	if !strings.Contains(readFile(t, filepath.Join(dir, "etc/rampart.yaml")), "hmac_secret_file: ../secrets/jwt\n") {
		t.Error("the configuration does not name ../secrets/jwt")
	}
	if code, out, stderr := runIn(t, t.TempDir(), bin, "check-config", filepath.Join(dir, "etc/rampart.yaml")); code != 0 {
		t.Fatalf("check-config from elsewhere: exit %d %s%s", code, out, stderr)
	}
}

// serve --config starts with init's file and verifies tokens with the
// secret init wrote (not with RAMPART_JWT_SECRET, which the file's
// hmac_secret_file overrides); its origins refuse a handshake without
// Origin until allowed.
func TestServeStartsWithInitsConfig(t *testing.T) {
	dir := t.TempDir()
	bin := buildRampart(t, dir)
	if code, _, stderr := runIn(t, dir, bin, "init"); code != 0 {
		t.Fatalf("init: exit %d, %s", code, stderr)
	}
	p := startProcessEnv(t, bin, []string{"RAMPART_ORIGINS_ALLOW_MISSING=true"},
		"serve", "--config", filepath.Join(dir, "rampart.yaml"), "--listen", "127.0.0.1:0")
	addr, _ := p.event(t, "server_started", nil, 30*time.Second)["addr"].(string)
	// The token command reads the same file.
	code, good, stderr := runIn(t, dir, bin, "token", "--secret-file", "rampart.secret", "--sub", "alice")
	if code != 0 {
		t.Fatalf("token --secret-file: exit %d, %s", code, stderr)
	}
	good = strings.TrimSpace(good)
	if code, _, stderr := runIn(t, dir, bin, "token", "--secret-file", "missing", "--sub", "alice"); code != 1 || !strings.Contains(stderr, "missing") {
		t.Errorf("token --secret-file missing: exit %d, %q", code, stderr)
	}
	other, _ := devtoken.Mint([]byte(serveTestSecret), devtoken.Claims{Sub: "alice", TTL: time.Hour})
	if got := upgradeStatus(t, addr, good, ""); got != http.StatusSwitchingProtocols {
		t.Errorf("a token signed with init's secret: %d, want 101", got)
	}
	if got := upgradeStatus(t, addr, other, ""); got != http.StatusUnauthorized {
		t.Errorf("a token signed with RAMPART_JWT_SECRET: %d, want 401", got)
	}
	if got := upgradeStatus(t, addr, good, "https://app.example.com"); got != http.StatusForbidden {
		t.Errorf("an origin init's file does not list: %d, want 403", got)
	}
}

// upgradeStatus sends a WebSocket handshake with tok (and origin, if not
// empty) and returns the answer's status.
func upgradeStatus(t *testing.T, addr, tok, origin string) int {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	var kb [16]byte
	_, _ = rand.Read(kb[:])
	req := fmt.Sprintf("GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: rampart.v1\r\nAuthorization: Bearer %s\r\n",
		addr, base64.StdEncoding.EncodeToString(kb[:]), tok)
	if origin != "" {
		req += "Origin: " + origin + "\r\n"
	}
	if _, err := io.WriteString(nc, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}
