package wstest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func pipe(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return newConn(a, bufio.NewReader(a)), newConn(b, bufio.NewReader(b))
}

func TestFrameRoundTrip(t *testing.T) {
	for _, f := range []Frame{
		{Opcode: OpText, Payload: []byte("hello")},
		{Opcode: OpBinary, Payload: bytes.Repeat([]byte{7}, 125)},
		{Opcode: OpText, Payload: bytes.Repeat([]byte("x"), 126), Unmasked: true},
		{Opcode: OpText, Payload: bytes.Repeat([]byte("y"), 0x10000), RSV: RSV1 | RSV3, NotFinal: true},
		{Opcode: 0xB, Payload: nil},
	} {
		a, b := pipe(t)
		errc := make(chan error, 1)
		go func() { errc <- a.WriteFrame(f) }()
		got, err := b.ReadFrame(time.Second)
		if err != nil {
			t.Fatalf("ReadFrame: %v", err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("WriteFrame: %v", err)
		}
		if got.Opcode != f.Opcode || got.NotFinal != f.NotFinal || got.RSV != f.RSV || got.Unmasked != f.Unmasked || !bytes.Equal(got.Payload, f.Payload) {
			t.Errorf("round trip of opcode %#x, %d bytes: got opcode %#x fin=%v rsv=%d unmasked=%v, %d bytes",
				f.Opcode, len(f.Payload), got.Opcode, !got.NotFinal, got.RSV, got.Unmasked, len(got.Payload))
		}
	}
}

func TestReadMessageAnswersPingAndReportsClose(t *testing.T) {
	a, b := pipe(t)
	go func() {
		_ = a.WriteFrame(Frame{Opcode: OpPing, Payload: []byte("p"), Unmasked: true})
		pong, err := a.ReadFrame(time.Second)
		if err != nil || pong.Opcode != OpPong || string(pong.Payload) != "p" {
			_ = a.WriteText("bad pong")
			return
		}
		_ = a.WriteFrame(Frame{Opcode: OpText, Payload: []byte("ab"), NotFinal: true, Unmasked: true})
		_ = a.WriteFrame(Frame{Opcode: OpContinuation, Payload: []byte("c"), Unmasked: true})
		_ = a.WriteClose(4009, "slow")
	}()
	op, msg, err := b.ReadMessage(time.Second)
	if err != nil || op != OpText || string(msg) != "abc" {
		t.Fatalf("ReadMessage = %v %q %v, want text \"abc\"", op, msg, err)
	}
	_, _, err = b.ReadMessage(time.Second)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 4009 || ce.Reason != "slow" {
		t.Fatalf("ReadMessage error = %v, want close 4009 slow", err)
	}
}

func TestDialReturnsRefusal(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
	}))
	t.Cleanup(ts.Close)
	c, resp, err := Dial(context.Background(), strings.TrimPrefix(ts.URL, "http://"), NewRequest("/ws"), Options{})
	if c != nil || !errors.Is(err, ErrNotUpgraded) {
		t.Fatalf("Dial = %v, %v; want no conn and ErrNotUpgraded", c, err)
	}
	if resp == nil || resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" || !strings.Contains(string(resp.Body), "unauthorized") {
		t.Fatalf("response = %+v", resp)
	}
}

func TestDialChecksAcceptKey(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer nc.Close()
		accept := AcceptKey(r.Header.Get("Sec-WebSocket-Key"))
		if r.URL.Query().Get("bad") != "" {
			accept = AcceptKey("other")
		}
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n")
		_ = brw.Flush()
		_, _ = nc.Read(make([]byte, 1)) // wait for the client to hang up
	}))
	t.Cleanup(ts.Close)
	addr := strings.TrimPrefix(ts.URL, "http://")
	c, resp, err := Dial(context.Background(), addr, NewRequest("/ws"), Options{})
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("Dial = %v, %+v", err, resp)
	}
	_ = c.Close()
	if _, _, err := Dial(context.Background(), addr, NewRequest("/ws?bad=1"), Options{}); !errors.Is(err, ErrNotUpgraded) {
		t.Fatalf("a wrong Sec-WebSocket-Accept gave %v, want ErrNotUpgraded", err)
	}
}
