package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/rampart-rt/rampart/internal/wstest"
)

// The socketio and centrifugo profiles: checks that need the application
// protocol, because those servers authenticate after the upgrade.

var socketioChecks = []check{
	{ID: "socketio-connect-anonymous", Profile: "socketio", Severity: SevHigh, Title: "anyone can join the default namespace without credentials and exchange events",
		Sends: "an upgrade without credentials, then the Socket.IO connect packet 40 without auth",
		Fix:   "authenticate in allowRequest (at the upgrade) or in an io.use() middleware that calls next(new Error(...)) without valid credentials",
		run:   (*auditor).checkSocketIOAnonymous},
	{ID: "socketio-connect-forged", Profile: "socketio", Severity: SevHigh, Title: "a forged token opens the default namespace",
		Sends: "an upgrade with a forged bearer token, then 40{\"token\":FORGED}",
		Fix:   "verify the token's signature in allowRequest or the io.use() middleware",
		run:   (*auditor).checkSocketIOForged},
}

var centrifugoChecks = []check{
	{ID: "centrifugo-connect-anonymous", Profile: "centrifugo", Severity: SevHigh, Title: "anyone can complete the connect command without a token",
		Sends: "an upgrade without credentials, then {\"id\":1,\"connect\":{}}",
		Fix:   "leave client.insecure and anonymous connect off; require a connection token",
		run:   (*auditor).checkCentrifugoAnonymous},
	{ID: "centrifugo-connect-forged", Profile: "centrifugo", Severity: SevHigh, Title: "a forged token completes the connect command",
		Sends: "an upgrade without credentials, then {\"id\":1,\"connect\":{\"token\":FORGED}}",
		Fix:   "verify connection tokens (client.token.hmac_secret_key or keys); never skip verification",
		run:   (*auditor).checkCentrifugoForged},
}

// forgedOrNone is the audit token with its signature altered, or an
// unsigned token when no JWT was given.
func (a *auditor) forgedOrNone() string {
	if tok, ok := a.forgedToken(); ok {
		return tok
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(`{"sub":"rampart-audit"}`)) + "."
}

// connectOutcome is what a server answered to an in-band connect.
type connectOutcome int

const (
	connectUnknown connectOutcome = iota
	connectAccepted
	connectRefused
)

// socketIOConnect parses one Engine.IO/Socket.IO text frame: a connect
// acknowledgement (40...) accepts, a connect error (44...) or a
// disconnect (41) refuses; anything else is not an answer.
func socketIOConnect(frame []byte) connectOutcome {
	switch {
	case bytes.HasPrefix(frame, []byte("40")):
		return connectAccepted
	case bytes.HasPrefix(frame, []byte("44")), bytes.HasPrefix(frame, []byte("41")), bytes.HasPrefix(frame, []byte("1")):
		return connectRefused
	}
	return connectUnknown
}

// centrifugoConnect parses one frame of Centrifugo's JSON protocol (one or
// more replies, one a line) for the reply to command 1.
func centrifugoConnect(frame []byte) connectOutcome {
	for line := range bytes.SplitSeq(frame, []byte("\n")) {
		var r struct {
			ID      uint64          `json:"id"`
			Connect json.RawMessage `json:"connect"`
			Error   json.RawMessage `json:"error"`
		}
		if json.Unmarshal(line, &r) != nil || r.ID != 1 {
			continue
		}
		if len(r.Error) > 0 {
			return connectRefused
		}
		if len(r.Connect) > 0 {
			return connectAccepted
		}
	}
	return connectUnknown
}

// inBandConnect upgrades with h, sends first (if any) on arrival and
// connect, and judges the server's answers with parse. Engine.IO pings
// ("2") are answered ("3") so the server does not drop the connection
// for that.
func (a *auditor) inBandConnect(ctx context.Context, h http.Header, connect string, parse func([]byte) connectOutcome, what string) verdict {
	ans, err := a.handshake(ctx, h, a.path)
	if err != nil {
		return skipf("no answer to judge: %v", err)
	}
	if ans.conn == nil {
		if v, limited := limitedBy(ans.status); limited {
			return v
		}
		return passf("%s: refused at the upgrade with %d", what, ans.status)
	}
	c := ans.conn
	defer c.close()
	if err := c.write(wstest.OpText, []byte(connect)); err != nil {
		return passf("%s: the server closed before the connect (%v)", what, err)
	}
	deadline := time.Now().Add(a.timeout)
	var outcome connectOutcome
	var last []byte
	for outcome == connectUnknown && time.Now().Before(deadline) {
		c.deadline = deadline
		s := c.watch(true, func(s seen) bool { return s.messages > 0 })
		for _, m := range s.replies {
			if bytes.Equal(m, []byte("2")) {
				_ = c.write(wstest.OpText, []byte("3"))
			}
			if o := parse(m); o != connectUnknown {
				outcome, last = o, m
			}
		}
		if outcome == connectUnknown && (s.gone() || s.messages == 0) {
			if s.gone() {
				return passf("%s: %s", what, endText(s))
			}
			break
		}
	}
	switch outcome {
	case connectAccepted:
		return failf("%s: accepted (%q)", what, oneLine(string(last), 60))
	case connectRefused:
		return passf("%s: refused (%q)", what, oneLine(string(last), 60))
	}
	return skipf("%s: no answer within %s", what, a.timeout)
}

func (a *auditor) checkSocketIOAnonymous(ctx context.Context) verdict {
	return a.inBandConnect(ctx, a.anonymous(), "40", socketIOConnect, "connect without credentials")
}

func (a *auditor) checkSocketIOForged(ctx context.Context) verdict {
	tok := a.forgedOrNone()
	h := a.anonymous()
	h.Set("Authorization", "Bearer "+tok)
	auth, _ := json.Marshal(map[string]string{"token": tok})
	return a.inBandConnect(ctx, h, "40"+string(auth), socketIOConnect, "connect with a forged token")
}

func (a *auditor) checkCentrifugoAnonymous(ctx context.Context) verdict {
	return a.inBandConnect(ctx, a.anonymous(), `{"id":1,"connect":{}}`, centrifugoConnect, "connect command without a token")
}

func (a *auditor) checkCentrifugoForged(ctx context.Context) verdict {
	cmd, _ := json.Marshal(map[string]any{"id": 1, "connect": map[string]string{"token": a.forgedOrNone()}})
	return a.inBandConnect(ctx, a.anonymous(), string(cmd), centrifugoConnect, "connect command with a forged token")
}
