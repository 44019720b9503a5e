package bench

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ServeFloor answers WebSocket handshakes on ln with the least work a Go
// server on the runtime's network poller can do, to measure the floor
// under `--mode handshake`: for each connection it reads the request up to
// its blank line, writes a fixed 101 response (the accept key computed
// from the request's key, rampart.v1 selected) with a welcome push in the
// same write, waits for the client's close frame, answers it and closes.
// No HTTP parsing beyond finding the key, no token, no limits, no logs, no
// registry: what is left is the kernel's TCP work, the system calls (accept,
// read, write, close, the poller's registration) and the runtime's
// goroutine and poller costs, which every server written in Go pays per
// connection. It is a measuring instrument, never a server: it runs until
// ln is closed and returns the error that ended its accept loop.
func ServeFloor(ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			floorConn(c)
		}()
	}
}

var (
	floorKeyHeader = []byte("\r\nsec-websocket-key:")
	floorWelcome   = []byte(`{"push":"welcome","data":{"client":"floor","protocol":"rampart.v1"}}`)
	floorClose     = []byte{0x88, 0x02, 0x03, 0xe8} // close 1000, unmasked
)

const floorGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// floorConn serves one connection; any error ends it.
func floorConn(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	n := 0
	for !bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
		if n == len(buf) {
			return
		}
		m, err := c.Read(buf[n:])
		if err != nil {
			return
		}
		n += m
	}
	key := floorKey(buf[:n])
	if key == nil {
		return
	}
	if _, err := c.Write(floorResponse(key)); err != nil {
		return
	}
	// The client's close frame: 2 header bytes, a 4-byte mask, a 2-byte
	// code (the bench sends 1000 with no reason).
	for got := 0; got < 8; {
		m, err := c.Read(buf)
		if err != nil {
			return
		}
		got += m
	}
	_, _ = c.Write(floorClose)
}

// floorResponse is the 101 response for key with the welcome push.
func floorResponse(key []byte) []byte {
	h := sha1.New()
	h.Write(key)
	h.Write([]byte(floorGUID))
	out := make([]byte, 0, 256)
	out = append(out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: rampart.v1\r\nSec-WebSocket-Accept: "...)
	out = base64.StdEncoding.AppendEncode(out, h.Sum(nil))
	out = append(out, "\r\n\r\n"...)
	out = append(out, 0x81, byte(len(floorWelcome)))
	return append(out, floorWelcome...)
}

// floorKey finds the Sec-WebSocket-Key value in a request head.
func floorKey(head []byte) []byte {
	i := bytes.Index(bytes.ToLower(head), floorKeyHeader)
	if i < 0 {
		return nil
	}
	rest := head[i+len(floorKeyHeader):]
	end := bytes.Index(rest, []byte("\r\n"))
	if end < 0 {
		return nil
	}
	return bytes.TrimSpace(rest[:end])
}

// ServeFloorHTTP is ServeFloor with net/http in front: each connection is
// served by an http.Server (its request parsing, its per-connection state
// and goroutine, its hijack), and, when secret is not empty, the request's
// bearer token must verify with golang-jwt as HS256 under that secret,
// with the parser options a Rampart server uses (algorithm allow-list,
// expiry required, issued-at checked, strict base64). The 101, the welcome
// and the close are as ServeFloor writes them. Between the two floors and
// a Rampart server, the rows can tell what the HTTP layer and the token
// cost on this machine, and what Rampart adds. It runs until ln is closed.
func ServeFloorHTTP(ln net.Listener, secret []byte) error {
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(), jwt.WithStrictDecoding(), jwt.WithLeeway(30*time.Second))
	keyFunc := func(*jwt.Token) (any, error) { return secret, nil }
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := r.Header.Get("Sec-Websocket-Key")
			if key == "" || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				http.Error(w, "not a WebSocket handshake", http.StatusBadRequest)
				return
			}
			if len(secret) > 0 {
				tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
				if !ok {
					http.Error(w, "no token", http.StatusUnauthorized)
					return
				}
				if _, err := parser.Parse(tok, keyFunc); err != nil {
					http.Error(w, "invalid token", http.StatusUnauthorized)
					return
				}
			}
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			if _, err := c.Write(floorResponse([]byte(key))); err != nil {
				return
			}
			var frame [8]byte
			if _, err := io.ReadFull(brw, frame[:]); err != nil {
				return
			}
			_, _ = c.Write(floorClose)
		}),
	}
	err := srv.Serve(ln)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
