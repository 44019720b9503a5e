package bench

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net"
	"sync"
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
	h := sha1.New()
	h.Write(key)
	h.Write([]byte(floorGUID))
	out := make([]byte, 0, 256)
	out = append(out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: rampart.v1\r\nSec-WebSocket-Accept: "...)
	out = base64.StdEncoding.AppendEncode(out, h.Sum(nil))
	out = append(out, "\r\n\r\n"...)
	out = append(out, 0x81, byte(len(floorWelcome)))
	out = append(out, floorWelcome...)
	if _, err := c.Write(out); err != nil {
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
