package audit

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/rampart-rt/rampart/internal/wstest"
)

// maxRefusalBody bounds the body of an HTTP answer the audit reads.
const maxRefusalBody = 64 << 10

// httpAnswer is a plain HTTP answer, its body cut at maxRefusalBody.
type httpAnswer struct {
	status int
	header http.Header
	body   []byte
}

// httpGet sends a plain GET for path (no upgrade, no redirect followed)
// on a connection of the audit's own.
func (a *auditor) httpGet(ctx context.Context, path string) (*httpAnswer, error) {
	nc, err := a.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	if _, err := fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nConnection: close\r\n\r\n", path, a.hostHdr, a.userAgent); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), &http.Request{Method: http.MethodGet})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxRefusalBody))
	return &httpAnswer{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// leakPatterns find internals in text a server sends: stack traces and
// source paths of the usual runtimes, and the names of libraries.
var leakPatterns = []struct {
	what string
	re   *regexp.Regexp
}{
	{"a Go stack trace", regexp.MustCompile(`goroutine \d+ \[|\.go:\d+|panic: `)},
	{"a JavaScript stack trace", regexp.MustCompile(`\bat .{1,200}\.[cm]?js:\d+:\d+|node_modules/|node:internal`)},
	{"a Python or Java stack trace", regexp.MustCompile(`Traceback \(most recent call last\)|\.py", line \d+|\bat [\w.$]+\([\w]+\.java:\d+\)|Exception in thread`)},
	{"a library or framework name", regexp.MustCompile(`(?i)\b(express|koa|fastify|socket\.io|engine\.io|gorilla|lxzan/gws|nhooyr|coder/websocket|tornado|werkzeug|jetty|tomcat|netty|undertow|uwebsockets|ratchet|actioncable|django|flask|rails|phoenix|cowboy)\b`)},
}

// findLeaks returns what internals text shows, from where.
func findLeaks(where, text string) []string {
	var out []string
	for _, p := range leakPatterns {
		if m := p.re.FindString(text); m != "" {
			out = append(out, fmt.Sprintf("%s shows %s (%q)", where, p.what, oneLine(m, 40)))
		}
	}
	return out
}

var versionRE = regexp.MustCompile(`\d+\.\d+`)

// headerLeaks returns what the answer's headers tell about the software.
func headerLeaks(where string, h http.Header) []string {
	var out []string
	if s := h.Get("Server"); versionRE.MatchString(s) {
		out = append(out, fmt.Sprintf("%s: Server: %s (a version)", where, oneLine(s, 40)))
	}
	for _, name := range []string{"X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version", "X-Runtime"} {
		if v := h.Get(name); v != "" {
			out = append(out, fmt.Sprintf("%s: %s: %s", where, name, oneLine(v, 40)))
		}
	}
	return out
}

func randomPath() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "/rampart-audit-" + hex.EncodeToString(b[:])
}

func (a *auditor) checkLeaks(ctx context.Context) verdict {
	var found []string
	probes := 0
	h := a.request()
	h.Set("Sec-WebSocket-Version", "12")
	if ans, err := a.handshake(ctx, h, a.path); err == nil {
		probes++
		if ans.conn != nil {
			ans.conn.close()
		}
		found = append(found, headerLeaks("the refused upgrade", ans.header)...)
		found = append(found, findLeaks("the refused upgrade's body", string(ans.body))...)
	}
	if ans, err := a.httpGet(ctx, randomPath()); err == nil {
		probes++
		found = append(found, headerLeaks("GET of a missing path", ans.header)...)
		found = append(found, findLeaks("GET of a missing path's body", string(ans.body))...)
	}
	if reason, ok := a.closeReason(ctx); ok {
		probes++
		found = append(found, findLeaks("the close reason", reason)...)
	}
	if probes == 0 {
		return skipf("no answer to read")
	}
	if len(found) > 0 {
		if len(found) > 4 {
			found = append(found[:4], fmt.Sprintf("%d more", len(found)-4))
		}
		return failf("%s", strings.Join(found, "; "))
	}
	return passf("%d answers read (a refused upgrade, a missing path, a close reason): no stack trace, library name, version or X-Powered-By", probes)
}

// closeReason provokes a close with invalid UTF-8 and returns its reason.
func (a *auditor) closeReason(ctx context.Context) (string, bool) {
	c, v := a.session(ctx)
	if v != nil {
		return "", false
	}
	defer c.close()
	_ = c.write(wstest.OpText, []byte("\xff\xfe"))
	c.wait(a.timeout)
	s := c.watch(true, nil)
	return s.reason, s.closed
}

func (a *auditor) checkSecurityHeaders(ctx context.Context) verdict {
	ans, err := a.httpGet(ctx, a.path)
	if err != nil {
		return skipf("no answer to a plain GET: %v", err)
	}
	var missing []string
	if !strings.EqualFold(strings.TrimSpace(ans.header.Get("X-Content-Type-Options")), "nosniff") {
		missing = append(missing, "X-Content-Type-Options: nosniff")
	}
	if ans.header.Get("Content-Security-Policy") == "" {
		missing = append(missing, "Content-Security-Policy")
	}
	if len(missing) > 0 {
		return failf("GET %s (%d) lacks %s", a.display, ans.status, strings.Join(missing, " and "))
	}
	return passf("GET %s (%d) carries X-Content-Type-Options: nosniff and a Content-Security-Policy", a.display, ans.status)
}
