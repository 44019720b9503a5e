package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rampart-rt/rampart/internal/wstest"
)

// The generic handshake checks: each sends the baseline upgrade with one
// thing changed. A refusal is any answer but 101; 429 and 503 say nothing.

const evilOrigin = "https://evil.example"

func (a *auditor) checkBaseline(ctx context.Context) verdict {
	ans, err := a.handshake(ctx, a.request(), a.path)
	if err != nil {
		return failf("the baseline upgrade failed: %v", err)
	}
	note := ""
	if ans.conn == nil && a.subprotocol == "" && asksForRampart(ans) {
		// The server said which subprotocol it wants, in Rampart's own
		// refusal: offer it from now on (the baseline runs alone, first),
		// so that the generic checks judge the server, not the request.
		a.subprotocol = rampartSubprotocol
		note = "; the server refused an upgrade without a subprotocol (subprotocol_required), so every upgrade offers " + rampartSubprotocol
		if ans, err = a.handshake(ctx, a.request(), a.path); err != nil {
			return failf("the baseline upgrade failed: %v%s", err, note)
		}
	}
	if ans.conn == nil {
		return failf("the baseline upgrade answered %d, want 101%s", ans.status, baselineHint(ans))
	}
	defer ans.conn.close()
	if p := ans.header.Get("Sec-WebSocket-Protocol"); a.subprotocol != "" && p != a.subprotocol {
		return failf("upgraded, but selected subprotocol %q, want %q", p, a.subprotocol)
	}
	if a.profile == "rampart" {
		if v := rampartWelcome(ans.conn, a.timeout); v.result != pass {
			return v
		}
	}
	a.baseline.Store(true)
	return passf("upgraded (101)%s%s", credentialNote(a), note)
}

// asksForRampart reports whether a refused upgrade is Rampart's answer to
// a missing subprotocol: 400 with {"error":"subprotocol_required"}.
func asksForRampart(ans *answer) bool {
	if ans.status != http.StatusBadRequest {
		return false
	}
	var body struct {
		Error string `json:"error"`
	}
	return json.Unmarshal(ans.body, &body) == nil && body.Error == "subprotocol_required"
}

func baselineHint(ans *answer) string {
	switch {
	case ans.status == http.StatusUnauthorized:
		return " (give --token or --cookie)"
	case ans.status == http.StatusForbidden:
		return " (give an allowed --origin)"
	case ans.status == http.StatusBadRequest && bytes.Contains(bytes.ToLower(ans.body), []byte("subprotocol")):
		return " (the server wants a subprotocol: give --subprotocol, or for Rampart --profile rampart)"
	case ans.status == http.StatusBadRequest:
		return " (does the server need --subprotocol?)"
	}
	return ""
}

func credentialNote(a *auditor) string {
	var parts []string
	if a.token != "" {
		parts = append(parts, "token")
	}
	if a.cookie != "" {
		parts = append(parts, "cookie")
	}
	if a.origin != "" {
		parts = append(parts, "origin "+a.origin)
	}
	if a.subprotocol != "" {
		parts = append(parts, "subprotocol "+a.subprotocol)
	}
	if len(parts) == 0 {
		return " with no credentials, origin or subprotocol"
	}
	return " with " + strings.Join(parts, ", ")
}

// originCheck sends the baseline upgrade with Origin set to origin (or
// without credentials when anonymous).
func (a *auditor) originCheck(ctx context.Context, origin string, anonymous bool) verdict {
	h := a.request()
	if anonymous {
		h = a.anonymous()
	}
	h.Set("Origin", origin)
	ans, err := a.handshake(ctx, h, a.path)
	return a.upgraded(ans, err, "Origin "+origin)
}

func (a *auditor) checkOriginForeign(ctx context.Context) verdict {
	return a.credentialed(a.originCheck(ctx, evilOrigin, false))
}

func (a *auditor) checkOriginNull(ctx context.Context) verdict {
	return a.credentialed(a.originCheck(ctx, "null", false))
}

// credentialed lowers a hijacking finding when the audit had no credentials
// to send: a foreign page then gets what anyone gets.
func (a *auditor) credentialed(v verdict) verdict {
	if v.result == fail && !a.hasCredentials() {
		v.detail += " (no credentials were given: a foreign page gets what anyone gets)"
		return v.at(SevMedium)
	}
	if v.result == fail && a.cookie == "" {
		v.detail += " with the user's token; with a cookie session a foreign page rides the user's identity"
	}
	return v
}

func (a *auditor) checkOriginLookalike(ctx context.Context) verdict {
	if a.origin == "" {
		return skipf("needs --origin, an origin the server allows")
	}
	var last verdict
	for _, forged := range lookalikes(a.origin) {
		v := a.credentialed(a.originCheck(ctx, forged, false))
		if v.result != pass {
			return v
		}
		last = v
	}
	last.detail = "look-alike origins refused: " + strings.Join(lookalikes(a.origin), ", ")
	return last
}

