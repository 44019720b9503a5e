package wstest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// ErrBadServerFrame is wrapped by ReadServerFrame's error when the server
// sent a frame that RFC 6455 forbids a server to send.
var ErrBadServerFrame = errors.New("wstest: invalid server frame")

// ReadServerFrame reads one frame like ReadFrame and checks it as RFC 6455
// requires of a server that negotiated no extension: no mask, no reserved
// bit (but RSV1 on a final text or binary frame after SetInflate(true), as
// permessage-deflate allows, whose payload comes back inflated, bounded by
// the read limit, with RSV1 still set), no reserved opcode, the payload
// length in its shortest form (and the top bit of a 64-bit length clear),
// control frames final and at most 125 bytes, and a close payload either
// empty or a code a peer may send followed by UTF-8. A frame that breaks a
// rule comes back with an error wrapping ErrBadServerFrame. It judges each
// frame alone: whether fragments follow each other correctly, and whether a
// text message is UTF-8 as a whole, is the caller's to check.
func (c *Conn) ReadServerFrame(timeout time.Duration) (Frame, error) {
	f, short, err := c.readFrame(timeout)
	switch {
	case err != nil:
		return f, err
	case !f.Unmasked:
		return f, fmt.Errorf("%w: masked (opcode %#x)", ErrBadServerFrame, byte(f.Opcode))
	case !short:
		return f, fmt.Errorf("%w: length %d not in its shortest form (opcode %#x)", ErrBadServerFrame, len(f.Payload), byte(f.Opcode))
	}
	compressed := c.inflate && f.RSV == RSV1 && !f.NotFinal && (f.Opcode == OpText || f.Opcode == OpBinary)
	check := f
	if compressed {
		check.RSV = 0
	}
	if err := checkServerFrame(check); err != nil {
		return f, fmt.Errorf("%w: %v", ErrBadServerFrame, err)
	}
	if compressed {
		out, err := Inflate(f.Payload, c.readLimit())
		if err != nil {
			return f, fmt.Errorf("%w: a compressed frame: %v", ErrBadServerFrame, err)
		}
		f.Payload = out
		c.inflated++
	}
	return f, nil
}

func checkServerFrame(f Frame) error {
	if f.RSV != 0 {
		return fmt.Errorf("reserved bits %03b set (opcode %#x)", f.RSV, byte(f.Opcode))
	}
	switch f.Opcode {
	case OpContinuation, OpText, OpBinary:
		return nil
	case OpClose, OpPing, OpPong:
	default:
		return fmt.Errorf("reserved opcode %#x", byte(f.Opcode))
	}
	if f.NotFinal {
		return fmt.Errorf("fragmented control frame (opcode %#x)", byte(f.Opcode))
	}
	if len(f.Payload) > 125 {
		return fmt.Errorf("control frame of %d bytes (opcode %#x)", len(f.Payload), byte(f.Opcode))
	}
	if f.Opcode != OpClose {
		return nil
	}
	switch {
	case len(f.Payload) == 0:
		return nil
	case len(f.Payload) == 1:
		return errors.New("close payload of one byte")
	}
	if code := binary.BigEndian.Uint16(f.Payload); !SendableCloseCode(code) {
		return fmt.Errorf("close code %d may not be sent", code)
	}
	if !utf8.Valid(f.Payload[2:]) {
		return fmt.Errorf("close reason %q is not UTF-8", f.Payload[2:])
	}
	return nil
}

// SendableCloseCode reports whether RFC 6455 (section 7.4) lets an
// endpoint put code in a close frame: the defined codes other than 1004,
// 1005, 1006 and 1015, the IANA-registered 1012-1014, and 3000-4999.
func SendableCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	default:
		return code >= 3000 && code <= 4999
	}
}

// CloseOf decodes a close frame's payload: 1005 (CloseNoStatus) and no
// reason when it is empty.
func CloseOf(f Frame) *CloseError { return closeError(f.Payload) }
