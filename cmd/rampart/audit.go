package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-rt/rampart/internal/wstest"
)

// audit probes a running endpoint from the outside, the way an attacker
// would, and reports one verdict per check. It connects only to the host of
// the URL it is given, one connection per check, each bounded by --timeout.
func audit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tok := fs.String("token", "", "a valid token for the endpoint (default $RAMPART_AUDIT_TOKEN)")
	origin := fs.String("origin", "", "an origin the server allows, e.g. https://app.example.com")
	timeout := fs.Duration("timeout", 5*time.Second, "time allowed to each check")
	asJSON := fs.Bool("json", false, "print a JSON array of {check, result, detail}")
	caFile := fs.String("ca", "", "PEM file of CA certificates to trust for wss:// (default: the system roots)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: rampart audit ws[s]://HOST[:PORT]/PATH --token T [--origin O] [--timeout 5s] [--json] [--ca FILE]")
		fs.PrintDefaults()
	}
	// Flags may come before or after the URL.
	var positional []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(positional) != 1 {
		fs.Usage()
		return 2
	}
	if *tok == "" {
		*tok = os.Getenv("RAMPART_AUDIT_TOKEN")
	}
	a, err := newAuditor(positional[0], *tok, *origin, *timeout, *caFile)
	if err != nil {
		fmt.Fprintln(stderr, "rampart audit:", err)
		return 2
	}
	results := a.run()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(results)
	} else {
		printAudit(stdout, a.display, results)
	}
	for _, r := range results {
		if r.Result == auditFail {
			return 1
		}
	}
	return 0
}

// Verdicts. Only FAIL makes the exit status 1.
const (
	auditPass = "PASS"
	auditFail = "FAIL"
	auditSkip = "SKIP"
	auditWarn = "WARN"
	auditInfo = "INFO"
)

// auditResult is one line of the report.
type auditResult struct {
	Check  string `json:"check"`
	Result string `json:"result"`
	Detail string `json:"detail"`
}

type auditVerdict struct{ result, detail string }

func auditPassf(format string, args ...any) auditVerdict {
	return auditVerdict{auditPass, fmt.Sprintf(format, args...)}
}
func auditFailf(format string, args ...any) auditVerdict {
	return auditVerdict{auditFail, fmt.Sprintf(format, args...)}
}
func auditSkipf(format string, args ...any) auditVerdict {
	return auditVerdict{auditSkip, fmt.Sprintf(format, args...)}
}
func auditWarnf(format string, args ...any) auditVerdict {
	return auditVerdict{auditWarn, fmt.Sprintf(format, args...)}
}
func auditInfof(format string, args ...any) auditVerdict {
	return auditVerdict{auditInfo, fmt.Sprintf(format, args...)}
}

// auditChecks is the list of checks, run in this order, each on a
// connection of its own.
var auditChecks = []struct {
	name string
	run  func(*auditor) auditVerdict
}{
	{"baseline", (*auditor).checkBaseline},
	{"no-token", (*auditor).checkNoToken},
	{"alg-none", (*auditor).checkAlgNone},
	{"bad-signature", (*auditor).checkBadSignature},
	{"origin-evil", (*auditor).checkOriginEvil},
	{"origin-null", (*auditor).checkOriginNull},
	{"origin-suffix", (*auditor).checkOriginSuffix},
	{"origin-missing", (*auditor).checkOriginMissing},
	{"no-subprotocol", (*auditor).checkNoSubprotocol},
	{"query-token", (*auditor).checkQueryToken},
	{"bearer-echo", (*auditor).checkBearerEcho},
	{"binary-frame", (*auditor).checkBinaryFrame},
	{"invalid-utf8", (*auditor).checkInvalidUTF8},
	{"too-big", (*auditor).checkTooBig},
	{"unknown-field", (*auditor).checkUnknownField},
	{"compression", (*auditor).checkCompression},
	{"refusal-headers", (*auditor).checkRefusalHeaders},
	{"tls-version", (*auditor).checkTLSVersion},
	{"hsts", (*auditor).checkHSTS},
	{"plaintext", (*auditor).checkPlaintext},
}

