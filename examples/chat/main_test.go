package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/internal/devtoken"
	"github.com/rampart-rt/rampart/policy"
)

var secret = []byte("chat-example-test-secret-0123456789abcdef")

// startServer runs a Rampart server for the chat and returns it, its
// configuration and its WebSocket URL.
func startServer(t *testing.T) (*rampart.Server, rampart.Config, string) {
	t.Helper()
	cfg := rampart.Config{
		Origins:  rampart.Origins{AllowMissing: true},
		Auth:     rampart.Auth{HMACSecret: secret},
		Channels: []policy.Rule{{Pattern: "chat:*", Subscribe: []string{policy.RoleAny}, Publish: []string{policy.RoleAny}}},
	}
	s, err := rampart.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		ts.Close()
	})
	return s, cfg, "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws"
}

func token(t *testing.T, key []byte, ttl time.Duration) string {
	t.Helper()
	tok, err := devtoken.Mint(key, devtoken.Claims{Sub: "ana", TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// chat is the example's binary running; its stdin stays open.
type chat struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	lines  chan string
	exit   chan int
}

func startChat(t *testing.T, bin, url, tok string) *chat {
	t.Helper()
	c := &chat{cmd: exec.Command(bin, "-url", url, "-token", tok), lines: make(chan string, 64), exit: make(chan int, 1)}
	stdin, err := c.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stderr = &lockedWriter{mu: &c.mu, w: &c.stderr}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.mu.Lock()
			c.stdout.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
			c.lines <- sc.Text()
		}
		close(c.lines)
		_ = c.cmd.Wait()
		c.exit <- c.cmd.ProcessState.ExitCode()
	}()
	t.Cleanup(func() { _ = stdin.Close(); _ = c.cmd.Process.Kill() })
	return c
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// waitLine waits for a line of stdout starting with prefix.
func (c *chat) waitLine(t *testing.T, prefix string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				t.Fatalf("chat ended without a line %q (exit %d); output:\n%s", prefix, <-c.exit, c.output())
			}
			if strings.HasPrefix(line, prefix) {
				return
			}
		case <-deadline:
			t.Fatalf("no line %q within 20s", prefix)
		}
	}
}

func (c *chat) wait(t *testing.T) int {
	t.Helper()
	for range c.lines { // drain
	}
	select {
	case code := <-c.exit:
		return code
	case <-time.After(20 * time.Second):
		t.Fatal("chat still running 20s after its output ended")
	}
	return 0
}

func (c *chat) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stdout.String() + c.stderr.String()
}

func buildChat(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chat")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// A token refused at the first connection: chat prints the server's code
// and what it means, and exits 1.
func TestChatReportsARefusedToken(t *testing.T) {
	bin := buildChat(t)
	_, _, url := startServer(t)
	c := startChat(t, bin, url, token(t, []byte("not-the-servers-secret-0123456789abcdef"), time.Hour))
	if code := c.wait(t); code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, c.output())
	}
	if out := c.output(); !strings.Contains(out, "chat: the server refused the connection: unauthorized (HTTP 401, request_id ") ||
		!strings.Contains(out, "get a new one") {
		t.Fatalf("output does not name the refusal:\n%s", out)
	}
}

// A token refused when chat reconnects (the server's secret changed while
// it was connected): each refusal is printed, then chat stops and exits 1
// instead of reconnecting for ever.
func TestChatStopsWhenReconnectingIsRefused(t *testing.T) {
	bin := buildChat(t)
	s, cfg, url := startServer(t)
	c := startChat(t, bin, url, token(t, secret, time.Hour))
	c.waitLine(t, "* connected as ana")
	cfg.Auth.HMACSecret = []byte("another-secret-0123456789abcdef-0123456789")
	if err := s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Disconnect(context.Background(), rampart.Target{User: "ana"}, 4001, "token expired"); err != nil || n != 1 {
		t.Fatalf("Disconnect: %d, %v", n, err)
	}
	c.waitLine(t, "* refused: the server refused the connection: unauthorized (HTTP 401")
	if code := c.wait(t); code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, c.output())
	}
	out := c.output()
	if n := strings.Count(out, "* refused: "); n != 2 {
		t.Errorf("%d refusals printed, want 2 (a retry with the token, then stop):\n%s", n, out)
	}
	if !strings.Contains(out, "\nchat: the server refused the connection: unauthorized (HTTP 401") {
		t.Errorf("no final line naming the refusal:\n%s", out)
	}
}
