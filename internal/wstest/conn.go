package wstest

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Opcode is a frame's opcode.
type Opcode byte

// The opcodes of RFC 6455; 3-7 and 0xB-0xF are reserved.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// Reserved bits, for Frame.RSV.
const (
	RSV1 byte = 0x4
	RSV2 byte = 0x2
	RSV3 byte = 0x1
)

// MaxFrameBytes bounds the payload of a frame ReadFrame accepts, unless
// SetReadLimit sets a lower bound.
const MaxFrameBytes = 64 << 20

// ErrTooLarge is wrapped by a read's error when a frame, or a message that
// ReadMessage reassembles, is over the connection's read limit.
var ErrTooLarge = errors.New("wstest: over the read limit")

// Frame is one WebSocket frame. The zero value of every flag is what a
// correct client sends: final, masked, no reserved bits.
type Frame struct {
	Opcode   Opcode
	Payload  []byte
	NotFinal bool // FIN clear: more fragments follow
	RSV      byte // reserved bits: RSV1|RSV2|RSV3
	Unmasked bool // no mask (a client must mask; a server must not)
}

// CloseError is the close frame a server sent.
type CloseError struct {
	Code   uint16 // 1005 when the frame carried no code
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("wstest: closed by peer: %d %q", e.Code, e.Reason)
}

// CloseNoStatus is the code CloseError reports for an empty close frame.
const CloseNoStatus = 1005

// Conn is an upgraded connection. Writes are safe from several goroutines;
// reads belong to one goroutine at a time.
type Conn struct {
	nc    net.Conn
	br    *bufio.Reader
	limit uint64     // largest payload or message read; owned by the reader
	wmu   sync.Mutex // serialises frame writes

	inflate  bool // ReadMessage inflates compressed messages; owned by the reader
	inflated int  // messages ReadMessage inflated; owned by the reader
}

func newConn(nc net.Conn, br *bufio.Reader) *Conn {
	return &Conn{nc: nc, br: br}
}

// SetReadLimit bounds the payload of a frame that ReadFrame and
// ReadServerFrame accept, and a message that ReadMessage reassembles, to n
// bytes; n <= 0, or over MaxFrameBytes, means MaxFrameBytes (the default).
// A frame over it is refused from its header, before its payload is read.
// It belongs to the reading goroutine, like the reads.
func (c *Conn) SetReadLimit(n int) {
	c.limit = 0
	if n > 0 && n < MaxFrameBytes {
		c.limit = uint64(n)
	}
}

func (c *Conn) readLimit() uint64 {
	if c.limit == 0 {
		return MaxFrameBytes
	}
	return c.limit
}

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the socket without a close frame.
func (c *Conn) Close() error { return c.nc.Close() }

// WriteFrame writes f as it is, masked with a fresh random key unless
// f.Unmasked.
func (c *Conn) WriteFrame(f Frame) error {
	b := encodeFrame(f)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.nc.Write(b)
	return err
}

// WriteText writes one final, masked text frame.
func (c *Conn) WriteText(s string) error {
	return c.WriteFrame(Frame{Opcode: OpText, Payload: []byte(s)})
}

// WriteCompressedText writes s as a permessage-deflate text frame: the
// payload deflated, the trailing 00 00 ff ff removed, RSV1 set.
func (c *Conn) WriteCompressedText(s string) error {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	_, _ = w.Write([]byte(s))
	_ = w.Flush()
	p := bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
	return c.WriteFrame(Frame{Opcode: OpText, Payload: p, RSV: RSV1})
}

// WriteClose writes a close frame with code and reason.
func (c *Conn) WriteClose(code uint16, reason string) error {
	p := binary.BigEndian.AppendUint16(nil, code)
	return c.WriteFrame(Frame{Opcode: OpClose, Payload: append(p, reason...)})
}

