package rampart

import (
	"bufio"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// idleReader reads a TCP connection for gws holding a read buffer only
// while bytes wait in it. Most connections are idle: instead of keeping a
// buffer each while its reader waits, an idleReader waits for the socket
// to become readable with no buffer (RawConn.Read: the runtime's poller,
// the read deadline honoured), then borrows a pooled buffer for what
// came, and gives it back as soon as gws has taken every byte. A read at
// least as large as the buffer goes straight into the caller's slice.
//
// Only the connection's reader goroutine calls Read. The socket stays
// open for the length of each system call (RawConn.Read holds it), so a
// descriptor reused after a concurrent Close is never read.
type idleReader struct {
	raw    syscall.RawConn
	readFn func(fd uintptr) bool // ir.read, bound once: no allocation per read
	buf    *[]byte               // borrowed from idleReadPool; nil when empty
	dst    []byte                // where the running read puts its bytes
	r, w   int32                 // the unread bytes are buf[r:w]
	n      int32                 // the running read's result
	errno  syscall.Errno
}

// idleReadSize is the size of a borrowed buffer: a command or a frame
// header, usually whole; a larger payload is read straight into gws's own
// buffer.
const idleReadSize = readBufferSize

var (
	idleReadPool = sync.Pool{New: func() any { idleReadBuffers.Add(1); b := make([]byte, idleReadSize); return &b }}
	// idleReadBuffers counts the buffers the pool made: as many as
	// connections had bytes waiting at once, not as many as there are.
	idleReadBuffers atomic.Int64
)

// idleBufioSize is the size of the bufio.Reader gws reads through (it
// takes no other reader): bufio's smallest. gws reads frame headers two
// bytes at a time through it; larger reads pass it by.
const idleBufioSize = 16

// newIdleBufio is what gws reads a TCP connection through: a bufio.Reader
// of idleBufioSize over an idleReader of raw, early first.
func newIdleBufio(raw syscall.RawConn, early []byte) *bufio.Reader {
	return bufio.NewReaderSize(newIdleReader(raw, early), idleBufioSize)
}

// newIdleReader reads raw, first returning a copy of early: bytes the
// client sent after its request, already read by net/http.
func newIdleReader(raw syscall.RawConn, early []byte) *idleReader {
	ir := &idleReader{raw: raw}
	ir.readFn = ir.read
	if len(early) > 0 {
		var b *[]byte
		if len(early) <= idleReadSize {
			b = idleReadPool.Get().(*[]byte)
		} else {
			s := make([]byte, len(early))
			b = &s
		}
		ir.buf, ir.r, ir.w = b, 0, int32(copy(*b, early))
	}
	return ir
}

func (ir *idleReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if ir.buf == nil {
		if len(p) >= idleReadSize {
			return ir.fill(p)
		}
		n, err := ir.fill(nil) // borrows ir.buf once bytes are there
		if n == 0 {
			return 0, err
		}
		ir.r, ir.w = 0, int32(n)
	}
	n := copy(p, (*ir.buf)[ir.r:ir.w])
	ir.r += int32(n)
	if ir.r == ir.w {
		if cap(*ir.buf) == idleReadSize {
			idleReadPool.Put(ir.buf)
		}
		ir.buf = nil
	}
	return n, nil
}

// fill reads what the socket has into p, or with p nil into a buffer it
// borrows into ir.buf, waiting until the socket has something: while it
// waits no buffer is held. It returns at least one byte, or an error
// (io.EOF when the peer closed) and no buffer.
func (ir *idleReader) fill(p []byte) (int, error) {
	ir.dst, ir.n, ir.errno = p, 0, 0
	err := ir.raw.Read(ir.readFn)
	ir.dst = nil
	switch {
	case err != nil: // closed, or the read deadline passed
	case ir.errno != 0:
		err = &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", ir.errno)}
	case ir.n == 0:
		err = io.EOF
	default:
		return int(ir.n), nil
	}
	if ir.buf != nil {
		idleReadPool.Put(ir.buf)
		ir.buf = nil
	}
	return 0, err
}

// read is the RawConn.Read callback: false asks the poller to wait until
// the socket is readable and call it again. With no destination it
// borrows a buffer for the one system call, and gives it back when the
// socket had nothing.
func (ir *idleReader) read(fd uintptr) bool {
	dst := ir.dst
	if dst == nil {
		ir.buf = idleReadPool.Get().(*[]byte)
		dst = *ir.buf
	}
	for {
		n, err := syscall.Read(int(fd), dst)
		switch err {
		case nil:
			ir.n = int32(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if ir.dst == nil {
				idleReadPool.Put(ir.buf)
				ir.buf = nil
			}
			return false
		}
		ir.errno = syscall.EIO
		if e, ok := err.(syscall.Errno); ok {
			ir.errno = e
		}
		return true
	}
}
