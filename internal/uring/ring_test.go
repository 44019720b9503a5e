//go:build linux

package uring

import (
	"bytes"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pair returns the two ends of a loopback TCP connection.
func pair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return s.(*net.TCPConn), c.(*net.TCPConn)
}

// withFDs runs f with the descriptors of conns held open.
func withFDs(t testing.TB, conns []*net.TCPConn, f func(fds []int)) {
	t.Helper()
	var fds []int
	var next func(i int)
	next = func(i int) {
		if i == len(conns) {
			f(fds)
			return
		}
		rc, err := conns[i].SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		if err := rc.Control(func(fd uintptr) { fds = append(fds, int(fd)); next(i + 1) }); err != nil {
			t.Fatal(err)
		}
	}
	next(0)
}

func newRing(t testing.TB, n int) *Ring {
	t.Helper()
	r, err := New(n)
	if err != nil {
		t.Fatalf("io_uring must be usable on this machine: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

func TestSendReachesEachSocketInOrder(t *testing.T) {
	r := newRing(t, 64)
	const n = 40
	var servers, clients []*net.TCPConn
	for range n {
		s, c := pair(t)
		servers, clients = append(servers, s), append(clients, c)
	}
	res := make([]int32, n)
	for round := range 3 {
		bufs := make([][]byte, n)
		for i := range bufs {
			bufs[i] = []byte{byte(round), byte(i), 'x'}
		}
		withFDs(t, servers, func(fds []int) {
			if err := r.Send(fds, bufs, res); err != nil {
				t.Fatal(err)
			}
		})
		for i, got := range res {
			if got != 3 {
				t.Fatalf("round %d send %d: res %d, want 3", round, i, got)
			}
		}
	}
	for i, c := range clients {
		buf := make([]byte, 9)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		want := []byte{0, byte(i), 'x', 1, byte(i), 'x', 2, byte(i), 'x'}
		if !bytes.Equal(buf, want) {
			t.Fatalf("socket %d got %v, want %v", i, buf, want)
		}
	}
}

// A peer that never reads fills its buffers: the send then reports
// EAGAIN or a short count at once, and never blocks the ring.
func TestSendToAPeerThatNeverReadsDoesNotBlock(t *testing.T) {
	r := newRing(t, 4)
	s, _ := pair(t)
	if err := s.SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{'a'}, 1<<20)
	res := make([]int32, 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		withFDs(t, []*net.TCPConn{s}, func(fds []int) {
			if err := r.Send(fds, [][]byte{big}, res); err != nil {
				t.Fatal(err)
			}
		})
		if res[0] == -int32(unix.EAGAIN) {
			return
		}
		if res[0] < 0 {
			t.Fatalf("send: errno %d, want bytes or EAGAIN", -res[0])
		}
		if time.Now().After(deadline) {
			t.Fatal("the peer's buffers never filled")
		}
	}
}

func TestSendReportsErrorsPerSocket(t *testing.T) {
	r := newRing(t, 8)
	s1, _ := pair(t)
	s2, c2 := pair(t)
	c2.SetLinger(0)
	c2.Close() // a reset: the next sends to s2 fail
	res := make([]int32, 3)
	bad := -1
	deadline := time.Now().Add(10 * time.Second)
	for {
		withFDs(t, []*net.TCPConn{s1, s2}, func(fds []int) {
			if err := r.Send([]int{fds[0], fds[1], bad}, [][]byte{[]byte("a"), []byte("b"), []byte("c")}, res); err != nil {
				t.Fatal(err)
			}
		})
		if res[0] != 1 {
			t.Fatalf("the healthy socket: res %d, want 1", res[0])
		}
		if res[2] != -int32(syscall.EBADF) {
			t.Fatalf("a closed descriptor: res %d, want -EBADF", res[2])
		}
		if res[1] == -int32(syscall.ECONNRESET) || res[1] == -int32(syscall.EPIPE) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reset socket still accepts sends: res %d", res[1])
		}
	}
}

func TestSendRefusesMoreThanTheRingHolds(t *testing.T) {
	r := newRing(t, 2)
	n := r.Size() + 1
	if err := r.Send(make([]int, n), make([][]byte, n), make([]int32, n)); err == nil {
		t.Fatal("a submission larger than the ring was taken")
	}
}
