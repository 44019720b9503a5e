package wstest

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// ErrNotUpgraded is returned by Dial when the server answered with anything
// but a valid 101 Switching Protocols; the response comes back with it.
var ErrNotUpgraded = errors.New("wstest: server did not switch protocols")

// Request is an upgrade request exactly as it goes on the wire: Dial adds
// only Host (when the header has none) and writes the headers as given.
type Request struct {
	Method string      // default GET
	Path   string      // request target; default "/"
	Proto  string      // request line's version; default HTTP/1.1
	Header http.Header // written as is
	Early  []byte      // written right after the request, in the same write: frames the server must keep
}

// NewRequest returns a valid RFC 6455 upgrade request for path, with a fresh
// random Sec-WebSocket-Key. Tests change its header to make it invalid.
func NewRequest(path string) *Request {
	h := http.Header{}
	h.Set("Upgrade", "websocket")
	h.Set("Connection", "Upgrade")
	h.Set("Sec-WebSocket-Key", NewKey())
	h.Set("Sec-WebSocket-Version", "13")
	return &Request{Method: http.MethodGet, Path: path, Header: h}
}

// NewKey returns a random Sec-WebSocket-Key: 16 bytes, base64.
func NewKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// AcceptKey is the Sec-WebSocket-Accept a server must answer to key.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// Response is the server's answer to the upgrade request.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte // empty for a 101
}

// Options tunes Dial.
type Options struct {
	// ReadBuffer, when positive, sets the socket's receive buffer before the
	// handshake, so that a test client that stops reading stalls the server
	// quickly.
	ReadBuffer int
	// Timeout bounds connecting and the handshake; default 5s.
	Timeout time.Duration
}

// maxResponseBody bounds the body of a refused upgrade that Dial reads.
const maxResponseBody = 1 << 20

// Dial connects to addr (host:port), sends req and reads the answer. On a
// 101 with the right Sec-WebSocket-Accept it returns the connection; on any
// other answer it returns nil, the response (body included) and an error
// wrapping ErrNotUpgraded. The response is nil only when no HTTP answer
// could be read.
func Dial(ctx context.Context, addr string, req *Request, opts Options) (*Conn, *Response, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	d := net.Dialer{Timeout: opts.Timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("wstest: dial: %w", err)
	}
	if tc, ok := nc.(*net.TCPConn); ok && opts.ReadBuffer > 0 {
		_ = tc.SetReadBuffer(opts.ReadBuffer)
	}
	_ = nc.SetDeadline(time.Now().Add(opts.Timeout))
	c, resp, err := Handshake(nc, addr, req)
	if err != nil {
		_ = nc.Close()
		return nil, resp, err
	}
	_ = nc.SetDeadline(time.Time{})
	return c, resp, nil
}

// Handshake sends req on nc, a connection the caller opened (through TLS,
// say), and reads the answer as Dial does; host is the Host header when
// req.Header has none. It sets no deadline and closes nothing: on an error
// nc is the caller's to close.
func Handshake(nc net.Conn, host string, req *Request) (*Conn, *Response, error) {
	if _, err := io.WriteString(nc, requestText(host, req)+string(req.Early)); err != nil {
		return nil, nil, fmt.Errorf("wstest: write request: %w", err)
	}
	br := bufio.NewReader(nc)
	hr, err := http.ReadResponse(br, &http.Request{Method: req.method()})
	if err != nil {
		return nil, nil, fmt.Errorf("wstest: read response: %w", err)
	}
	resp := &Response{StatusCode: hr.StatusCode, Header: hr.Header}
	if hr.StatusCode != http.StatusSwitchingProtocols {
		resp.Body, err = io.ReadAll(io.LimitReader(hr.Body, maxResponseBody))
		_ = hr.Body.Close()
		if err != nil {
			return nil, resp, fmt.Errorf("wstest: read body: %w", err)
		}
		return nil, resp, fmt.Errorf("%w: status %d", ErrNotUpgraded, hr.StatusCode)
	}
	if got, want := hr.Header.Get("Sec-WebSocket-Accept"), AcceptKey(req.Header.Get("Sec-WebSocket-Key")); got != want {
		return nil, resp, fmt.Errorf("%w: Sec-WebSocket-Accept %q, want %q", ErrNotUpgraded, got, want)
	}
	return newConn(nc, br), resp, nil
}

func (r *Request) method() string {
	if r.Method == "" {
		return http.MethodGet
	}
	return r.Method
}

func requestText(addr string, req *Request) string {
	var b strings.Builder
	path := req.Path
	if path == "" {
		path = "/"
	}
	proto := req.Proto
	if proto == "" {
		proto = "HTTP/1.1"
	}
	fmt.Fprintf(&b, "%s %s %s\r\n", req.method(), path, proto)
	if req.Header.Get("Host") == "" {
		fmt.Fprintf(&b, "Host: %s\r\n", addr)
	}
	for name, values := range req.Header {
		for _, v := range values {
			fmt.Fprintf(&b, "%s: %s\r\n", name, v)
		}
	}
	b.WriteString("\r\n")
	return b.String()
}