const (
	auditSubprotocol       = "rampart.v1"
	auditBearerPrefix      = "rampart.bearer."
	auditDefaultMaxMessage = 16384
	auditMaxServerMessage  = 1 << 20 // largest server frame the audit reads
	auditMaxRefusalBody    = 64 << 10
	auditCloseGrace        = time.Second // wait for a close after the server proved it is still reading
	auditPingPayload       = "rampart-audit"
	auditCloseUnsupported  = 1003
	auditCloseInvalidUTF8  = 1007
	auditCloseTooBig       = 1009
)

// auditor holds the target and the operator's credentials.
type auditor struct {
	secure   bool   // wss
	hostPort string // host:port dialed; the only address the audit connects to
	hostHdr  string // Host header, as given in the URL
	hostname string // for TLS verification and the loopback test
	path     string // request target: path and query
	display  string // the URL without query, for the report
	token    string
	origin   string
	timeout  time.Duration
	roots    *x509.CertPool // nil: system roots
}

func newAuditor(raw, token, origin string, timeout time.Duration, caFile string) (*auditor, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("bad URL: %v", err)
	}
	a := &auditor{token: token, origin: origin, timeout: timeout}
	port := ""
	switch u.Scheme {
	case "ws":
		port = "80"
	case "wss":
		a.secure, port = true, "443"
	default:
		return nil, fmt.Errorf("the URL must start with ws:// or wss://, not %q", u.Scheme+"://")
	}
	if u.Hostname() == "" || u.User != nil || u.Fragment != "" {
		return nil, errors.New("the URL needs a host, and no user info or fragment")
	}
	if p := u.Port(); p != "" {
		port = p
	}
	a.hostname = u.Hostname()
	a.hostPort = net.JoinHostPort(a.hostname, port)
	a.hostHdr = u.Host
	a.path = u.EscapedPath()
	if a.path == "" {
		a.path = "/"
	}
	a.display = u.Scheme + "://" + u.Host + a.path
	if u.RawQuery != "" {
		a.path += "?" + u.RawQuery
	}
	if token == "" {
		return nil, errors.New("--token is required (or RAMPART_AUDIT_TOKEN)")
	}
	if strings.ContainsAny(token, " \t\r\n,") {
		return nil, errors.New("--token holds whitespace or a comma; it is not a JWT")
	}
	if origin != "" {
		o, err := url.Parse(origin)
		if err != nil || (o.Scheme != "http" && o.Scheme != "https") || o.Host == "" || (o.Path != "" && o.Path != "/") || o.RawQuery != "" {
			return nil, fmt.Errorf("--origin must look like https://app.example.com, not %q", origin)
		}
		a.origin = o.Scheme + "://" + o.Host
	}
	if timeout <= 0 || timeout > time.Minute {
		return nil, errors.New("--timeout must be between 0 and 1m")
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		a.roots = x509.NewCertPool()
		if !a.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate found", caFile)
		}
	}
	return a, nil
}

func (a *auditor) run() []auditResult {
	out := make([]auditResult, 0, len(auditChecks))
	for _, c := range auditChecks {
		v := c.run(a)
		out = append(out, auditResult{Check: c.name, Result: v.result, Detail: v.detail})
	}
	return out
}

func printAudit(w io.Writer, target string, results []auditResult) {
	fmt.Fprintf(w, "rampart audit %s\n", target)
	counts := map[string]int{}
	for _, r := range results {
		counts[r.Result]++
		fmt.Fprintf(w, "%-4s  %-15s  %s\n", r.Result, r.Check, r.Detail)
	}
	var parts []string
	for _, k := range []string{auditPass, auditFail, auditWarn, auditInfo, auditSkip} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], strings.ToLower(k)))
		}
	}
	fmt.Fprintf(w, "%d checks: %s\n", len(results), strings.Join(parts, ", "))
}

// --- the handshake ---

