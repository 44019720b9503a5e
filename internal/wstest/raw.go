package wstest

import (
	"encoding/binary"
	"net"
	"time"
)

// LengthForm is how a Header encodes its payload length.
type LengthForm byte

// The length forms of RFC 6455: LengthShortest picks the one a correct
// peer uses; the others force a form whatever the length, so a test can
// send a length in a longer form than needed, or one that does not fit.
const (
	LengthShortest LengthForm = iota
	Length7                   // one byte: the low seven bits of Length, which may read as 126 or 127
	Length16                  // 126 and two bytes: the low 16 bits of Length
	Length64                  // 127 and eight bytes: all of Length, top bit included
)

// Header is a frame header written exactly as given. Length is the length
// it declares, true or not: the payload that follows is the caller's
// business. MaskKey is written, and is the caller's to apply (Mask), unless
// Unmasked.
type Header struct {
	Opcode   Opcode
	NotFinal bool
	RSV      byte
	Unmasked bool
	MaskKey  [4]byte
	Length   uint64
	Form     LengthForm
}

// AppendHeader appends h's encoding to dst.
func AppendHeader(dst []byte, h Header) []byte {
	b0 := byte(h.Opcode&0xF) | (h.RSV&0x7)<<4
	if !h.NotFinal {
		b0 |= 0x80
	}
	var mask byte = 0x80
	if h.Unmasked {
		mask = 0
	}
	form := h.Form
	if form == LengthShortest {
		switch {
		case h.Length <= 125:
			form = Length7
		case h.Length <= 0xFFFF:
			form = Length16
		default:
			form = Length64
		}
	}
	dst = append(dst, b0)
	switch form {
	case Length16:
		dst = append(dst, mask|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(h.Length))
	case Length64:
		dst = append(dst, mask|127)
		dst = binary.BigEndian.AppendUint64(dst, h.Length)
	default:
		dst = append(dst, mask|byte(h.Length&0x7F))
	}
	if !h.Unmasked {
		dst = append(dst, h.MaskKey[:]...)
	}
	return dst
}

// AppendFrame appends f encoded with the mask key given (ignored when
// f.Unmasked), so that a frame's bytes depend only on the caller's input.
func AppendFrame(dst []byte, f Frame, key [4]byte) []byte {
	dst = AppendHeader(dst, Header{
		Opcode: f.Opcode, NotFinal: f.NotFinal, RSV: f.RSV, Unmasked: f.Unmasked,
		MaskKey: key, Length: uint64(len(f.Payload)),
	})
	start := len(dst)
	dst = append(dst, f.Payload...)
	if !f.Unmasked {
		Mask(dst[start:], key)
	}
	return dst
}

// Mask XORs p in place with key, as RFC 6455 masks a payload that starts
// at p[0]; masking twice restores it.
func Mask(p []byte, key [4]byte) { maskBytes(p, key) }

// WriteRaw writes b as it is, in one write with a 5s deadline: bytes that
// need not form frames, or a frame cut anywhere.
func (c *Conn) WriteRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.nc.Write(b)
	return err
}

// CloseWrite half-closes the socket: the server reads end of file, and
// the client can still read what the server sends before it closes.
func (c *Conn) CloseWrite() error {
	if tc, ok := c.nc.(*net.TCPConn); ok {
		return tc.CloseWrite()
	}
	return c.nc.Close()
}
