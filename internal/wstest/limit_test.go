package wstest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestReadLimit(t *testing.T) {
	frame := func(op Opcode, n int, notFinal bool) []byte {
		return AppendFrame(nil, Frame{Opcode: op, Payload: bytes.Repeat([]byte{'a'}, n), NotFinal: notFinal, Unmasked: true}, [4]byte{})
	}
	cases := []struct {
		name    string
		limit   int
		wire    []byte
		message bool // read with ReadMessage, not ReadFrame
		tooBig  bool
	}{
		{"frame at the limit", 100, frame(OpText, 100, false), false, false},
		{"frame over the limit", 100, frame(OpText, 101, false), false, true},
		{"16-bit length over the limit", 1000, frame(OpBinary, 1001, false), false, true},
		{"no limit set: MaxFrameBytes", 0, frame(OpText, 70000, false), false, false},
		{"message of fragments at the limit", 100, append(frame(OpText, 60, true), frame(OpContinuation, 40, false)...), true, false},
		{"message of fragments over the limit", 100, append(frame(OpText, 60, true), frame(OpContinuation, 41, false)...), true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, c := pipe(t)
			c.SetReadLimit(tc.limit)
			go func() { _ = a.WriteRaw(tc.wire) }()
			var err error
			if tc.message {
				_, _, err = c.ReadMessage(time.Second)
			} else {
				_, err = c.ReadFrame(time.Second)
			}
			if got := errors.Is(err, ErrTooLarge); got != tc.tooBig {
				t.Errorf("err %v; over the limit: %v, want %v", err, got, tc.tooBig)
			}
			if !tc.tooBig && err != nil {
				t.Errorf("read: %v", err)
			}
		})
	}
}

// Handshake upgrades a connection the caller opened: here through TLS,
// with the Host header it is given.
func TestHandshakeOverTLS(t *testing.T) {
	gotHost := make(chan string, 1)
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost <- r.Host
		nc, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer nc.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + AcceptKey(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n")
		_, _ = brw.Write(AppendFrame(nil, Frame{Opcode: OpText, Payload: []byte("hi"), Unmasked: true}, [4]byte{}))
		_ = brw.Flush()
		_, _ = nc.Read(make([]byte, 1)) // wait for the client to hang up
	}))
	t.Cleanup(ts.Close)
	nc, err := tls.Dial("tcp", strings.TrimPrefix(ts.URL, "https://"), ts.Client().Transport.(*http.Transport).TLSClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	c, resp, err := Handshake(nc, "rampart.example:443", NewRequest("/ws"))
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("Handshake = %v, %+v", err, resp)
	}
	if h := <-gotHost; h != "rampart.example:443" {
		t.Errorf("Host %q, want the one given", h)
	}
	if _, msg, err := c.ReadMessage(time.Second); err != nil || string(msg) != "hi" {
		t.Errorf("ReadMessage after Handshake = %q, %v", msg, err)
	}
}

// The audit, a command, builds on this package: only its tests may import
// "testing".
func TestNonTestFilesDoNotImportTesting(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); path == "testing" || strings.HasPrefix(path, "testing/") {
				t.Errorf("%s imports %s", name, path)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no non-test file found")
	}
}