// request returns the baseline upgrade request: the token as a bearer
// header, the configured origin, rampart.v1 offered. Checks change one
// thing in it.
func (a *auditor) request() http.Header {
	h := http.Header{}
	h.Set("Upgrade", "websocket")
	h.Set("Connection", "Upgrade")
	h.Set("Sec-WebSocket-Key", wstest.NewKey())
	h.Set("Sec-WebSocket-Version", "13")
	h.Set("Sec-WebSocket-Protocol", auditSubprotocol)
	h.Set("Authorization", "Bearer "+a.token)
	if a.origin != "" {
		h.Set("Origin", a.origin)
	}
	h.Set("User-Agent", "rampart-audit/"+version)
	return h
}

// auditAnswer is the server's reply to an upgrade request: a refusal (conn nil)
// or an upgraded connection.
type auditAnswer struct {
	status int
	header http.Header
	conn   *auditConn
}

func (a *auditor) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: a.hostname, RootCAs: a.roots, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
}

func (a *auditor) dial() (net.Conn, error) {
	d := net.Dialer{Timeout: a.timeout}
	nc, err := d.Dial("tcp", a.hostPort)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(a.timeout))
	if !a.secure {
		return nc, nil
	}
	tc := tls.Client(nc, a.tlsConfig())
	if err := tc.Handshake(); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("TLS: %w", err)
	}
	return tc, nil
}

// handshake sends an upgrade request with header h to path and reads the
// answer. An error means no HTTP answer was read (or a 101 without the
// right Sec-WebSocket-Accept).
func (a *auditor) handshake(h http.Header, path string) (*auditAnswer, error) {
	nc, err := a.dial()
	if err != nil {
		return nil, err
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, a.hostHdr)
	_ = h.Write(&req)
	req.WriteString("\r\n")
	if _, err := nc.Write(req.Bytes()); err != nil {
		_ = nc.Close()
		return nil, err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("no HTTP answer: %w", err)
	}
	ans := &auditAnswer{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, auditMaxRefusalBody))
		_ = resp.Body.Close()
		_ = nc.Close()
		return ans, nil
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != wstest.AcceptKey(h.Get("Sec-WebSocket-Key")) {
		_ = nc.Close()
		return nil, errors.New("101 with a wrong Sec-WebSocket-Accept")
	}
	ans.conn = &auditConn{nc: nc, br: br}
	return ans, nil
}

// refused judges a handshake that must be refused with status want.
func (a *auditor) refused(ans *auditAnswer, err error, want int, what string) auditVerdict {
	if err != nil {
		return auditSkipf("no answer to judge: %v", err)
	}
	if ans.conn != nil {
		ans.conn.close()
		return auditFailf("%s: upgraded (101), want %d", what, want)
	}
	if v, limited := auditLimited(ans.status); limited {
		return v
	}
	if ans.status != want {
		return auditFailf("%s: answered %d, want %d", what, ans.status, want)
	}
	return auditPassf("%s: refused with %d", what, want)
}

// auditLimited turns a 429 or 503 into SKIP: the server refused for load,
// which says nothing about the check.
func auditLimited(status int) (auditVerdict, bool) {
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		return auditSkipf("the server is limiting (%d); run the audit again later", status), true
	}
	return auditVerdict{}, false
}

// --- the checks ---

func (a *auditor) checkBaseline() auditVerdict {
	ans, err := a.handshake(a.request(), a.path)
	if err != nil {
		return auditFailf("handshake with the token failed: %v", err)
	}
	if ans.conn == nil {
		if _, limited := auditLimited(ans.status); limited {
			return auditFailf("handshake with the token and origin answered %d: the server is limiting; run the audit again later", ans.status)
		}
		return auditFailf("handshake with the token and origin answered %d, want 101", ans.status)
	}
	defer ans.conn.close()
	if got := ans.header.Get("Sec-WebSocket-Protocol"); got != auditSubprotocol {
		return auditFailf("upgraded, but selected subprotocol %q, want %q", got, auditSubprotocol)
	}
	w, err := ans.conn.welcome(a.timeout)
	if err != nil {
		return auditFailf("upgraded with rampart.v1, but no welcome push first: %v", err)
	}
	return auditPassf("upgraded, selected rampart.v1, welcome push first (max_message_bytes %d)", w.Limits.MaxMessageBytes)
}

