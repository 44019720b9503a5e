package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/internal/devtoken"
)

// On SIGTERM the listener stays open while the connections close: a load
// balancer's probe gets /readyz 503 (and a new client 503), never
// "connection refused", until the WebSocket connections are gone.
func TestSIGTERMAnswers503WhileConnectionsClose(t *testing.T) {
	dir := t.TempDir()
	bin := buildRampart(t, dir)
	cfg := writeConfig(t, dir, "rampart.yaml", `listen: "127.0.0.1:0"
origins: { allow_missing: true }
log: { format: json, level: info }
limits: { shutdown_spread: 3s, max_connections_per_user: 10 }
channels:
  - pattern: "chat:*"
    subscribe: ["*"]
    publish: ["*"]
`)
	p := startProcess(t, bin, "serve", "--config", cfg)
	started := p.event(t, "server_started", nil, 30*time.Second)
	addr, _ := started["addr"].(string)
	tok, err := devtoken.Mint([]byte(serveTestSecret), devtoken.Claims{Sub: "alice", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// Three connections: their closes are spread over shutdown_spread.
	for range 3 {
		tc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tc.Close() })
		handshakeWS(t, tc, addr, tok)
	}
	if code := probe(addr); code != "200" {
		t.Fatalf("/readyz before SIGTERM: %s", code)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The first answer that is not 200 must be 503.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code := probe(addr)
		if code == "503" {
			break
		}
		if code != "200" {
			t.Fatalf("/readyz after SIGTERM: %s, want 503 while the connections close", code)
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz still 200 10s after SIGTERM")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-p.exit:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the process did not exit within 20s of SIGTERM")
	}
}

// probe returns /readyz's status code, or why there was none.
func probe(addr string) string {
	c := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/readyz")
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return "no answer: " + op.Err.Error()
		}
		return "no answer: " + err.Error()
	}
	resp.Body.Close()
	return fmt.Sprint(resp.StatusCode)
}
