//go:build linux

package uring

import (
	"net"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// The cost of one 100-byte send to each of 1,000 loopback sockets, one
// write system call each against one io_uring submission per 256: the
// floor of a delivery's cost that the senders lower. Nothing reads the
// peers: b.N is capped per socket below what their buffers hold.
func BenchmarkWriteEach(b *testing.B) { benchSends(b, 1) }

func BenchmarkSendRing256(b *testing.B) { benchSends(b, 256) }

func benchSends(b *testing.B, batch int) {
	const sockets = 1000
	var conns []*net.TCPConn
	for range sockets {
		s, _ := pair(b)
		conns = append(conns, s)
	}
	var ring *Ring
	if batch > 1 {
		ring = newRing(b, batch)
	}
	buf := make([]byte, 100)
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = buf
	}
	res := make([]int32, batch)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	withFDs(b, conns, func(fds []int) {
		b.ResetTimer()
		n := min(b.N, sockets*500) // 50 KB per socket: within its buffers
		for done := 0; done < n; {
			k := min(batch, n-done)
			first := done % sockets
			if first+k > sockets {
				k = sockets - first
			}
			if ring == nil {
				if _, err := unix.Write(fds[first], buf); err != nil {
					b.Fatal(err)
				}
			} else if err := ring.Send(fds[first:first+k], bufs[:k], res); err != nil {
				b.Fatal(err)
			}
			done += k
		}
		b.StopTimer()
	})
}
