package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/rampart-rt/rampart/internal/wstest"
)

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
	f, err := c.ws.ReadFrame(time.Until(c.deadline))
	return f, serverError(err)
}

// message reads the next data message, answering pings; a close frame is
// a *closeError.
func (c *conn) message() (wstest.Opcode, []byte, error) {
	op, msg, err := c.ws.ReadMessage(time.Until(c.deadline))
	return op, msg, serverError(err)
}

// closeError is a close frame from the server.
type closeError struct{ code uint16 }

func (e *closeError) Error() string { return fmt.Sprintf("closed by the server with %d", e.code) }

// serverError says err in the audit's words where they differ from
// wstest's: a close frame, a message over the limit.
func serverError(err error) error {
	var ce *wstest.CloseError
	switch {
	case errors.As(err, &ce):
		return &closeError{ce.Code}
	case errors.Is(err, wstest.ErrTooLarge):
		return fmt.Errorf("server message over %d bytes", maxServerMessage)
	}
	return err
}

type welcomePush struct {
	Push   string `json:"push"`
	Limits struct {
		MaxMessageBytes int `json:"max_message_bytes"`
	} `json:"limits"`
}

// welcome reads the first message, within timeout, as a welcome push.
func (c *conn) welcome(timeout time.Duration) (*welcomePush, error) {
	c.wait(timeout)
	op, msg, err := c.message()
	if err != nil {
		return nil, err
	}
	var w welcomePush
	if op != wstest.OpText || json.Unmarshal(msg, &w) != nil || w.Push != "welcome" {
		return nil, errors.New("the first frame is not a welcome push")
	}
	return &w, nil
}

type commandReply struct {
	ID    *uint64 `json:"id"`
	Error *struct {
		Code string `json:"code"`
	} `json:"error"`
}

// reply returns the next reply to command id, skipping pushes. A message
// that is not a reply to id (an echo, say) is returned as one without an
// error, so the caller judges it.
func (c *conn) reply(id uint64) (*commandReply, error) {
	for {
		op, msg, err := c.message()
		if err != nil {
			return nil, err
		}
		var r commandReply
		if op != wstest.OpText || json.Unmarshal(msg, &r) != nil {
			return &commandReply{}, nil
		}
		if r.ID == nil {
			var p struct {
				Push string `json:"push"`
			}
			if json.Unmarshal(msg, &p) == nil && p.Push != "" {
				continue // a push, not a reply
			}
			return &r, nil
		}
		if *r.ID == id {
			return &r, nil
		}
		return &commandReply{}, nil
	}
}

// expectClose writes the frame, then a ping, and waits for a close frame
// with code want. A pong (the server read past the frame) starts a short
// grace for the close to arrive.
func (c *conn) expectClose(op wstest.Opcode, payload []byte, want uint16, what string, timeout time.Duration) verdict {
	c.wait(timeout)
	// A write may fail when the server closes while the frame is still in
	// flight; the close frame may still be readable.
	werr := c.write(op, payload)
	if werr == nil {
		_ = c.write(wstest.OpPing, []byte(pingPayload))
	}
	ponged := false
	for {
		f, err := c.readFrame()
		if err != nil {
			return noClose(err, werr, ponged, what, want, timeout)
		}
		switch f.Opcode {
		case wstest.OpClose:
			if got := wstest.CloseOf(f).Code; got != want {
				return failf("%s: closed with %d, want %d", what, got, want)
			}
			return passf("%s: closed with %d", what, want)
		case wstest.OpPing:
			_ = c.write(wstest.OpPong, f.Payload)
		case wstest.OpPong:
			// Any pong: some servers answer with an empty payload.
			if !ponged {
				ponged = true
				if g := time.Now().Add(closeGrace); g.Before(c.deadline) {
					c.deadline = g
				}
			}
		}
	}
}

// noClose judges a read error while expectClose waited for a close frame.
func noClose(err, werr error, ponged bool, what string, want uint16, timeout time.Duration) verdict {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout() && ponged:
		return failf("%s: the server answered a ping after it and kept the connection open, want close %d", what, want)
	case errors.As(err, &ne) && ne.Timeout():
		return failf("%s: no close frame within %s, want close %d", what, timeout, want)
	case werr != nil:
		return failf("%s: the write failed (%v) and no close frame came, want close %d", what, werr, want)
	default:
		return failf("%s: the connection ended without a close frame (%v), want close %d", what, err, want)
	}
}

// close ends the connection politely: a close frame, then a short wait for
// the server's, so its per-IP counts are given back before the next check.
func (c *conn) close() {
	c.wait(closeGrace)
	if c.ws.WriteClose(1000, "") == nil {
		for {
			f, err := c.readFrame()
			if err != nil || f.Opcode == wstest.OpClose {
				break
			}
		}
	}
	_ = c.ws.Close()
}