func (a *auditor) checkNoToken() auditVerdict {
	h := a.request()
	h.Del("Authorization")
	ans, err := a.handshake(h, a.path)
	v := a.refused(ans, err, http.StatusUnauthorized, "no token")
	if v.result == auditPass && !strings.HasPrefix(ans.header.Get("WWW-Authenticate"), "Bearer") {
		return auditFailf("no token: 401 without WWW-Authenticate: Bearer")
	}
	if v.result == auditPass {
		v.detail += " and WWW-Authenticate: Bearer"
	}
	return v
}

// jwtParts splits the audit token into its three segments.
func (a *auditor) jwtParts() ([]string, bool) {
	p := strings.Split(a.token, ".")
	return p, len(p) == 3 && p[1] != ""
}

func (a *auditor) checkAlgNone() auditVerdict {
	p, ok := a.jwtParts()
	if !ok {
		return auditSkipf("the token is not a JWT (three segments)")
	}
	// The same claims, unsigned: the payload segment is reused as is.
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	h := a.request()
	h.Set("Authorization", "Bearer "+header+"."+p[1]+".")
	ans, err := a.handshake(h, a.path)
	return a.refused(ans, err, http.StatusUnauthorized, "alg none token")
}

func (a *auditor) checkBadSignature() auditVerdict {
	p, ok := a.jwtParts()
	if !ok {
		return auditSkipf("the token is not a JWT (three segments)")
	}
	sig, err := base64.RawURLEncoding.DecodeString(p[2])
	if err != nil || len(sig) == 0 {
		return auditSkipf("the token's signature is not base64url")
	}
	sig[len(sig)/2] ^= 0x01
	h := a.request()
	h.Set("Authorization", "Bearer "+p[0]+"."+p[1]+"."+base64.RawURLEncoding.EncodeToString(sig))
	ans, err := a.handshake(h, a.path)
	return a.refused(ans, err, http.StatusUnauthorized, "token with a flipped signature bit")
}

func (a *auditor) originCheck(origin, what string) auditVerdict {
	h := a.request()
	h.Set("Origin", origin)
	ans, err := a.handshake(h, a.path)
	return a.refused(ans, err, http.StatusForbidden, what)
}

func (a *auditor) checkOriginEvil() auditVerdict {
	return a.originCheck("https://evil.example", "Origin https://evil.example")
}

func (a *auditor) checkOriginNull() auditVerdict {
	return a.originCheck("null", "Origin null")
}

func (a *auditor) checkOriginSuffix() auditVerdict {
	if a.origin == "" {
		return auditSkipf("needs --origin")
	}
	o, _ := url.Parse(a.origin)
	forged := o.Scheme + "://" + o.Hostname() + ".evil.example"
	if p := o.Port(); p != "" {
		forged += ":" + p
	}
	return a.originCheck(forged, "Origin "+forged)
}

func (a *auditor) checkOriginMissing() auditVerdict {
	h := a.request()
	h.Del("Origin")
	ans, err := a.handshake(h, a.path)
	if err == nil && ans.conn != nil {
		ans.conn.close()
		return auditInfof("accepted without Origin: expected only with origins.allow_missing: true (non-browser clients; browsers always send Origin)")
	}
	return a.refused(ans, err, http.StatusForbidden, "no Origin")
}

func (a *auditor) checkNoSubprotocol() auditVerdict {
	h := a.request()
	h.Del("Sec-WebSocket-Protocol")
	ans, err := a.handshake(h, a.path)
	return a.refused(ans, err, http.StatusBadRequest, "rampart.v1 not offered")
}

func (a *auditor) checkQueryToken() auditVerdict {
	h := a.request()
	h.Del("Authorization")
	sep := "?"
	if strings.Contains(a.path, "?") {
		sep = "&"
	}
	ans, err := a.handshake(h, a.path+sep+"token="+url.QueryEscape(a.token))
	if err != nil {
		return auditSkipf("no answer to judge: %v", err)
	}
	if ans.conn != nil {
		ans.conn.close()
		return auditWarnf("a token in the query string is accepted: URLs end up in proxy logs and browser history (drop query from auth.sources)")
	}
	if v, limited := auditLimited(ans.status); limited {
		return v
	}
	if ans.status != http.StatusUnauthorized {
		return auditPassf("token in the query string: refused with %d (401 expected)", ans.status)
	}
	return auditPassf("token in the query string: refused with 401")
}

