//go:build amd64 || arm64 || loong64 || mips64 || mips64le || ppc64 || ppc64le || riscv64 || s390x

package gws

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// Lengths of 2 GiB and more exist only where int has 64 bits (the
// constants below do not even compile elsewhere): this file is built only
// there.

// ReadMaxPayloadSize 超过 2GiB 时, 一个 2GiB 以上的帧头曾使内存池返回过小的缓冲区, 导致 panic.
// With ReadMaxPayloadSize above 2GiB, a frame header announcing 2GiB or more got a too small buffer
// from the pool (uint32 truncation) and readMessage panicked slicing it. The memory is never written.
func TestReadMessage_LengthOver2GiB(t *testing.T) {
	for _, length := range []uint64{1<<31 + 1, 1<<32 + 200} {
		var option = initServerOption(&ServerOption{ReadMaxPayloadSize: 1<<32 + 1024})
		s, c := net.Pipe()
		var server = serveWebSocket(true, option.getConfig(), newSmap(), s, bufio.NewReader(s), new(webSocketMocker), false, "", option.PermessageDeflate)
		var done = make(chan any, 1)
		go func() {
			defer func() { done <- recover() }()
			server.ReadLoop()
		}()
		go func() {
			_, _ = c.Write(testHeader64(0x82, length))
			_ = c.Close()
		}()
		select {
		case p := <-done:
			if p != nil {
				t.Fatalf("length %d: read loop panicked: %v", length, p)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("length %d: read loop did not end", length)
		}
	}
}
