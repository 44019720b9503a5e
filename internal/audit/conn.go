package audit

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-rt/rampart/internal/wstest"
)

// guardConn is a connection the audit opened: it gives its place back to
// the --max-connections budget once, when closed, and until unguard it
// reads at most left bytes, so that a server answering an upgrade with
// endless headers ends the check instead of the audit's memory.
type guardConn struct {
	net.Conn
	a     *auditor
	left  atomic.Int64 // bytes still readable; below 0: no bound
	close sync.Once
}

var errTooMuch = errors.New("the server's answer is over the audit's read limit")

func (g *guardConn) Read(p []byte) (int, error) {
	left := g.left.Load()
	if left == 0 {
		return 0, errTooMuch
	}
	if left > 0 && int64(len(p)) > left {
		p = p[:left]
	}
	n, err := g.Conn.Read(p)
	if left > 0 {
		g.left.Add(-int64(n))
	}
	return n, err
}

func (g *guardConn) Close() error {
	g.close.Do(func() { g.a.open.Add(-1) })
	return g.Conn.Close()
}

// unguard lifts the read bound of nc (a guardConn, or TLS over one): frames
// are bounded by the read limit and the deadlines instead.
func unguard(nc net.Conn) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	if g, ok := nc.(*guardConn); ok {
		g.left.Store(-1)
	}
}

// conn is an upgraded connection under audit: frames are wstest's; reads
// wait until the deadline the audit sets, and a server message is at most
// maxServerMessage bytes.
type conn struct {
	ws       *wstest.Conn
	deadline time.Time // for reads
}

func newConn(ws *wstest.Conn, timeout time.Duration) *conn {
	ws.SetReadLimit(maxServerMessage)
	return &conn{ws: ws, deadline: time.Now().Add(timeout)}
}

// wait sets the read deadline to d from now.
func (c *conn) wait(d time.Duration) { c.deadline = time.Now().Add(d) }

// write sends one final, masked frame.
func (c *conn) write(op wstest.Opcode, payload []byte) error {
	return c.ws.WriteFrame(wstest.Frame{Opcode: op, Payload: payload})
}

func (c *conn) readFrame() (wstest.Frame, error) {
	left := time.Until(c.deadline)
	if left <= 0 {
		return wstest.Frame{}, errDeadline
	}
	return c.ws.ReadFrame(left)
}

var errDeadline = errors.New("deadline")

// message reads the next data message, answering pings; a close frame is
// a *closeError.
func (c *conn) message() (wstest.Opcode, []byte, error) {
	op, msg, err := c.ws.ReadMessage(time.Until(c.deadline))
	return op, msg, serverError(err)
}

// closeError is a close frame from the server.
type closeError struct {
	code   uint16
	reason string
}

func (e *closeError) Error() string { return fmt.Sprintf("closed by the server with %d", e.code) }

// serverError says err in the audit's words where they differ from
// wstest's: a close frame, a message over the limit.
func serverError(err error) error {
	var ce *wstest.CloseError
	switch {
	case errors.As(err, &ce):
		return &closeError{ce.Code, ce.Reason}
	case errors.Is(err, wstest.ErrTooLarge):
		return fmt.Errorf("server message over %d bytes", maxServerMessage)
	}
	return err
}

// seen is what the server did while the audit watched a connection.
type seen struct {
	closed    bool   // a close frame came
	code      uint16 // its code
	reason    string // its reason
	ended     bool   // the connection ended (EOF, reset, a frame the audit refuses)
	endErr    error
	pong      bool     // a pong came
	pinged    bool     // the server sent a ping
	messages  int      // data frames
	dataBytes int      // their payload bytes
	first     []byte   // the first data frame's first bytes
	replies   [][]byte // the first data frames, whole (at most 8 of up to 4 KiB)
}

// gone says whether the server ended the connection.
func (s seen) gone() bool { return s.closed || s.ended }

// maxWatchFrames bounds the frames watch reads, whatever the server sends.
const maxWatchFrames = 10000

// watch reads frames until the deadline, a close frame, the end of the
// connection, or stop says it has seen enough. It answers pings when
// answerPings (a live client does; an idle-check client does not).
func (c *conn) watch(answerPings bool, stop func(seen) bool) seen {
	var s seen
	for range maxWatchFrames {
		f, err := c.readFrame()
		if err != nil {
			var ne net.Error
			if !errors.Is(err, errDeadline) && (!errors.As(err, &ne) || !ne.Timeout()) {
				s.ended, s.endErr = true, err
			}
			return s
		}
		switch f.Opcode {
		case wstest.OpClose:
			ce := wstest.CloseOf(f)
			s.closed, s.code, s.reason = true, ce.Code, ce.Reason
			return s
		case wstest.OpPing:
			s.pinged = true
			if answerPings {
				_ = c.write(wstest.OpPong, f.Payload)
			}
		case wstest.OpPong:
			s.pong = true
		default:
			s.messages++
			s.dataBytes += len(f.Payload)
			if s.first == nil {
				s.first = f.Payload[:min(len(f.Payload), 64)]
			}
			if len(s.replies) < 8 {
				s.replies = append(s.replies, f.Payload[:min(len(f.Payload), 4096)])
			}
		}
		if stop != nil && stop(s) {
			return s
		}
	}
	return s
}

// close ends the connection politely: a close frame, then a short wait for
// the server's, so its per-address counts are given back before the next
// check.
func (c *conn) close() {
	c.wait(closeGrace)
	if c.ws.WriteClose(1000, "") == nil {
		c.watch(true, nil)
	}
	_ = c.ws.Close()
}