func (a *auditor) checkBearerEcho() auditVerdict {
	h := a.request()
	h.Del("Authorization")
	h.Set("Sec-WebSocket-Protocol", auditSubprotocol+", "+auditBearerPrefix+a.token)
	ans, err := a.handshake(h, a.path)
	if err != nil {
		return auditSkipf("no answer to judge: %v", err)
	}
	for _, vs := range ans.header {
		for _, v := range vs {
			if strings.Contains(v, a.token) {
				if ans.conn != nil {
					ans.conn.close()
				}
				return auditFailf("the answer (%d) echoes the token in a header", ans.status)
			}
		}
	}
	if ans.conn == nil {
		if v, limited := auditLimited(ans.status); limited {
			return v
		}
		if ans.status == http.StatusUnauthorized {
			return auditSkipf("the subprotocol token carrier is off (401)")
		}
		return auditFailf("rampart.v1 with the bearer carrier answered %d, want 101", ans.status)
	}
	ans.conn.close()
	if got := ans.header.Get("Sec-WebSocket-Protocol"); got != auditSubprotocol {
		return auditFailf("selected subprotocol %q, want exactly %q", got, auditSubprotocol)
	}
	return auditPassf("the token carried as a subprotocol is accepted and not echoed: selected exactly rampart.v1")
}

// session opens a baseline connection for a frame check and reads the
// welcome. A SKIP verdict says the check cannot run.
func (a *auditor) session() (*auditConn, int, string, *auditVerdict) {
	ans, err := a.handshake(a.request(), a.path)
	if err != nil {
		v := auditSkipf("cannot connect: %v", err)
		return nil, 0, "", &v
	}
	if ans.conn == nil {
		v := auditSkipf("the baseline handshake answered %d (see baseline)", ans.status)
		return nil, 0, "", &v
	}
	c := ans.conn
	_ = c.nc.SetDeadline(time.Now().Add(a.timeout))
	if ans.header.Get("Sec-WebSocket-Protocol") != auditSubprotocol {
		// Not a Rampart endpoint: no welcome to wait for.
		return c, auditDefaultMaxMessage, " (no welcome; default limit)", nil
	}
	w, err := c.welcome(a.timeout)
	if err != nil {
		c.close()
		v := auditSkipf("no welcome push (see baseline): %v", err)
		return nil, 0, "", &v
	}
	limit := w.Limits.MaxMessageBytes
	if limit <= 0 {
		return c, auditDefaultMaxMessage, " (the welcome gave no limit; default used)", nil
	}
	return c, limit, "", nil
}

func (a *auditor) frameCheck(what string, want uint16, payload func(limit int) (byte, []byte)) auditVerdict {
	c, limit, note, v := a.session()
	if v != nil {
		return *v
	}
	defer c.close()
	op, p := payload(limit)
	return c.expectClose(op, p, want, what+note, a.timeout)
}

func (a *auditor) checkBinaryFrame() auditVerdict {
	return a.frameCheck("binary frame", auditCloseUnsupported, func(int) (byte, []byte) {
		return auditOpBinary, []byte(`{"id":1,"action":"ping"}`)
	})
}

func (a *auditor) checkInvalidUTF8() auditVerdict {
	return a.frameCheck("invalid UTF-8", auditCloseInvalidUTF8, func(int) (byte, []byte) {
		return auditOpText, []byte("{\"id\":1,\"action\":\"ping\",\"x\":\"\xff\xfe\"}")
	})
}

func (a *auditor) checkTooBig() auditVerdict {
	var size int
	v := a.frameCheck("message over max_message_bytes", auditCloseTooBig, func(limit int) (byte, []byte) {
		size = limit + 1
		p := []byte(`{"id":1,"action":"ping","pad":"`)
		p = append(p, bytes.Repeat([]byte("a"), max(size-len(p)-2, 1))...)
		return auditOpText, append(p, '"', '}')
	})
	if size > 0 {
		v.detail += fmt.Sprintf(" (%d bytes sent)", size)
	}
	return v
}

