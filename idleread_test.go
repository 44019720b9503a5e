package rampart

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/internal/wstest"
)

// rawPair is tcpPair with the first end's RawConn: the side an
// idleReader reads.
func rawPair(t *testing.T) (*net.TCPConn, syscall.RawConn, net.Conn) {
	t.Helper()
	a, b := tcpPair(t)
	tc := a.(*net.TCPConn)
	raw, err := tc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return tc, raw, b
}

func drained(t *testing.T, br interface{ Buffered() int }, ir *idleReader) {
	t.Helper()
	if br.Buffered() != 0 || ir.buf != nil {
		t.Fatalf("buffered after the bytes were taken: bufio %d, borrowed buffer held %t", br.Buffered(), ir.buf != nil)
	}
}

// Bytes come out in order, whatever the sizes of the reads; between
// messages no buffer is held; the early bytes come first.
func TestIdleReaderReadsInOrderAndHoldsNothingWhenDrained(t *testing.T) {
	_, raw, client := rawPair(t)
	ir := newIdleReader(raw, []byte("early:"))
	br := bufio.NewReaderSize(ir, idleBufioSize)
	if ir.buf == nil {
		t.Fatal("the early bytes are not held")
	}
	want := []byte("early:")
	for i, size := range []int{1, 2, 15, 16, 17, 100, idleReadSize - 1, idleReadSize, idleReadSize + 1, 5000, 70000} {
		msg := bytes.Repeat([]byte{byte('a' + i)}, size)
		want = append(want, msg...)
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatalf("message %d (%d bytes): %v", i, size, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d (%d bytes): bytes out of order", i, size)
		}
		want = want[:0]
		drained(t, br, ir)
	}
	// Reads of two bytes at a time, as gws reads frame headers.
	if _, err := client.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for len(got) < 10 {
		two := make([]byte, 2)
		if _, err := io.ReadFull(br, two); err != nil {
			t.Fatal(err)
		}
		got = append(got, two...)
	}
	if string(got) != "0123456789" {
		t.Fatalf("read two at a time: %q", got)
	}
	drained(t, br, ir)
}

// The peer's close is io.EOF; a reset is an error; a read deadline and a
// Close from another goroutine end a waiting read.
func TestIdleReaderEnds(t *testing.T) {
	t.Run("eof", func(t *testing.T) {
		_, raw, client := rawPair(t)
		br := newIdleBufio(raw, nil)
		client.Close()
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("after the peer closed: %v, want io.EOF", err)
		}
	})
	t.Run("reset", func(t *testing.T) {
		_, raw, client := rawPair(t)
		br := newIdleBufio(raw, nil)
		_ = client.(*net.TCPConn).SetLinger(0)
		client.Close()
		_, err := br.ReadByte()
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("after a reset: %v, want ECONNRESET", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		c, raw, _ := rawPair(t)
		br := newIdleBufio(raw, nil)
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := br.ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("past the read deadline: %v", err)
		}
	})
	t.Run("close", func(t *testing.T) {
		c, raw, _ := rawPair(t)
		br := newIdleBufio(raw, nil)
		done := make(chan error, 1)
		go func() { _, err := br.ReadByte(); done <- err }()
		// The read waits in the poller; Close wakes it whether it is
		// already waiting or not.
		c.Close()
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("after Close: %v, want net.ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a read waiting for data did not end when the socket closed")
		}
	})
}

// A read that waits for the socket holds no buffer meanwhile: 500
// readers waiting at once made far fewer buffers than readers (their
// first attempts take one in turn and give it back; under -race the pool
// drops a quarter of what it is given); each then reads its byte.
func TestIdleReadersWaitWithoutBuffers(t *testing.T) {
	const readers = 500
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	made := idleReadBuffers.Load()
	clients := make([]net.Conn, readers)
	got := make(chan error, readers)
	for i := range clients {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		raw, err := s.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		br := newIdleBufio(raw, nil)
		go func() {
			b, err := br.ReadByte()
			if err == nil && b != 'x' {
				err = errors.New("read a wrong byte")
			}
			got <- err
		}()
	}
	waitIOWait(t, readers)
	if n := idleReadBuffers.Load() - made; n > readers/2 {
		t.Errorf("%d readers waiting made %d read buffers: they hold them while they wait", readers, n)
	}
	for _, c := range clients {
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for range readers {
		if err := <-got; err != nil {
			t.Fatal(err)
		}
	}
}

// waitIOWait waits until n goroutines wait in the network poller.
func waitIOWait(t *testing.T, n int) {
	t.Helper()
	buf := make([]byte, 1<<22)
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := buf[:runtime.Stack(buf, true)]
		if bytes.Count(all, []byte("[IO wait")) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines wait in the poller, want %d", bytes.Count(all, []byte("[IO wait")), n)
		}
		runtime.Gosched()
	}
}

// Frames a client sends in the same write as its upgrade request reach
// the server's reader before anything from the socket: a few small ones,
// one larger than the read buffer, and a frame cut after its first bytes
// whose rest comes later.
func TestFramesSentWithTheRequestAreKept(t *testing.T) {
	s := startServer(t, nil)
	frame := func(text string) []byte {
		return wstest.AppendFrame(nil, wstest.Frame{Opcode: wstest.OpText, Payload: []byte(text)}, [4]byte{1, 2, 3, 4})
	}
	dialEarly := func(t *testing.T, early []byte) *client {
		req := s.request(token(t, "early"))
		req.Early = early
		return s.dialWith(t, req, wstest.Options{})
	}
	reply := func(t *testing.T, c *client, id uint64) message {
		t.Helper()
		for {
			m := c.readNet()
			if m.isReply() {
				if m.ID != id || m.Error != nil {
					t.Fatalf("reply %s, want a result for id %d", m.raw, id)
				}
				return m
			}
		}
	}

	t.Run("small", func(t *testing.T) {
		early := frame(`{"id":1,"action":"subscribe","channel":"chat:early"}`)
		early = append(early, frame(`{"id":2,"action":"publish","channel":"chat:early","data":{"n":1}}`)...)
		c := dialEarly(t, early)
		reply(t, c, 1)
		reply(t, c, 2)
	})
	t.Run("larger than the read buffer", func(t *testing.T) {
		data := strings.Repeat("x", 3000)
		early := frame(`{"id":1,"action":"publish","channel":"chat:early","data":"` + data + `"}`)
		if len(early) <= idleReadSize {
			t.Fatalf("%d early bytes do not pass the read buffer", len(early))
		}
		c := dialEarly(t, early)
		reply(t, c, 1)
	})
	t.Run("cut", func(t *testing.T) {
		whole := frame(`{"id":1,"action":"subscribe","channel":"chat:cut"}`)
		c := dialEarly(t, whole[:7])
		if err := c.ws.WriteRaw(whole[7:]); err != nil {
			t.Fatal(err)
		}
		reply(t, c, 1)
	})
}
