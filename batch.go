package rampart

import (
	"net"
	"sync"
)

// batchConn is the connection gws writes to. Between begin and end it
// gathers the frames gws writes and sends them in one write: a writer that
// finds several frames queued pays one syscall for all of them, which is
// most of the cost of a delivery. Outside a batch, writes go straight
// through. gws serialises its writes, so gathered frames stay whole and in
// order; a close frame gws writes while a batch is open (the reader
// failing a bad frame) is sent with the batch, by Close.
type batchConn struct {
	net.Conn
	mu     sync.Mutex // guards the fields below; held across the network write
	on     bool
	buf    *[]byte
	broken bool // a write failed
	closed bool // Close ran: what was written last (a close frame) went out unless broken
}

// maxBatch bounds the bytes gathered before they are written.
const maxBatch = 64 << 10

var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (b *batchConn) begin() {
	b.mu.Lock()
	b.on = true
	b.mu.Unlock()
}

// end writes what was gathered and stops gathering.
func (b *batchConn) end() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.on = false
	return b.flushLocked()
}

func (b *batchConn) flushLocked() error {
	if b.buf == nil {
		return nil
	}
	buf := b.buf
	b.buf = nil
	_, err := b.Conn.Write(*buf)
	b.broken = b.broken || err != nil
	if cap(*buf) <= maxBatch*2 {
		*buf = (*buf)[:0]
		batchPool.Put(buf)
	}
	return err
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.on {
		n, err := b.Conn.Write(p)
		b.broken = b.broken || err != nil
		return n, err
	}
	if b.buf == nil {
		b.buf = batchPool.Get().(*[]byte)
	}
	*b.buf = append(*b.buf, p...)
	if len(*b.buf) >= maxBatch {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Close sends what was gathered (a close frame among it), then closes.
func (b *batchConn) Close() error {
	b.mu.Lock()
	_ = b.flushLocked()
	b.on = false
	b.closed = true
	b.mu.Unlock()
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