func (a *auditor) checkUnknownField() auditVerdict {
	c, _, note, v := a.session()
	if v != nil {
		return *v
	}
	defer c.close()
	if err := c.writeFrame(auditOpText, []byte(`{"id":1,"action":"ping","rampart_audit_unknown":true}`)); err != nil {
		return auditFailf("write: %v", err)
	}
	r, err := c.reply(1)
	if err != nil {
		return auditFailf("unknown field: no reply%s: %v", note, err)
	}
	if r.Error == nil || r.Error.Code != "bad_request" {
		return auditFailf("unknown field: the reply is not a bad_request error%s", note)
	}
	if err := c.writeFrame(auditOpText, []byte(`{"id":2,"action":"ping"}`)); err != nil {
		return auditFailf("unknown field answered bad_request, but the connection did not stay open: %v", err)
	}
	if _, err := c.reply(2); err != nil {
		return auditFailf("unknown field answered bad_request, but the connection did not stay open: %v", err)
	}
	return auditPassf("unknown field: bad_request, and the connection stays open")
}

func (a *auditor) checkCompression() auditVerdict {
	h := a.request()
	h.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
	ans, err := a.handshake(h, a.path)
	if err != nil {
		return auditSkipf("cannot connect: %v", err)
	}
	if ans.conn == nil {
		return auditSkipf("the handshake with a compression offer answered %d (see baseline)", ans.status)
	}
	ans.conn.close()
	if ext := ans.header.Get("Sec-WebSocket-Extensions"); ext != "" {
		return auditFailf("compression accepted (Sec-WebSocket-Extensions: %.60s): a decompression bomb can pass the size limit", ext)
	}
	return auditPassf("permessage-deflate offered, not accepted")
}

func (a *auditor) checkRefusalHeaders() auditVerdict {
	// Any server refuses version 12; what matters is what the refusal carries.
	h := a.request()
	h.Set("Sec-WebSocket-Version", "12")
	ans, err := a.handshake(h, a.path)
	if err != nil {
		return auditSkipf("no answer to judge: %v", err)
	}
	if ans.conn != nil {
		ans.conn.close()
		return auditFailf("Sec-WebSocket-Version: 12 upgraded (101), want a refusal")
	}
	var missing []string
	if !strings.EqualFold(strings.TrimSpace(ans.header.Get("X-Content-Type-Options")), "nosniff") {
		missing = append(missing, "X-Content-Type-Options: nosniff")
	}
	if ans.header.Get("Content-Security-Policy") == "" {
		missing = append(missing, "Content-Security-Policy")
	}
	if len(missing) > 0 {
		return auditFailf("the refusal (%d) lacks %s", ans.status, strings.Join(missing, " and "))
	}
	return auditPassf("the refusal (%d) carries X-Content-Type-Options: nosniff and a Content-Security-Policy", ans.status)
}

