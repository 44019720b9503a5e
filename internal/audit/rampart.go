package audit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// The rampart profile: checks that know Rampart's protocol (rampart.v1,
// the welcome push, the replies, the close codes of PROTOCOL.md).

const (
	rampartSubprotocol  = "rampart.v1"
	rampartBearerPrefix = "rampart.bearer."
	closeUnsupported    = 1003
	closeInvalidUTF8    = 1007
	closeTooBig         = 1009
	closeTokenExpired   = 4001
	defaultMaxMessage   = 16384
)

var rampartChecks = []check{
	{ID: "rampart-no-token", Profile: "rampart", Severity: SevHigh, Title: "an upgrade without a token is not refused as Rampart refuses it",
		Sends: "the baseline upgrade without Authorization", Fix: "keep Rampart's token check (auth) on; it answers 401 with WWW-Authenticate: Bearer",
		run: (*auditor).checkNoToken},
	{ID: "rampart-alg-none", Profile: "rampart", Severity: SevHigh, Title: "an unsigned token (alg none) is accepted",
		Sends: "the token's claims with the header {\"alg\":\"none\"} and no signature", Fix: "allow-list signing algorithms (auth.algorithms); none is never allowed",
		run: (*auditor).checkAlgNone},
	{ID: "rampart-bad-signature", Profile: "rampart", Severity: SevHigh, Title: "a forged token (signature altered) is accepted",
		Sends: "the token with one bit of its signature flipped", Fix: "verify every token's signature",
		run: (*auditor).checkBadSignature},
	{ID: "rampart-no-subprotocol", Profile: "rampart", Severity: SevLow, Title: "a client that does not speak rampart.v1 is upgraded",
		Sends: "the baseline upgrade without Sec-WebSocket-Protocol", Fix: "refuse (400) an upgrade that does not offer rampart.v1",
		run: (*auditor).checkNoSubprotocol},
	{ID: "rampart-bearer-echo", Profile: "rampart", Severity: SevHigh, Title: "the token carried as a subprotocol is echoed back in a header",
		Sends: "an upgrade offering rampart.v1 and rampart.bearer.TOKEN", Fix: "select exactly rampart.v1, never the bearer subprotocol",
		run: (*auditor).checkBearerEcho},
	{ID: "rampart-binary-frame", Profile: "rampart", Severity: SevLow, Title: "binary frames are not refused with 1003",
		Sends: "a binary frame holding a ping command", Fix: "close 1003 on a binary frame (PROTOCOL.md section 2)",
		run: (*auditor).checkBinaryFrame},
	{ID: "rampart-too-big", Profile: "rampart", Severity: SevMedium, Title: "a message over the welcome's max_message_bytes is not refused with 1009",
		Sends: "a ping command padded to max_message_bytes + 1", Fix: "enforce limits.max_message_bytes",
		run: (*auditor).checkTooBig},
	{ID: "rampart-unknown-field", Profile: "rampart", Severity: SevLow, Title: "a command with an unknown field is not answered bad_request",
		Sends: "a ping command with an unknown field, then a ping", Fix: "answer bad_request and keep the connection open (PROTOCOL.md section 2)",
		run: (*auditor).checkUnknownField},
	{ID: "rampart-forbidden-channel", Profile: "rampart", Severity: SevHigh, Title: "a channel no rule lets the user read can be subscribed to",
		Sends: "subscribe to rampart-audit.forbidden, a channel no sane policy names", Fix: "keep channel rules default-deny; list who may subscribe to each pattern",
		run: (*auditor).checkForbiddenChannel},
	{ID: "rampart-token-expiry", Profile: "rampart", Severity: SevHigh, Title: "a connection outlives its token",
		Sends: "an upgrade with --expiring-token, held until the token expires", Fix: "close connections whose token expired with 4001 (Rampart does unless refreshed)",
		background: true, run: (*auditor).checkTokenExpiry},
}

// rampartWelcome reads the first message as Rampart's welcome push.
func rampartWelcome(c *conn, timeout time.Duration) verdict {
	w, err := c.welcome(timeout)
	if err != nil {
		return failf("upgraded with rampart.v1, but no welcome push first: %v", err)
	}
	return passf("welcome push first (max_message_bytes %d)", w.Limits.MaxMessageBytes)
}

