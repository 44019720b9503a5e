package audit

import (
	"bytes"
	"context"
	"fmt"

	"github.com/rampart-rt/rampart/internal/wstest"
)

// The frame checks: each opens a baseline connection, reads the welcome
// (for max_message_bytes), sends one frame a server must refuse, and waits
// for the close code PROTOCOL.md gives.

// session opens a baseline connection for a frame check and reads the
// welcome. A SKIP verdict says the check cannot run.
func (a *auditor) session(ctx context.Context) (*conn, int, string, *verdict) {
	ans, err := a.handshake(ctx, a.request(), a.path)
	if err != nil {
		v := skipf("cannot connect: %v", err)
		return nil, 0, "", &v
	}
	if ans.conn == nil {
		v := skipf("the baseline handshake answered %d (see baseline)", ans.status)
		return nil, 0, "", &v
	}
	c := ans.conn
	c.wait(a.timeout)
	if ans.header.Get("Sec-WebSocket-Protocol") != subprotocol {
		// Not a Rampart endpoint: no welcome to wait for.
		return c, defaultMaxMessage, " (no welcome; default limit)", nil
	}
	w, err := c.welcome(a.timeout)
	if err != nil {
		c.close()
		v := skipf("no welcome push (see baseline): %v", err)
		return nil, 0, "", &v
	}
	limit := w.Limits.MaxMessageBytes
	if limit <= 0 {
		return c, defaultMaxMessage, " (the welcome gave no limit; default used)", nil
	}
	return c, limit, "", nil
}

func (a *auditor) frameCheck(ctx context.Context, what string, want uint16, payload func(limit int) (wstest.Opcode, []byte)) verdict {
	c, limit, note, v := a.session(ctx)
	if v != nil {
		return *v
	}
	defer c.close()
	op, p := payload(limit)
	return c.expectClose(op, p, want, what+note, a.timeout)
}

func (a *auditor) checkBinaryFrame(ctx context.Context) verdict {
	return a.frameCheck(ctx, "binary frame", closeUnsupported, func(int) (wstest.Opcode, []byte) {
		return wstest.OpBinary, []byte(`{"id":1,"action":"ping"}`)
	})
}

func (a *auditor) checkInvalidUTF8(ctx context.Context) verdict {
	return a.frameCheck(ctx, "invalid UTF-8", closeInvalidUTF8, func(int) (wstest.Opcode, []byte) {
		return wstest.OpText, []byte("{\"id\":1,\"action\":\"ping\",\"x\":\"\xff\xfe\"}")
	})
}

func (a *auditor) checkTooBig(ctx context.Context) verdict {
	var size int
	v := a.frameCheck(ctx, "message over max_message_bytes", closeTooBig, func(limit int) (wstest.Opcode, []byte) {
		size = limit + 1
		p := []byte(`{"id":1,"action":"ping","pad":"`)
		p = append(p, bytes.Repeat([]byte("a"), max(size-len(p)-2, 1))...)
		return wstest.OpText, append(p, '"', '}')
	})
	if size > 0 {
		v.detail += fmt.Sprintf(" (%d bytes sent)", size)
	}
	return v
}

func (a *auditor) checkUnknownField(ctx context.Context) verdict {
	c, _, note, v := a.session(ctx)
	if v != nil {
		return *v
	}
	defer c.close()
	if err := c.write(wstest.OpText, []byte(`{"id":1,"action":"ping","rampart_audit_unknown":true}`)); err != nil {
		return failf("write: %v", err)
	}
	r, err := c.reply(1)
	if err != nil {
		return failf("unknown field: no reply%s: %v", note, err)
	}
	if r.Error == nil || r.Error.Code != "bad_request" {
		return failf("unknown field: the reply is not a bad_request error%s", note)
	}
	if err := c.write(wstest.OpText, []byte(`{"id":2,"action":"ping"}`)); err != nil {
		return failf("unknown field answered bad_request, but the connection did not stay open: %v", err)
	}
	if _, err := c.reply(2); err != nil {
		return failf("unknown field answered bad_request, but the connection did not stay open: %v", err)
	}
	return passf("unknown field: bad_request, and the connection stays open")
}