func (a *auditor) checkTLSVersion() auditVerdict {
	if !a.secure {
		return auditSkipf("ws:// has no TLS")
	}
	d := net.Dialer{Timeout: a.timeout}
	nc, err := d.Dial("tcp", a.hostPort)
	if err != nil {
		return auditSkipf("cannot connect: %v", err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(a.timeout))
	// Only the protocol version is probed: nothing is sent after the
	// handshake, so the certificate is not verified here.
	tc := tls.Client(nc, &tls.Config{
		ServerName: a.hostname, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11,
		InsecureSkipVerify: true, //nolint:gosec // version probe only, no data sent
	})
	if err := tc.Handshake(); err == nil {
		return auditFailf("a TLS 1.1 handshake succeeded; the minimum must be 1.2")
	}
	return auditPassf("a TLS 1.1-only client is refused")
}

func (a *auditor) checkHSTS() auditVerdict {
	if !a.secure {
		return auditSkipf("ws:// has no TLS")
	}
	base := "https://" + a.hostHdr + "/"
	client := &http.Client{
		Timeout: a.timeout,
		Transport: &http.Transport{
			Proxy:             nil, // only the target host, never a proxy
			DialContext:       a.onlyTarget,
			TLSClientConfig:   a.tlsConfig(),
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequest(http.MethodGet, base, nil)
	if err != nil {
		return auditSkipf("bad base URL: %v", err)
	}
	req.Header.Set("User-Agent", "rampart-audit/"+version)
	resp, err := client.Do(req)
	if err != nil {
		return auditFailf("GET %s: %v", base, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, auditMaxRefusalBody))
	_ = resp.Body.Close()
	hsts := resp.Header.Get("Strict-Transport-Security")
	if auditMaxAge(hsts) <= 0 {
		return auditFailf("GET %s (%d): no Strict-Transport-Security with a positive max-age", base, resp.StatusCode)
	}
	return auditPassf("GET %s (%d): Strict-Transport-Security: %.60s", base, resp.StatusCode, hsts)
}

// onlyTarget dials the audited host:port whatever address it is asked for.
func (a *auditor) onlyTarget(ctx context.Context, network, _ string) (net.Conn, error) {
	d := net.Dialer{Timeout: a.timeout}
	return d.DialContext(ctx, network, a.hostPort)
}

func auditMaxAge(hsts string) int64 {
	for part := range strings.SplitSeq(hsts, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.EqualFold(k, "max-age") {
			n, err := strconv.ParseInt(strings.Trim(v, `"`), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return 0
}

func (a *auditor) checkPlaintext() auditVerdict {
	if a.secure {
		return auditPassf("wss: TLS")
	}
	if auditLoopbackHost(a.hostname) {
		return auditPassf("ws:// on loopback (%s)", a.hostname)
	}
	return auditWarnf("ws:// to %s: tokens and messages cross the network in plaintext; use wss://", a.hostname)
}

func auditLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// --- frames ---

const (
	auditOpContinuation = 0x0
	auditOpText         = 0x1
	auditOpBinary       = 0x2
	auditOpClose        = 0x8
	auditOpPing         = 0x9
	auditOpPong         = 0xA
)

// auditConn is an upgraded connection that writes whatever frame a check
// asks for.
type auditConn struct {
	nc net.Conn
	br *bufio.Reader
}

func (c *auditConn) writeFrame(op byte, payload []byte) error {
	n := len(payload)
	b := make([]byte, 0, n+14)
	b = append(b, 0x80|op)
	switch {
	case n <= 125:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, payload...)
	for i := range b[start:] {
		b[start+i] ^= key[i&3]
	}
	_, err := c.nc.Write(b)
	return err
}

type auditFrame struct {
	op      byte
	fin     bool
	payload []byte
}

func (c *auditConn) readFrame() (auditFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return auditFrame{}, err
	}
	f := auditFrame{op: h[0] & 0x0F, fin: h[0]&0x80 != 0}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return auditFrame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return auditFrame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > auditMaxServerMessage {
		return auditFrame{}, fmt.Errorf("server frame of %d bytes", n)
	}
	var key [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err := io.ReadFull(c.br, key[:]); err != nil {
			return auditFrame{}, err
		}
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(c.br, f.payload); err != nil {
		return auditFrame{}, err
	}
	if masked {
		for i := range f.payload {
			f.payload[i] ^= key[i&3]
		}
	}
	return f, nil
}

// auditCloseError is a close frame from the server.
type auditCloseError struct{ code uint16 }

func (e *auditCloseError) Error() string { return fmt.Sprintf("closed by the server with %d", e.code) }

func auditCloseCode(p []byte) uint16 {
	if len(p) < 2 {
		return 1005
	}
	return binary.BigEndian.Uint16(p)
}

// message reads the next data message, answering pings; a close frame is
// an *auditCloseError.
func (c *auditConn) message() (byte, []byte, error) {
	var op byte
	var msg []byte
	for {
		f, err := c.readFrame()
		if err != nil {
			return 0, nil, err
		}
		switch f.op {
		case auditOpClose:
			return 0, nil, &auditCloseError{auditCloseCode(f.payload)}
		case auditOpPing:
			_ = c.writeFrame(auditOpPong, f.payload)
			continue
		case auditOpPong:
			continue
		case auditOpText, auditOpBinary:
			op, msg = f.op, f.payload
		case auditOpContinuation:
			if len(msg)+len(f.payload) > auditMaxServerMessage {
				return 0, nil, errors.New("server message too large")
			}
			msg = append(msg, f.payload...)
		default:
			return 0, nil, fmt.Errorf("server sent opcode %#x", f.op)
		}
		if f.fin {
			return op, msg, nil
		}
	}
}

type auditWelcome struct {
	Push   string `json:"push"`
	Limits struct {
		MaxMessageBytes int `json:"max_message_bytes"`
	} `json:"limits"`
}

func (c *auditConn) welcome(timeout time.Duration) (*auditWelcome, error) {
	_ = c.nc.SetDeadline(time.Now().Add(timeout))
	op, msg, err := c.message()
	if err != nil {
		return nil, err
	}
	var w auditWelcome
	if op != auditOpText || json.Unmarshal(msg, &w) != nil || w.Push != "welcome" {
		return nil, errors.New("the first frame is not a welcome push")
	}
	return &w, nil
}

type auditReply struct {
	ID    *uint64 `json:"id"`
	Error *struct {
		Code string `json:"code"`
	} `json:"error"`
}

// reply returns the next reply to command id, skipping pushes. A message
// that is not a reply to id (an echo, say) is returned as one without an
// error, so the caller judges it.
func (c *auditConn) reply(id uint64) (*auditReply, error) {
	for {
		op, msg, err := c.message()
		if err != nil {
			return nil, err
		}
		var r auditReply
		if op != auditOpText || json.Unmarshal(msg, &r) != nil {
			return &auditReply{}, nil
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
		return &auditReply{}, nil
	}
}

// expectClose writes the frame, then a ping, and waits for a close frame
// with code want. A pong (the server read past the frame) starts a short
// grace for the close to arrive.
func (c *auditConn) expectClose(op byte, payload []byte, want uint16, what string, timeout time.Duration) auditVerdict {
	deadline := time.Now().Add(timeout)
	_ = c.nc.SetDeadline(deadline)
	// A write may fail when the server closes while the frame is still in
	// flight; the close frame may still be readable.
	werr := c.writeFrame(op, payload)
	if werr == nil {
		_ = c.writeFrame(auditOpPing, []byte(auditPingPayload))
	}
	ponged := false
	for {
		f, err := c.readFrame()
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout() && ponged:
				return auditFailf("%s: the server answered a ping after it and kept the connection open, want close %d", what, want)
			case errors.As(err, &ne) && ne.Timeout():
				return auditFailf("%s: no close frame within %s, want close %d", what, timeout, want)
			case werr != nil:
				return auditFailf("%s: the write failed (%v) and no close frame came, want close %d", what, werr, want)
			default:
				return auditFailf("%s: the connection ended without a close frame (%v), want close %d", what, err, want)
			}
		}
		switch f.op {
		case auditOpClose:
			if got := auditCloseCode(f.payload); got != want {
				return auditFailf("%s: closed with %d, want %d", what, got, want)
			}
			return auditPassf("%s: closed with %d", what, want)
		case auditOpPing:
			_ = c.writeFrame(auditOpPong, f.payload)
		case auditOpPong:
			// Any pong: some servers answer with an empty payload.
			if !ponged {
				ponged = true
				if g := time.Now().Add(auditCloseGrace); g.Before(deadline) {
					_ = c.nc.SetReadDeadline(g)
				}
			}
		}
	}
}

// close ends the connection politely: a close frame, then a short wait for
// the server's, so its per-IP counts are given back before the next check.
func (c *auditConn) close() {
	_ = c.nc.SetDeadline(time.Now().Add(auditCloseGrace))
	if c.writeFrame(auditOpClose, binary.BigEndian.AppendUint16(nil, 1000)) == nil {
		for {
			f, err := c.readFrame()
			if err != nil || f.op == auditOpClose {
				break
			}
		}
	}
	_ = c.nc.Close()
}