// refused judges a handshake that must be refused with status want.
func (a *auditor) refused(ans *answer, err error, want int, what string) verdict {
	v := a.upgraded(ans, err, what)
	if v.result == pass && ans.status != want {
		return failf("%s: answered %d, want %d", what, ans.status, want)
	}
	return v
}

func (a *auditor) checkNoToken(ctx context.Context) verdict {
	h := a.request()
	h.Del("Authorization")
	h.Del("Cookie")
	ans, err := a.handshake(ctx, h, a.path)
	v := a.refused(ans, err, http.StatusUnauthorized, "no token")
	if v.result == pass && !strings.HasPrefix(ans.header.Get("WWW-Authenticate"), "Bearer") {
		return failf("no token: 401 without WWW-Authenticate: Bearer")
	}
	return v
}

// jwtParts splits the audit token into its three segments.
func (a *auditor) jwtParts() ([]string, bool) {
	p := strings.Split(a.token, ".")
	return p, len(p) == 3 && p[1] != ""
}

func (a *auditor) checkAlgNone(ctx context.Context) verdict {
	p, ok := a.jwtParts()
	if !ok {
		return skipf("needs --token, a JWT")
	}
	// The same claims, unsigned: the payload segment is reused as is.
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	h := a.request()
	h.Set("Authorization", "Bearer "+header+"."+p[1]+".")
	ans, err := a.handshake(ctx, h, a.path)
	return a.refused(ans, err, http.StatusUnauthorized, "alg none token")
}

// forgedToken is the audit token with one bit of its signature flipped.
func (a *auditor) forgedToken() (string, bool) {
	p, ok := a.jwtParts()
	if !ok {
		return "", false
	}
	sig, err := base64.RawURLEncoding.DecodeString(p[2])
	if err != nil || len(sig) == 0 {
		return "", false
	}
	sig[len(sig)/2] ^= 0x01
	return p[0] + "." + p[1] + "." + base64.RawURLEncoding.EncodeToString(sig), true
}

func (a *auditor) checkBadSignature(ctx context.Context) verdict {
	tok, ok := a.forgedToken()
	if !ok {
		return skipf("needs --token, a JWT with a base64url signature")
	}
	h := a.request()
	h.Set("Authorization", "Bearer "+tok)
	ans, err := a.handshake(ctx, h, a.path)
	return a.refused(ans, err, http.StatusUnauthorized, "token with a flipped signature bit")
}

func (a *auditor) checkNoSubprotocol(ctx context.Context) verdict {
	h := a.request()
	h.Del("Sec-WebSocket-Protocol")
	ans, err := a.handshake(ctx, h, a.path)
	return a.refused(ans, err, http.StatusBadRequest, "rampart.v1 not offered")
}

func (a *auditor) checkBearerEcho(ctx context.Context) verdict {
	if a.token == "" {
		return skipf("needs --token")
	}
	h := a.request()
	h.Del("Authorization")
	h.Set("Sec-WebSocket-Protocol", rampartSubprotocol+", "+rampartBearerPrefix+a.token)
	ans, err := a.handshake(ctx, h, a.path)
	if err != nil {
		return skipf("no answer to judge: %v", err)
	}
	if ans.conn != nil {
		defer ans.conn.close()
	}
	for _, vs := range ans.header {
		for _, v := range vs {
			if strings.Contains(v, a.token) {
				return failf("the answer (%d) echoes the token in a header", ans.status)
			}
		}
	}
	if ans.conn == nil {
		if v, limited := limitedBy(ans.status); limited {
			return v
		}
		return skipf("the subprotocol token carrier is off (%d)", ans.status)
	}
	if got := ans.header.Get("Sec-WebSocket-Protocol"); got != rampartSubprotocol {
		return failf("selected subprotocol %q, want exactly %q", got, rampartSubprotocol)
	}
	return passf("the token carried as a subprotocol is accepted and not echoed: selected exactly rampart.v1")
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
	_, msg, err := c.message()
	if err != nil {
		return nil, err
	}
	var w welcomePush
	if json.Unmarshal(msg, &w) != nil || w.Push != "welcome" {
		return nil, errWelcome
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
	for range maxWatchFrames {
		_, msg, err := c.message()
		if err != nil {
			return nil, err
		}
		var r commandReply
		if json.Unmarshal(msg, &r) != nil {
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
	return nil, errWelcome
}
