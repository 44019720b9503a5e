package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/rampart-rt/rampart/internal/wstest"
)

// The RFC 6455 checks: each opens a baseline connection, sends one frame a
// server must refuse, and judges what follows by the RFC: a close (any of
// 1002, 1007, 1009 is what the RFC names; another code is noted) or the
// end of the connection passes; an echo, a pong after it, or silence until
// the timeout fails.

// session opens a baseline connection for a frame check; a verdict says it
// cannot run. With the rampart profile it reads the welcome first.
func (a *auditor) session(ctx context.Context) (*conn, *verdict) {
	ans, err := a.handshake(ctx, a.request(), a.path)
	if err != nil {
		v := skipf("cannot connect: %v", err)
		return nil, &v
	}
	if ans.conn == nil {
		v := skipf("the baseline upgrade answered %d (see baseline)", ans.status)
		if lv, limited := limitedBy(ans.status); limited {
			v = lv
		}
		return nil, &v
	}
	// What a server sends at once (a welcome, an open packet) is not an
	// answer to what the check sends next.
	ans.conn.wait(min(a.timeout, 300*time.Millisecond))
	if s := ans.conn.watch(true, nil); s.gone() {
		_ = ans.conn.ws.Close()
		v := skipf("the server ended the baseline connection at once (%s)", endText(s))
		return nil, &v
	}
	ans.conn.wait(a.timeout)
	return ans.conn, nil
}

// rfcCheck sends raw bytes (one bad frame) and, unless broken (the bytes
// leave the frame stream unreadable), a ping after them, and judges.
func (a *auditor) rfcCheck(ctx context.Context, what string, raw []byte, broken bool) verdict {
	c, v := a.session(ctx)
	if v != nil {
		return *v
	}
	defer c.close()
	c.wait(a.timeout)
	werr := c.ws.WriteRaw(raw)
	if werr == nil && !broken {
		_ = c.write(wstest.OpPing, []byte(pingPayload))
	}
	s := c.watch(true, func(s seen) bool { return s.pong })
	if s.pong {
		// It read past the frame: give a late close a moment.
		c.wait(closeGrace)
		if late := c.watch(true, nil); late.gone() {
			return passf("%s: %s after reading on", what, endText(late))
		}
		return failf("%s: the server answered the ping after it and kept the connection open", what)
	}
	if !s.gone() && s.messages > 0 {
		return failf("%s: the server sent %d message(s) (%q) and kept the connection open", what, s.messages, oneLine(string(s.first), 40))
	}
	return judgeEnd(what, s, werr, a.timeout)
}

// judgeEnd judges a watch that saw no pong and no data.
func judgeEnd(what string, s seen, werr error, timeout time.Duration) verdict {
	switch {
	case s.closed && (s.code == 1002 || s.code == 1007 || s.code == 1009):
		return passf("%s: closed with %d", what, s.code)
	case s.closed:
		return passf("%s: closed with %d (RFC 6455 names 1002)", what, s.code)
	case s.ended:
		return passf("%s: the connection ended without a close frame (TCP close)", what)
	case werr != nil:
		return passf("%s: the server closed before the frame was written (%v)", what, werr)
	}
	return failf("%s: no close within %s: the server hangs on the frame", what, timeout)
}

func frameBytes(f wstest.Frame) []byte {
	return wstest.AppendFrame(nil, f, [4]byte{0x37, 0xfa, 0x21, 0x3d})
}

func (a *auditor) checkUnmasked(ctx context.Context) verdict {
	return a.rfcCheck(ctx, "unmasked frame", frameBytes(wstest.Frame{Opcode: wstest.OpText, Payload: []byte(`{"a":1}`), Unmasked: true}), false)
}

func (a *auditor) checkReservedBits(ctx context.Context) verdict {
	return a.rfcCheck(ctx, "RSV2 set", frameBytes(wstest.Frame{Opcode: wstest.OpText, Payload: []byte(`{"a":1}`), RSV: wstest.RSV2}), false)
}

func (a *auditor) checkInvalidUTF8(ctx context.Context) verdict {
	return a.rfcCheck(ctx, "invalid UTF-8", frameBytes(wstest.Frame{Opcode: wstest.OpText, Payload: []byte("{\"a\":\"\xff\xfe\"}")}), false)
}

func (a *auditor) checkControlTooLong(ctx context.Context) verdict {
	p := make([]byte, 126)
	return a.rfcCheck(ctx, "126-byte ping", frameBytes(wstest.Frame{Opcode: wstest.OpPing, Payload: p}), false)
}

func (a *auditor) checkControlFragmented(ctx context.Context) verdict {
	return a.rfcCheck(ctx, "ping without FIN", frameBytes(wstest.Frame{Opcode: wstest.OpPing, Payload: []byte("x"), NotFinal: true}), false)
}

// lengthProbe is a text frame header declaring n bytes in the 64-bit form,
// masked, followed by 5 bytes.
func lengthProbe(n uint64) []byte {
	key := [4]byte{1, 2, 3, 4}
	b := wstest.AppendHeader(nil, wstest.Header{Opcode: wstest.OpText, MaskKey: key, Length: n, Form: wstest.Length64})
	p := []byte("hello")
	wstest.Mask(p, key)
	return append(b, p...)
}

func (a *auditor) checkLengthTopBit(ctx context.Context) verdict {
	return a.rfcCheck(ctx, "64-bit length with the top bit set", lengthProbe(1<<63|5), true)
}

func (a *auditor) checkAbsurdLength(ctx context.Context) verdict {
	return a.rfcCheck(ctx, fmt.Sprintf("declared length %d", uint64(1)<<40), lengthProbe(1<<40), true)
}
