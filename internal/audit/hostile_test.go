package audit

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/internal/wstest"
)

// hostileServer accepts on 127.0.0.1 and hands every connection, after its
// request head was read, to serve. It stops with the test.
func hostileServer(t *testing.T, serve func(c net.Conn, req *http.Request)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() { close(done); _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				go func() { <-done; _ = c.Close() }()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				serve(c, req)
			})
		}
	})
	return ln.Addr().String()
}

// upgrade writes a valid 101 for req.
func upgrade(c net.Conn, req *http.Request) error {
	_, err := fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		wstest.AcceptKey(req.Header.Get("Sec-WebSocket-Key")))
	return err
}

// runBounded runs an audit and fails the test when it does not end within
// limit.
func runBounded(t *testing.T, addr string, limit time.Duration) map[string]result {
	t.Helper()
	type out struct {
		by  map[string]result
		err error
	}
	ch := make(chan out, 1)
	go func() {
		by, err := runAudit(t, Options{URL: "ws://" + addr + "/ws", Token: "a.b.c", Timeout: time.Second, Duration: 20 * time.Second,
			IdleWait: time.Second, HeaderWait: time.Second, MaxConns: 4, SizeCap: 4096})
		ch <- out{by, err}
	}()
	select {
	case o := <-ch:
		return o.by
	case <-time.After(limit):
		t.Fatalf("the audit of a hostile server did not end within %s", limit)
	}
	return nil
}

// A server answering with endless headers ends the check at the read
// limit, not the audit's memory.
func TestAuditEndlessHeaders(t *testing.T) {
	addr := hostileServer(t, func(c net.Conn, _ *http.Request) {
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\n")
		line := []byte("X-Filler: " + strings.Repeat("a", 1000) + "\r\n")
		for {
			if _, err := c.Write(line); err != nil {
				return
			}
		}
	})
	by := runBounded(t, addr, time.Minute)
	if r := by["baseline"]; r.Result != fail {
		t.Errorf("baseline: %s (%s), want FAIL", r.Result, r.Detail)
	}
}

// A server that upgrades and then floods frames (pings, data, garbage)
// is judged within the budgets.
func TestAuditFloodingServer(t *testing.T) {
	addr := hostileServer(t, func(c net.Conn, req *http.Request) {
		if upgrade(c, req) != nil {
			return
		}
		go func() { _, _ = io.Copy(io.Discard, c) }()
		flood := wstest.AppendFrame(nil, wstest.Frame{Opcode: wstest.OpPing, Payload: []byte("x"), Unmasked: true}, [4]byte{})
		flood = wstest.AppendFrame(flood, wstest.Frame{Opcode: wstest.OpText, Payload: []byte("0{\"sid\":1}"), Unmasked: true}, [4]byte{})
		for {
			if _, err := c.Write(flood); err != nil {
				return
			}
		}
	})
	by := runBounded(t, addr, 2*time.Minute)
	if r := by["baseline"]; r.Result != pass {
		t.Errorf("baseline: %s (%s), want PASS", r.Result, r.Detail)
	}
	if r := by["rfc-invalid-utf8"]; r.Result != fail {
		t.Errorf("rfc-invalid-utf8 against a server that never closes: %s (%s), want FAIL", r.Result, r.Detail)
	}
}

// A server that upgrades and answers with a frame declaring an absurd
// length, or bytes that are no frame, does not stall the audit.
func TestAuditGarbageFrames(t *testing.T) {
	addr := hostileServer(t, func(c net.Conn, req *http.Request) {
		if upgrade(c, req) != nil {
			return
		}
		huge := wstest.AppendHeader(nil, wstest.Header{Opcode: wstest.OpText, Unmasked: true, Length: 1 << 62, Form: wstest.Length64})
		_, _ = c.Write(append(huge, "garbage\xff\x00"...))
		_, _ = io.Copy(io.Discard, c)
	})
	by := runBounded(t, addr, time.Minute)
	if r := by["baseline"]; r.Result != pass {
		t.Errorf("baseline: %s (%s), want PASS", r.Result, r.Detail)
	}
}

