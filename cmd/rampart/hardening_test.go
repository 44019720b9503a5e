package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/client"
	"github.com/rampart-rt/rampart/config"
	"github.com/rampart-rt/rampart/internal/devtoken"
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
		{"dev on a private address from the environment", []string{"RAMPART_LISTEN=10.255.255.1:0", "RAMPART_INSECURE_ALLOW_PLAINTEXT=true", "RAMPART_METRICS_INSECURE_PUBLIC=true"},
			[]string{"serve", "--dev"},
			"RAMPART_LISTEN: listen: 10.255.255.1:0 is not a loopback address, and serve --dev listens only on loopback"},
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

// logBuffer collects a server's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// events returns the log lines with event name.
func (b *logBuffer) events(t *testing.T, name string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	text := b.buf.String()
	b.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(text) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		if m["event"] == name {
			out = append(out, m)
		}
	}
	return out
}

// waitEvent polls the log until n lines with event name are there.
func (b *logBuffer) waitEvent(t *testing.T, name string, n int, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if ev := b.events(t, name); len(ev) >= n {
			return ev[n-1]
		}
		if time.Now().After(deadline) {
			b.mu.Lock()
			defer b.mu.Unlock()
			t.Fatalf("no %d× %s within %s; log:\n%s", n, name, timeout, b.buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// reloadable is a server started the way serve starts one from a file,
// on 127.0.0.1, with its reloader.
type reloadable struct {
	path string
	addr string
	rl   *reloader
	log  *logBuffer
}

const chatConfig = `listen: "127.0.0.1:0"
origins: { allow_missing: true }
limits: { shutdown_spread: 10ms, max_connections_per_ip: 100 }
channels:
  - pattern: "chat:*"
    subscribe: ["*"]
    publish: ["*"]
  - pattern: "news:*"
    subscribe: ["*"]
`

// startReloadable writes body as the configuration file and serves it. With
// every > 0 the file is watched at that interval.
func startReloadable(t *testing.T, body string, every time.Duration) *reloadable {
	t.Helper()
	t.Setenv("RAMPART_JWT_SECRET", serveTestSecret)
	path := writeConfig(t, t.TempDir(), "rampart.yaml", body)
	f, err := config.Load(path, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", f.Listen)
	if err != nil {
		t.Fatal(err)
	}
	buf := &logBuffer{}
	log := newLogger(config.Log{Format: "json", Level: "info"}, buf)
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	srv, cleanup, err := buildServer(ctx, f, nil, addr, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	hs := srv.HTTPServer()
	served := make(chan struct{})
	go func() { defer close(served); _ = hs.Serve(ln) }()
	r := &reloadable{path: path, addr: addr, log: buf,
		rl: &reloader{path: path, file: f, srv: srv, addr: addr, log: log}}
	watched := make(chan struct{})
	if every > 0 {
		go func() { defer close(watched); r.rl.watch(ctx, every) }()
	} else {
		close(watched)
	}
	t.Cleanup(func() {
		cancel()
		<-watched
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = hs.Shutdown(sctx)
		<-served
		_ = srv.Shutdown(sctx)
		cleanup()
	})
	return r
}

// dialWS connects a plain WebSocket client as user.
func (r *reloadable) dialWS(t *testing.T, user string) *wssClient {
	t.Helper()
	tok, err := devtoken.Mint([]byte(serveTestSecret), devtoken.Claims{Sub: user, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.DialTimeout("tcp", r.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return handshakeWS(t, nc, r.addr, tok)
}

// command sends one command and returns the reply to it.
func (c *wssClient) command(id int, body string) string {
	c.t.Helper()
	if err := c.write(0x1, fmt.Appendf(nil, `{"id":%d,%s}`, id, body)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
	return c.read()
}

func (c *wssClient) subscribe(id int, channel string) {
	c.t.Helper()
	if got := c.command(id, `"action":"subscribe","channel":"`+channel+`"`); !strings.HasPrefix(got, fmt.Sprintf(`{"id":%d,"result":`, id)) {
		c.t.Fatalf("subscribe %s: %s", channel, got)
	}
}

// A configuration file truncated while the server runs (": > rampart.yaml",
// a deployment tool's first step) and then written again: the watcher
// never applies the empty file, so a subscriber keeps its subscription and
// gets the next publication, not an unsubscribe push.
func TestReloadSurvivesATruncatedFile(t *testing.T) {
	r := startReloadable(t, chatConfig, 20*time.Millisecond)
	alice := r.dialWS(t, "alice")
	alice.subscribe(1, "chat:lobby")

	if err := os.WriteFile(r.path, nil, 0o600); err != nil { // truncate, as ": >" does
		t.Fatal(err)
	}
	refused := r.log.waitEvent(t, "config_reload_refused", 1, 5*time.Second)
	if refused["level"] != "ERROR" || refused["trigger"] != "file changed" {
		t.Fatalf("refusal line %v", refused)
	}
	if err := os.WriteFile(r.path, []byte(chatConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	r.log.waitEvent(t, "config_file_reloaded", 1, 5*time.Second)

	bob := r.dialWS(t, "bob")
	if got := bob.command(1, `"action":"publish","channel":"chat:lobby","data":"still here"`); !strings.Contains(got, `"result":{"offset":`) {
		t.Fatalf("publish: %s", got)
	}
	if got := alice.read(); !strings.HasPrefix(got, `{"push":"publication","channel":"chat:lobby"`) {
		t.Fatalf("alice's next frame is %s, want the publication", got)
	}
	if n := len(r.log.events(t, "subscription_revoked")); n != 0 {
		t.Fatalf("%d subscriptions revoked", n)
	}
}

// The watcher applies a file only once two polls saw the same content:
// a file caught half written is not applied, the finished one is.
func TestReloadWaitsForACompleteFile(t *testing.T) {
	r := startReloadable(t, chatConfig, 0)
	r.rl.watchStart()
	alice := r.dialWS(t, "alice")
	alice.subscribe(1, "news:today")

	// Half written: cut inside the second rule, a valid file without news:*.
	half := chatConfig[:strings.Index(chatConfig, "  - pattern: \"news:*\"")]
	if err := os.WriteFile(r.path, []byte(half), 0o600); err != nil {
		t.Fatal(err)
	}
	r.rl.poll()
	if err := os.WriteFile(r.path, []byte(chatConfig+"    publish: [\"*\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.rl.poll()
	if n := len(r.log.events(t, "config_file_reloaded")); n != 0 {
		t.Fatalf("a file seen once was applied (%d reloads)", n)
	}
	r.rl.poll()
	if n := len(r.log.events(t, "config_file_reloaded")); n != 1 {
		t.Fatalf("the finished file seen twice: %d reloads, want 1", n)
	}
	r.rl.poll()
	if n := len(r.log.events(t, "config_file_reloaded")); n != 1 {
		t.Fatalf("an unchanged file was applied again: %d reloads", n)
	}
	// The publish rule comes from the finished file only; alice, still
	// subscribed, gets both the reply and the publication (in either order).
	frames := alice.command(2, `"action":"publish","channel":"news:today","data":1`) + alice.read()
	if !strings.Contains(frames, `{"id":2,"result":{"offset":`) || !strings.Contains(frames, `{"push":"publication","channel":"news:today"`) {
		t.Fatalf("want the reply and the publication, got %s", frames)
	}
}

// SIGHUP is the operator asking: a file without rules is applied, every
// subscription is revoked, and an error line says so.
func TestSIGHUPAppliesAnEmptiedFileLoudly(t *testing.T) {
	r := startReloadable(t, chatConfig, 0)
	alice := r.dialWS(t, "alice")
	alice.subscribe(1, "chat:lobby")
	if err := os.WriteFile(r.path, []byte("listen: \"127.0.0.1:0\"\norigins: { allow_missing: true }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.rl.reload("signal")
	line := r.log.waitEvent(t, "config_channels_emptied", 1, time.Second)
	if line["level"] != "ERROR" || line["channels"] != 2.0 {
		t.Fatalf("line %v", line)
	}
	if got := alice.read(); !strings.HasPrefix(got, `{"push":"unsubscribe","channel":"chat:lobby"`) {
		t.Fatalf("alice's next frame is %s, want the unsubscribe push", got)
	}
}

// A reload reads the flags again: --listen is not "a change that needs a
// restart", and the checks see the address the flag gave.
func TestReloadKeepsTheFlags(t *testing.T) {
	r := startReloadable(t, chatConfig, 0)
	r.rl.flags = []config.Flag{{Name: "--listen", Key: "listen", Value: r.addr}}
	r.rl.file.Listen = r.addr
	r.rl.reload("signal")
	r.log.waitEvent(t, "config_file_reloaded", 1, time.Second)
	if ev := r.log.events(t, "config_restart_needed"); len(ev) != 0 {
		t.Fatalf("restart asked for: %v", ev)
	}
	r.rl.flags[0].Value = "0.0.0.0:8080"
	r.rl.reload("signal")
	failed := r.log.waitEvent(t, "config_reload_failed", 1, time.Second)
	if msg, _ := failed["error"].(string); !strings.Contains(msg, "--listen: listen: plain ws://") {
		t.Fatalf("refusal %q", msg)
	}
}

// A file edited to drop the metrics key while the process still listens
// on a public address is refused: listen needs a restart, and until then
// /metrics would answer anyone.
func TestReloadKeepsMetricsProtected(t *testing.T) {
	t.Setenv("RAMPART_METRICS_KEYS", "metrics-key-0123456789abcdef")
	r := startReloadable(t, chatConfig, 0)
	r.rl.file.Listen, r.rl.file.InsecureAllowPlaintext = "0.0.0.0:8080", true // as if started so
	t.Setenv("RAMPART_METRICS_KEYS", "")
	r.rl.reload("signal")
	failed := r.log.waitEvent(t, "config_reload_failed", 1, time.Second)
	if msg, _ := failed["error"].(string); !strings.Contains(msg, "metrics: /metrics would answer anyone on the running non-loopback listener 0.0.0.0:8080") {
		t.Fatalf("refusal %q", msg)
	}
	if err := os.WriteFile(r.path, []byte(chatConfig+"metrics: { insecure_public: true }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.rl.reload("signal")
	r.log.waitEvent(t, "config_file_reloaded", 1, time.Second)
}

// devServer runs `rampart serve --dev` on a free loopback port and returns
// its address.
func devServer(t *testing.T, bin string) string {
	t.Helper()
	return devServerWith(t, bin, nil, "--listen", "127.0.0.1:0")
}

// devServerWith runs `rampart serve --dev` with args after --dev and env
// added to the environment, and returns the address it announced.
func devServerWith(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--dev"}, args...)...)
	cmd.Env = append(append(os.Environ(), "XDG_STATE_HOME="+t.TempDir()), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "rampart: dev server on http://"); ok {
				found <- addr
			}
		}
		close(found)
	}()
	select {
	case addr, ok := <-found:
		if !ok {
			t.Fatal("the dev server exited before announcing its address")
		}
		return addr
	case <-time.After(30 * time.Second):
		t.Fatal("the dev server did not announce its address within 30s")
	}
	return ""
}

// serve --dev listens where RAMPART_LISTEN says when --listen is not
// given (it used to bind 127.0.0.1:8080 whatever the environment said).
func TestDevListensWhereTheEnvironmentSays(t *testing.T) {
	bin := buildRampart(t, t.TempDir())
	addr := devServerWith(t, bin, []string{"RAMPART_LISTEN=127.0.0.1:0"})
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":8080") {
		t.Fatalf("dev server announced %q, want RAMPART_LISTEN's 127.0.0.1 with a free port", addr)
	}
}

// get sends GET path with a Host header of our choosing over a fresh
// connection and returns the status and the body.
func get(t *testing.T, addr, host, path string) (int, string) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host)
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(body)
}

// A page on attacker.example whose name rebinds to 127.0.0.1 reaches the
// dev server with its own Host: it gets no token, no page and no
// WebSocket. Loopback names still work.
func TestDevAnswersOnlyLoopbackHosts(t *testing.T) {
	bin := buildRampart(t, t.TempDir())
	addr := devServer(t, bin)
	_, port, _ := net.SplitHostPort(addr)
	for _, host := range []string{"attacker.example:" + port, "attacker.example", "127.0.0.1.attacker.example:" + port,
		"localhost.attacker.example:" + port, "10.0.0.1:" + port, "[::ffff:10.0.0.1]:" + port, "0.0.0.0:" + port} {
		for _, path := range []string{"/dev/token?user=eve", "/", "/ws", "/healthz"} {
			status, body := get(t, addr, host, path)
			if status != http.StatusForbidden || strings.TrimSpace(body) != `{"error":"forbidden"}` {
				t.Errorf("Host %s, GET %s: %d %q, want 403 {\"error\":\"forbidden\"}", host, path, status, body)
			}
		}
	}
	for _, host := range []string{addr, "localhost:" + port, "LOCALHOST:" + port, "[::1]:" + port, "127.0.0.1", "127.8.9.10:" + port} {
		status, body := get(t, addr, host, "/dev/token?user=ana")
		if status != http.StatusOK || !strings.Contains(body, `"token":"`) {
			t.Errorf("Host %s: %d %q, want a token", host, status, body)
		}
	}
	if status, _ := get(t, addr, "localhost:"+port, "/"); status != http.StatusOK {
		t.Errorf("the demo page on localhost: %d", status)
	}
}

// The dev banner's "try" line is a client of this repository that works:
// the chat example, with the printed address and token, connects.
func TestDevBannerSuggestsAClientThatExists(t *testing.T) {
	bin := buildRampart(t, t.TempDir())
	cmd := exec.Command(bin, "serve", "--dev", "--listen", "127.0.0.1:0", "--dev-state", t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	var try string
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "try: "); ok {
			try = rest
			break
		}
	}
	f := strings.Fields(try)
	if len(f) != 7 || f[0] != "go" || f[1] != "run" || f[2] != "./examples/chat" || f[3] != "-url" || f[5] != "-token" {
		t.Fatalf("try line %q: want go run ./examples/chat -url URL -token TOKEN", try)
	}
	if _, err := os.Stat(filepath.Join("..", "..", "examples", "chat", "main.go")); err != nil {
		t.Fatalf("the suggested example is not in the repository: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{URL: f[4], Token: func(context.Context) (string, error) { return f[6], nil }})
	if err != nil {
		t.Fatalf("the suggested URL and token do not connect: %v", err)
	}
	_ = c.Close()
}
