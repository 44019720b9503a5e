package rampart

import (
	"io"
	"net"
	"testing"
	"time"
	"unsafe"
)

// tcpPair returns the two ends of a real loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestBatchConnGathersUntilEnd(t *testing.T) {
	a, b := tcpPair(t)
	bc := &batchConn{Conn: a}
	bc.begin()
	for _, p := range []string{"one,", "two,", "three"} {
		if n, err := bc.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("write: %d %v", n, err)
		}
	}
	b.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := b.Read(make([]byte, 64)); n != 0 || err == nil {
		t.Fatalf("bytes left before end: %d %v", n, err)
	}
	if err := bc.end(); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.Write([]byte("|direct")); err != nil {
		t.Fatal(err)
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len("one,two,three|direct"))
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "one,two,three|direct" {
		t.Fatalf("read %q: %v", got, err)
	}
}

func TestBatchConnCloseSendsWhatItHolds(t *testing.T) {
	a, b := tcpPair(t)
	bc := &batchConn{Conn: a}
	bc.begin()
	bc.Write([]byte("last words"))
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "last words" {
		t.Fatalf("read %q: %v", got, err)
	}
}

func TestBatchConnWritesPastMaxBatch(t *testing.T) {
	a, b := tcpPair(t)
	bc := &batchConn{Conn: a}
	done := make(chan []byte)
	go func() {
		b.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, _ := io.ReadAll(io.LimitReader(b, maxBatch+10))
		done <- got
	}()
	bc.begin()
	big := make([]byte, maxBatch+10)
	if _, err := bc.Write(big); err != nil {
		t.Fatal(err)
	}
	if bc.buf != nil {
		t.Fatal("a batch over maxBatch is kept instead of written")
	}
	if got := <-done; len(got) != len(big) {
		t.Fatalf("read %d bytes, want %d", len(got), len(big))
	}
	bc.end()
}

// Every connection has a batchConn and an idleReader: each stays within
// the 80-byte size class on 64-bit platforms (a flag placed after a
// pointer again would put batchConn in the 96-byte class).
func TestPerConnectionStructsStaySmall(t *testing.T) {
	if n := unsafe.Sizeof(batchConn{}); n > 80 {
		t.Errorf("batchConn is %d bytes, want at most 80", n)
	}
	if n := unsafe.Sizeof(idleReader{}); n > 80 {
		t.Errorf("idleReader is %d bytes, want at most 80", n)
	}
}
