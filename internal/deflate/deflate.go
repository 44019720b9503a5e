package deflate

import (
	"bytes"
	"sync"

	"github.com/klauspost/compress/flate"
)

// Message is an encoded message queued to several connections: Data as
// it goes to those that did not negotiate compression, and its
// compressed form, made at most once for all the others.
type Message struct {
	Data []byte // shared by every connection it is queued to: never modified

	once     sync.Once
	deflated []byte
}

// NewMessage wraps data; nothing is compressed until Deflated is called.
func NewMessage(data []byte) *Message { return &Message{Data: data} }

// Deflated returns m.Data compressed for a permessage-deflate frame
// without context takeover. The first call compresses it (and reports
// fresh); every later call, from any goroutine, returns the same bytes,
// waiting for the first if it is still compressing.
func (m *Message) Deflated() (p []byte, fresh bool) {
	m.once.Do(func() {
		m.deflated = Compress(m.Data)
		fresh = true
	})
	return m.deflated, fresh
}

// Level is the compression level: flate.BestSpeed. Messages are short and
// compressed on their own, where higher levels gain little (a few per
// cent on JSON) for several times the CPU.
const Level = flate.BestSpeed

// compressor is a flate writer with the buffer it writes to, pooled
// together: compressing then allocates only the result.
type compressor struct {
	w   *flate.Writer
	out []byte
}

func (c *compressor) Write(p []byte) (int, error) {
	c.out = append(c.out, p...)
	return len(p), nil
}

var compressors = sync.Pool{New: func() any {
	c := new(compressor)
	c.w, _ = flate.NewWriter(c, Level)
	return c
}}

// maxKept bounds the buffer a pooled compressor keeps between uses.
const maxKept = 64 << 10

// tail is what a sync flush ends with; RFC 7692 7.2.1 has the sender
// remove it and the receiver add it back.
var tail = []byte{0x00, 0x00, 0xff, 0xff}

// Compress returns p deflated on its own (no dictionary) and flushed, the
// final 00 00 ff ff removed: the payload of a permessage-deflate frame
// (RFC 7692 7.2.1). The result is a new slice.
func Compress(p []byte) []byte {
	c := compressors.Get().(*compressor)
	c.out = c.out[:0]
	c.w.Reset(c)
	_, _ = c.w.Write(p) // writing to memory does not fail
	_ = c.w.Flush()
	out := bytes.Clone(bytes.TrimSuffix(c.out, tail))
	if cap(c.out) > maxKept {
		c.out = nil
	}
	compressors.Put(c)
	return out
}
