package client_test

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/client"
)

// TestWriteTimeout: the server stops reading; once the sockets' buffers
// are full a write blocks, and WriteTimeout ends the connection (the
// server's own keepalive would take 35s to notice). The client reconnects
// and works on the new connection.
func TestWriteTimeout(t *testing.T) {
	srv := startServer(t, nil)
	var seen states
	logs := &logRecorder{}
	c := srv.dial(t, "alice", client.Config{WriteTimeout: time.Second, OnState: seen.record, Logger: slog.New(logs)})
	stall(srv.ln.take())
	ctx := ctxFor(t)
	// 600 publishes of 15 kB: 9 MB, more than the sockets' buffers hold
	// while nobody reads (Linux lets a send buffer grow to 4 MB).
	big := strings.Repeat("x", 15000)
	var wg sync.WaitGroup
	for range 600 {
		wg.Go(func() { _, _ = c.Publish(ctx, "chat:stall", big) })
	}
	eventually(t, "the connection to end", func() bool { return seen.count(client.StateDisconnected) > 0 })
	// gws reports the failed write as the end of the connection.
	lost := logs.find("connection lost")
	if len(lost) == 0 || !strings.Contains(lost[0]["error"].(string), "write") || !strings.Contains(lost[0]["error"].(string), "i/o timeout") {
		t.Fatalf("the connection did not end on a write timeout: %v", lost)
	}
	wg.Wait() // the publishes are sent again on the next connection
	eventually(t, "the reconnect", func() bool { return seen.count(client.StateConnected) >= 2 })
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping after the reconnect: %v", err)
	}
}

// TestDialTimeout: a server that accepts the connection and never answers
// the handshake; DialTimeout bounds the attempt (the caller's context is
// far longer).
func TestDialTimeout(t *testing.T) {
	srv := startServer(t, nil)
	srv.ln.stallNew.Store(true)
	ctx := ctxFor(t)
	cfg := client.Config{URL: srv.url, Token: staticToken(mint(t, "alice", time.Hour)), DialTimeout: 200 * time.Millisecond}
	c, err := client.Dial(ctx, cfg)
	if err == nil {
		_ = c.Close()
		t.Fatal("Dial succeeded against a server that does not read")
	}
	var timeout interface{ Timeout() bool } // context.DeadlineExceeded, or the handshake's read deadline
	if !errors.As(err, &timeout) || !timeout.Timeout() || ctx.Err() != nil {
		t.Fatalf("Dial: %v, want the attempt timed out (caller's context: %v)", err, ctx.Err())
	}
	srv.ln.stallNew.Store(false)
	c, err = client.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("Dial once the server reads again: %v", err)
	}
	_ = c.Close()
}

// TestInsecurePlaintext: ws:// to a host that is not loopback by its name
// (0.0.0.0, which Linux connects to this machine) is refused before any
// connection, unless InsecurePlaintext allows it.
func TestInsecurePlaintext(t *testing.T) {
	srv := startServer(t, nil)
	url := strings.Replace(srv.url, "127.0.0.1", "0.0.0.0", 1)
	cfg := client.Config{URL: url, Token: staticToken(mint(t, "alice", time.Hour))}
	if c, err := client.Dial(ctxFor(t), cfg); err == nil || !strings.Contains(err.Error(), "InsecurePlaintext") {
		if c != nil {
			_ = c.Close()
		}
		t.Fatalf("Dial to %s: %v, want the refusal naming InsecurePlaintext", url, err)
	}
	if conns := srv.ln.take(); len(conns) != 0 {
		t.Fatalf("%d connections made before the refusal", len(conns))
	}
	cfg.InsecurePlaintext = true
	c, err := client.Dial(ctxFor(t), cfg)
	if err != nil {
		t.Fatalf("Dial to %s with InsecurePlaintext: %v", url, err)
	}
	defer c.Close()
	if err := c.Ping(ctxFor(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