// FuzzServerAnswer feeds what a server sends, from the first byte of its
// HTTP answer, to the code that reads it: the bounded handshake, the frame
// watcher and the parsers of bodies, close reasons and in-band replies.
func FuzzServerAnswer(f *testing.F) {
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + wstest.AcceptKey(key) + "\r\n\r\n"
	f.Add([]byte(ok + "\x81\x0240\x88\x05\x03\xe8bye"))
	f.Add([]byte(ok + "\x89\x00\x8a\x00\x81\x7f\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Add([]byte("HTTP/1.1 403 Forbidden\r\nServer: nginx/1.2\r\nContent-Length: 30\r\n\r\nat x (/a/node_modules/b.js:1:2)"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		go func() {
			_, _ = io.Copy(io.Discard, server)
		}()
		go func() {
			_, _ = server.Write(data)
			_ = server.Close()
		}()
		a := &auditor{maxConns: 10, timeout: time.Second}
		g := &guardConn{Conn: client, a: a}
		g.left.Store(maxHandshakeRead)
		a.open.Add(1)
		_ = client.SetDeadline(time.Now().Add(2 * time.Second))
		h := wstest.NewRequest("/").Header
		h.Set("Sec-WebSocket-Key", key)
		ws, resp, err := wstest.Handshake(g, "x", &wstest.Request{Path: "/", Header: h})
		if resp != nil {
			findLeaks("body", string(resp.Body))
			headerLeaks("head", resp.Header)
		}
		if err == nil {
			unguard(g)
			c := newConn(ws, time.Second)
			s := c.watch(true, nil)
			findLeaks("reason", s.reason)
			for _, m := range s.replies {
				socketIOConnect(m)
				centrifugoConnect(m)
				_ = oneLine(string(m), 60)
			}
		}
		_ = g.Close()
		if a.open.Load() != 0 {
			t.Fatalf("the connection budget is off by %d", a.open.Load())
		}
		tokenExpiry(string(data))
	})
}

// A server that answers every request with a redirect to another host
// never sends the audit there.
func TestAuditFollowsNoRedirect(t *testing.T) {
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var mu sync.Mutex
	visits := 0
	go func() {
		for {
			c, err := other.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			visits++
			mu.Unlock()
			_ = c.Close()
		}
	}()
	// Upgrades succeed (and end at once); every other request, the
	// refused upgrade and the plain GETs, is sent to the other host.
	addr := hostileServer(t, func(c net.Conn, req *http.Request) {
		if req.Header.Get("Upgrade") != "" && req.Header.Get("Sec-WebSocket-Version") == "13" {
			_ = upgrade(c, req)
			return
		}
		_, _ = fmt.Fprintf(c, "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://%s/\r\nContent-Length: 0\r\n\r\n", other.Addr())
	})
	by := runBounded(t, addr, time.Minute)
	if r := by["baseline"]; r.Result != pass {
		t.Errorf("baseline: %s (%s), want PASS", r.Result, r.Detail)
	}
	if r := by["http-security-headers"]; r.Result != fail || !strings.Contains(r.Detail, "307") {
		t.Errorf("http-security-headers: %s (%s), want FAIL judging the 307 itself", r.Result, r.Detail)
	}
	// Poll the other host for a connection that a followed redirect would
	// have opened before Run returned; it must still be unvisited.
	probe, err := net.Dial("tcp", other.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = probe.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := visits
		mu.Unlock()
		if n >= 1 || time.Now().After(deadline) {
			if n != 1 {
				t.Errorf("the other host saw %d connections, want only the test's own", n)
			}
			return
		}
		time.Sleep(5 * time.Millisecond) // polling the counter
	}
}
