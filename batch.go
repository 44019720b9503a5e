package rampart

import (
	"net"
	"sync"
	"syscall"
	"time"
)

// batchConn is the connection gws writes to. Between begin and end it
// gathers the frames gws writes and sends them in one write: a writer that
// finds several frames queued pays one syscall for all of them, which is
// most of the cost of a delivery. Outside a batch, writes go straight
// through. gws serialises its writes, so gathered frames stay whole and in
// order; a close frame gws writes while a batch is open (the reader
// failing a bad frame) is sent with the batch, by Close.
//
// A connection a sender writes (sender.go) gathers all the time: only its
// sender, its writer goroutine and Close reach the socket, so a gws write
// (the sender's own, or the reader's close frame) never waits for the
// network.
type batchConn struct {
	net.Conn
	raw syscall.RawConn // the socket, for a sender; nil: written by net.Conn only (TLS)

	mu       sync.Mutex // guards the fields below; held across the network write, except Close's
	on       bool       // gathering
	always   bool       // gathering all the time: a sender writes this connection
	mayFlush bool       // a writer goroutine's batch: a full buffer is written at once
	broken   bool       // a write failed
	closed   bool       // Close ran: what was written last (a close frame) went out unless broken
	// (the flags sit together after the mutex: 80 bytes, not 96)
	closeBy time.Duration // with always: the bound of Close's write (limits.write_timeout)
	buf     *[]byte
	pending *[]byte // gathered bytes a sender could not send whole: written first
	skip    int     // of pending, the bytes already sent
}

// newBatchConn wraps a connection gws writes to, gathering from the start
// (the 101 response goes out with the welcome).
func newBatchConn(nc net.Conn) *batchConn {
	b := &batchConn{Conn: nc, on: true}
	if sc, ok := nc.(*net.TCPConn); ok {
		b.raw, _ = sc.SyscallConn()
	}
	return b
}

// maxBatch bounds the bytes gathered before they are written.
const maxBatch = 64 << 10

var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// gatherAlways makes every write gather, for a sender. Close's own write
// then gets a deadline of timeout: no writer may have set one.
func (b *batchConn) gatherAlways(timeout time.Duration) {
	b.mu.Lock()
	b.always, b.on, b.closeBy = true, true, timeout
	b.mu.Unlock()
}

func (b *batchConn) begin() {
	b.mu.Lock()
	b.on, b.mayFlush = true, true
	b.mu.Unlock()
}

// end writes what was gathered and stops gathering (unless always).
func (b *batchConn) end() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.on, b.mayFlush = b.always, false
	return b.flushLocked()
}

func (b *batchConn) flushLocked() error {
	if b.pending != nil {
		buf := b.pending
		b.pending = nil
		_, err := b.Conn.Write((*buf)[b.skip:])
		b.broken = b.broken || err != nil
		putBatch(buf)
		if err != nil {
			return err
		}
	}
	if b.buf == nil {
		return nil
	}
	buf := b.buf
	b.buf = nil
	_, err := b.Conn.Write(*buf)
	b.broken = b.broken || err != nil
	putBatch(buf)
	return err
}

func putBatch(buf *[]byte) {
	if cap(*buf) <= maxBatch*2 {
		*buf = (*buf)[:0]
		batchPool.Put(buf)
	}
}

// takeForSend hands what was gathered to a sender, with b.mu held until
// sentBySender: nothing else reaches the socket in between. A nil buffer
// comes with the lock released: nothing was gathered, or Close already
// took it (with a close frame), or the connection is broken (an error).
// It never waits for the network.
func (b *batchConn) takeForSend() ([]byte, error) {
	b.mu.Lock()
	if b.broken {
		b.mu.Unlock()
		return nil, net.ErrClosed
	}
	if b.buf == nil || b.closed {
		b.mu.Unlock()
		return nil, nil
	}
	return *b.buf, nil
}

// sentBySender records a sender's result for what takeForSend gave it,
// and releases b.mu: n bytes were sent, or the send failed with errno.
// It reports whether bytes are left for the connection's writer goroutine.
func (b *batchConn) sentBySender(n int, errno syscall.Errno) (rest bool) {
	defer b.mu.Unlock()
	buf := b.buf
	b.buf = nil
	switch {
	case errno == 0 && n == len(*buf):
		putBatch(buf)
		return false
	case errno == 0 || errno == syscall.EAGAIN:
		b.pending, b.skip = buf, n
		return true
	default:
		b.broken = true
		putBatch(buf)
		return false
	}
}

// hasPending reports whether bytes a sender could not send wait.
func (b *batchConn) hasPending() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pending != nil
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.on {
		if err := b.flushLocked(); err != nil { // a sender's rest first
			return 0, err
		}
		n, err := b.Conn.Write(p)
		b.broken = b.broken || err != nil
		return n, err
	}
	if b.buf == nil {
		b.buf = batchPool.Get().(*[]byte)
	}
	*b.buf = append(*b.buf, p...)
	if len(*b.buf) >= maxBatch && (b.mayFlush || !b.always) {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Close sends what was gathered (a close frame among it), then closes. It
// takes what is gathered under b.mu but writes it without: a sender
// looking at this connection meanwhile finds it closed and moves on.
func (b *batchConn) Close() error {
	b.mu.Lock()
	pending, skip, buf := b.pending, b.skip, b.buf
	b.pending, b.buf = nil, nil
	b.on = false
	b.closed = true
	if b.always && (pending != nil || buf != nil) {
		_ = b.Conn.SetWriteDeadline(time.Now().Add(b.closeBy))
	}
	b.mu.Unlock()
	var err error
	if pending != nil {
		_, err = b.Conn.Write((*pending)[skip:])
		putBatch(pending)
	}
	if buf != nil {
		if err == nil {
			_, err = b.Conn.Write(*buf)
		}
		putBatch(buf)
	}
	if err != nil {
		b.mu.Lock()
		b.broken = true
		b.mu.Unlock()
	}
	return b.Conn.Close()
}

// closeFrameSent reports whether the connection was closed by Close (gws
// closes right after writing a close frame) with every write done: the
// peer has the close frame. False when the socket was dropped, or a write
// failed or timed out.
func (b *batchConn) closeFrameSent() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed && !b.broken
}
