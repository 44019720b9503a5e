package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rampart-rt/rampart/internal/wstest"
)

// The rampart profile's frame checks: each opens a baseline connection,
// reads the welcome (for max_message_bytes), sends one frame and waits for
// what PROTOCOL.md says.

var errWelcome = errors.New("the first frame is not a welcome push")

// rampartSession opens a baseline connection and reads the welcome.
func (a *auditor) rampartSession(ctx context.Context) (*conn, int, *verdict) {
	ans, err := a.handshake(ctx, a.request(), a.path)
	if err != nil {
		v := skipf("cannot connect: %v", err)
		return nil, 0, &v
	}
	if ans.conn == nil {
		v := skipf("the baseline upgrade answered %d (see baseline)", ans.status)
		return nil, 0, &v
	}
	w, err := ans.conn.welcome(a.timeout)
	if err != nil {
		ans.conn.close()
		v := skipf("no welcome push (see baseline): %v", err)
		return nil, 0, &v
	}
	limit := w.Limits.MaxMessageBytes
	if limit <= 0 {
		limit = defaultMaxMessage
	}
	return ans.conn, limit, nil
}

// expectClose writes the frame, then a ping, and waits for a close frame
// with code want.
func (a *auditor) expectClose(ctx context.Context, what string, want uint16, payload func(limit int) (wstest.Opcode, []byte)) verdict {
	c, limit, v := a.rampartSession(ctx)
	if v != nil {
		return *v
	}
	defer c.close()
	op, p := payload(limit)
	werr := c.write(op, p)
	if werr == nil {
		_ = c.write(wstest.OpPing, []byte(pingPayload))
	}
	c.wait(a.timeout)
	s := c.watch(true, func(s seen) bool { return s.pong })
	if s.pong {
		c.wait(closeGrace)
		s = c.watch(true, nil)
	}
	switch {
	case s.closed && s.code == want:
		return passf("%s: closed with %d", what, want)
	case s.closed:
		return failf("%s: closed with %d, want %d", what, s.code, want)
	case s.ended || werr != nil:
		return failf("%s: the connection ended without a close frame, want close %d", what, want)
	}
	return failf("%s: no close within %s, want close %d", what, a.timeout, want)
}

func (a *auditor) checkBinaryFrame(ctx context.Context) verdict {
	return a.expectClose(ctx, "binary frame", closeUnsupported, func(int) (wstest.Opcode, []byte) {
		return wstest.OpBinary, []byte(`{"id":1,"action":"ping"}`)
	})
}

func (a *auditor) checkTooBig(ctx context.Context) verdict {
	var size int
	v := a.expectClose(ctx, "message over max_message_bytes", closeTooBig, func(limit int) (wstest.Opcode, []byte) {
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
	c, _, v := a.rampartSession(ctx)
	if v != nil {
		return *v
	}
	defer c.close()
	if err := c.write(wstest.OpText, []byte(`{"id":1,"action":"ping","rampart_audit_unknown":true}`)); err != nil {
		return failf("write: %v", err)
	}
	c.wait(a.timeout)
	r, err := c.reply(1)
	if err != nil {
		return failf("unknown field: no reply: %v", err)
	}
	if r.Error == nil || r.Error.Code != "bad_request" {
		return failf("unknown field: the reply is not a bad_request error")
	}
	if err := c.write(wstest.OpText, []byte(`{"id":2,"action":"ping"}`)); err != nil {
		return failf("unknown field answered bad_request, but the connection did not stay open: %v", err)
	}
	if _, err := c.reply(2); err != nil {
		return failf("unknown field answered bad_request, but the connection did not stay open: %v", err)
	}
	return passf("unknown field: bad_request, and the connection stays open")
}

func (a *auditor) checkForbiddenChannel(ctx context.Context) verdict {
	c, _, v := a.rampartSession(ctx)
	if v != nil {
		return *v
	}
	defer c.close()
	if err := c.write(wstest.OpText, []byte(`{"id":1,"action":"subscribe","channel":"rampart-audit.forbidden"}`)); err != nil {
		return failf("write: %v", err)
	}
	c.wait(a.timeout)
	r, err := c.reply(1)
	switch {
	case err != nil:
		return failf("subscribe to rampart-audit.forbidden: no reply: %v", err)
	case r.Error == nil:
		return failf("subscribe to rampart-audit.forbidden: accepted")
	case r.Error.Code != "forbidden":
		return failf("subscribe to rampart-audit.forbidden: error %q, want forbidden", r.Error.Code)
	}
	return passf("subscribe to rampart-audit.forbidden: forbidden")
}

// tokenExpiry reads the exp claim of a JWT, unverified.
func tokenExpiry(tok string) (time.Time, bool) {
	p := strings.Split(tok, ".")
	if len(p) != 3 {
		return time.Time{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(p[1])
	if err != nil {
		return time.Time{}, false
	}
	var c struct {
		Exp *float64 `json:"exp"`
	}
	if json.Unmarshal(b, &c) != nil || c.Exp == nil {
		return time.Time{}, false
	}
	return time.Unix(int64(*c.Exp), 0), true
}

// expiryGrace is how long after exp the audit waits for the close: the
// server's leeway (Rampart's default is 5s) and its timer.
const expiryGrace = 10 * time.Second

func (a *auditor) checkTokenExpiry(ctx context.Context) verdict {
	if a.expiringToken == "" {
		return skipf("needs --expiring-token, a token that expires within the --duration budget")
	}
	exp, ok := tokenExpiry(a.expiringToken)
	if !ok {
		return skipf("--expiring-token has no exp claim")
	}
	if until := time.Until(exp) + expiryGrace; until > time.Until(a.deadline) {
		return skipf("--expiring-token expires at %s, after the --duration budget", exp.UTC().Format(time.TimeOnly))
	}
	h := a.request()
	h.Set("Authorization", "Bearer "+a.expiringToken)
	ans, err := a.handshake(ctx, h, a.path)
	if err != nil || ans.conn == nil {
		return a.upgraded(ans, err, "the expiring token") // refused: it may have expired already
	}
	c := ans.conn
	defer c.close()
	c.wait(time.Until(exp) + expiryGrace)
	s := c.watch(true, nil)
	switch {
	case s.closed && s.code == closeTokenExpired:
		return passf("closed with 4001 %s after the token's exp", time.Since(exp).Round(100*time.Millisecond))
	case s.gone():
		return failf("the connection ended with %s, want close 4001", endText(s))
	}
	return failf("still open %s after the token's exp", expiryGrace)
}