// lookalikes are origins a careless comparison takes for allowed: the
// allowed host as a prefix, and "evil" glued to its parent domain (or to
// the host itself when it has one label).
func lookalikes(allowed string) []string {
	u, _ := url.Parse(allowed)
	port := ""
	if p := u.Port(); p != "" {
		port = ":" + p
	}
	host := u.Hostname()
	parent := host
	if i := strings.IndexByte(host, '.'); i > 0 && strings.Count(host, ".") > 1 {
		parent = host[i+1:]
	}
	if strings.Contains(host, ":") { // IPv6
		return []string{u.Scheme + "://evil.example" + port}
	}
	return []string{
		u.Scheme + "://" + host + ".evil.example" + port,
		u.Scheme + "://evil" + parent + port,
	}
}

func (a *auditor) checkOriginForeignAnonymous(ctx context.Context) verdict {
	v := a.originCheck(ctx, evilOrigin, true)
	if v.result == fail && !a.hasCredentials() {
		return infof("%s: no credentials were given, so the endpoint may be public on purpose", v.detail)
	}
	return v
}

func (a *auditor) checkOriginMissing(ctx context.Context) verdict {
	h := a.request()
	h.Del("Origin")
	ans, err := a.handshake(ctx, h, a.path)
	return a.upgraded(ans, err, "no Origin")
}

// checkAuthNone upgrades without credentials. A refusal passes; an upgrade
// is judged by what the server does next: closing it (in-band
// authentication refused) passes, sending data or answering fails.
func (a *auditor) checkAuthNone(ctx context.Context) verdict {
	ans, err := a.handshake(ctx, a.anonymous(), a.path)
	if err != nil {
		return skipf("no answer to judge: %v", err)
	}
	if ans.conn == nil {
		if v, limited := limitedBy(ans.status); limited {
			return v
		}
		return passf("no credentials: refused with %d", ans.status)
	}
	c := ans.conn
	defer c.close()
	window := min(a.timeout, 2*time.Second)
	c.wait(window)
	pushed := c.watch(true, func(s seen) bool { return s.messages > 0 })
	if pushed.gone() {
		return passf("no credentials: upgraded, then closed at once (%s)", endText(pushed))
	}
	_ = c.write(wstest.OpText, []byte(`{"rampart_audit":"hello"}`))
	c.wait(window)
	answered := c.watch(true, func(s seen) bool { return s.messages > 0 })
	return a.judgeAnonymous(pushed, answered)
}

func (a *auditor) judgeAnonymous(pushed, answered seen) verdict {
	public := " (no credentials were given: is the endpoint public on purpose?)"
	switch {
	case pushed.messages > 0:
		v := failf("no credentials: upgraded, and the server sent data before any authentication: %q", oneLine(string(pushed.first), 64))
		return a.anonymousSeverity(v, public)
	case answered.messages > 0:
		v := failf("no credentials: upgraded, and the server answered a message: %q", oneLine(string(answered.first), 64))
		return a.anonymousSeverity(v, public)
	case answered.gone():
		return passf("no credentials: upgraded, then closed on the first message (%s)", endText(answered))
	}
	v := failf("no credentials: upgraded, and the connection stayed open after a message, silent").at(SevMedium)
	return a.anonymousSeverity(v, public)
}

func (a *auditor) anonymousSeverity(v verdict, public string) verdict {
	if !a.hasCredentials() {
		return infof("%s%s", v.detail, public)
	}
	return v
}

// endText says how a connection ended.
func endText(s seen) string {
	if s.closed {
		if s.reason != "" {
			return fmt.Sprintf("close %d %q", s.code, oneLine(s.reason, 60))
		}
		return fmt.Sprintf("close %d", s.code)
	}
	return "TCP close"
}

func (a *auditor) checkQueryToken(ctx context.Context) verdict {
	if a.token == "" {
		return skipf("needs --token")
	}
	if v := a.checkAnonymousRefused(ctx); v != nil {
		return *v
	}
	sep := "?"
	if strings.Contains(a.path, "?") {
		sep = "&"
	}
	q := url.QueryEscape(a.token)
	ans, err := a.handshake(ctx, a.anonymous(), a.path+sep+"token="+q+"&access_token="+q)
	v := a.upgraded(ans, err, "token in the query string")
	if v.result == fail {
		v.detail += ", and the upgrade without it was refused"
	}
	return v
}

// checkAnonymousRefused returns a verdict when an upgrade without
// credentials is not refused: then an upgrade with the token in the query
// says nothing.
func (a *auditor) checkAnonymousRefused(ctx context.Context) *verdict {
	ans, err := a.handshake(ctx, a.anonymous(), a.path)
	if err != nil {
		v := skipf("no answer to judge: %v", err)
		return &v
	}
	if ans.conn != nil {
		ans.conn.close()
		v := skipf("the endpoint upgrades without credentials (see auth-none): nothing to compare with")
		return &v
	}
	return nil
}