func encodeFrame(f Frame) []byte {
	b0 := byte(f.Opcode&0xF) | (f.RSV&0x7)<<4
	if !f.NotFinal {
		b0 |= 0x80
	}
	n := len(f.Payload)
	out := make([]byte, 0, n+14)
	out = append(out, b0)
	var mask byte = 0x80
	if f.Unmasked {
		mask = 0
	}
	switch {
	case n <= 125:
		out = append(out, mask|byte(n))
	case n <= 0xFFFF:
		out = append(out, mask|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, mask|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if f.Unmasked {
		return append(out, f.Payload...)
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	out = append(out, key[:]...)
	start := len(out)
	out = append(out, f.Payload...)
	maskBytes(out[start:], key)
	return out
}

func maskBytes(p []byte, key [4]byte) {
	for i := range p {
		p[i] ^= key[i&3]
	}
}

// ReadFrame reads one frame, waiting at most timeout. A masked frame is
// unmasked and reported with Unmasked false; a server's frames are expected
// to come with Unmasked true.
func (c *Conn) ReadFrame(timeout time.Duration) (Frame, error) {
	f, _, err := c.readFrame(timeout)
	return f, err
}

// readFrame reads one frame and reports whether its length was written in
// its shortest form.
func (c *Conn) readFrame(timeout time.Duration) (f Frame, short bool, err error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return Frame{}, false, err
	}
	f = Frame{
		Opcode:   Opcode(h[0] & 0xF),
		NotFinal: h[0]&0x80 == 0,
		RSV:      (h[0] >> 4) & 0x7,
		Unmasked: h[1]&0x80 == 0,
	}
	n, short, err := c.payloadLength(h[1] & 0x7F)
	if err != nil {
		return f, false, err
	}
	var key [4]byte
	if !f.Unmasked {
		if _, err := io.ReadFull(c.br, key[:]); err != nil {
			return f, false, err
		}
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(c.br, f.Payload); err != nil {
		return f, false, err
	}
	if !f.Unmasked {
		maskBytes(f.Payload, key)
	}
	return f, short, nil
}

// payloadLength reads the payload length for code and reports whether it
// was written in its shortest form. A 64-bit length with its top bit set
// (RFC 6455 5.2 forbids it) is an error wrapping ErrBadServerFrame.
func (c *Conn) payloadLength(code byte) (n uint64, short bool, err error) {
	switch code {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return 0, false, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
		short = n > 125
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return 0, false, err
		}
		n = binary.BigEndian.Uint64(b[:])
		if n>>63 != 0 {
			return 0, false, fmt.Errorf("%w: 64-bit length %#x has its top bit set", ErrBadServerFrame, n)
		}
		short = n > 0xFFFF
	default:
		n, short = uint64(code), true
	}
	if limit := c.readLimit(); n > limit {
		return 0, false, fmt.Errorf("%w: a frame of %d bytes, over %d", ErrTooLarge, n, limit)
	}
	return n, short, nil
}

// ReadMessage returns the next text or binary message, reassembling
// fragments, answering pings and skipping pongs, all within timeout. A close
// frame from the server ends it with a *CloseError, a message over the read
// limit with an error wrapping ErrTooLarge.
func (c *Conn) ReadMessage(timeout time.Duration) (Opcode, []byte, error) {
	deadline := time.Now().Add(timeout)
	var op Opcode
	var msg []byte
	var compressed bool
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return 0, nil, fmt.Errorf("wstest: no message within %s: %w", timeout, errTimeout)
		}
		f, err := c.ReadFrame(left)
		if err != nil {
			return 0, nil, err
		}
		switch f.Opcode {
		case OpClose:
			return 0, nil, closeError(f.Payload)
		case OpPing:
			if err := c.WriteFrame(Frame{Opcode: OpPong, Payload: f.Payload}); err != nil {
				return 0, nil, err
			}
			continue
		case OpPong:
			continue
		case OpText, OpBinary:
			op, msg, compressed = f.Opcode, f.Payload, f.RSV&RSV1 != 0
		case OpContinuation:
			if limit := c.readLimit(); uint64(len(msg))+uint64(len(f.Payload)) > limit {
				return 0, nil, fmt.Errorf("%w: a message of more than %d bytes", ErrTooLarge, limit)
			}
			msg = append(msg, f.Payload...)
		default:
			return 0, nil, fmt.Errorf("wstest: server sent opcode %#x", byte(f.Opcode))
		}
		if !f.NotFinal {
			return c.finishMessage(op, msg, compressed)
		}
	}
}

var errTimeout = errors.New("timeout")

func closeError(p []byte) *CloseError {
	if len(p) < 2 {
		return &CloseError{Code: CloseNoStatus}
	}
	return &CloseError{Code: binary.BigEndian.Uint16(p), Reason: string(p[2:])}
}

// WaitEOF reads and discards until the server closes the socket, at most
// timeout; it reports whether it did.
func (c *Conn) WaitEOF(timeout time.Duration) bool {
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	_, err := io.Copy(io.Discard, c.br)
	var ne net.Error
	return err == nil || !errors.As(err, &ne) || !ne.Timeout()
}
