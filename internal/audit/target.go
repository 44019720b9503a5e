package audit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rampart-rt/rampart/internal/wstest"
)

const (
	maxServerMessage = 1 << 20  // largest server message the audit reads
	maxHandshakeRead = 64 << 10 // most bytes of an HTTP answer's head and body the audit reads
	closeGrace       = time.Second
	pingPayload      = "rampart-audit"
)

// auditor holds the target, the operator's credentials and the budgets.
type auditor struct {
	secure        bool   // wss
	hostPort      string // host:port dialed; the only address the audit connects to
	hostHdr       string // Host header, as given in the URL
	hostname      string // for TLS verification and the loopback test
	path          string // request target: path and query
	display       string // the URL without query, for the report
	token         string
	expiringToken string
	cookie        string
	origin        string
	subprotocol   string
	profile       string
	timeout       time.Duration
	roots         *x509.CertPool // nil: system roots
	userAgent     string
	format        string
	failOn        Severity
	version       string

	duration   time.Duration
	deadline   time.Time // of the whole audit
	idleWait   time.Duration
	headerWait time.Duration
	maxConns   int
	sizeCap    int

	open       atomic.Int64 // connections open now
	dials      atomic.Int64 // connections opened in all
	baseline   atomic.Bool  // the baseline upgrade succeeded
	foundLimit atomic.Int64 // message limit the size probe found, bytes; 0 unknown
}

func newAuditor(o Options) (*auditor, error) {
	a := &auditor{token: o.Token, cookie: o.Cookie, timeout: o.Timeout, userAgent: o.UserAgent,
		subprotocol: o.Subprotocol, expiringToken: o.Expiring, profile: o.Profile, version: o.Version, format: o.Format}
	a.userAgent = orString(a.userAgent, "rampart-audit")
	a.version = orString(a.version, "dev")
	a.format = orString(a.format, "text")
	if err := a.parseURL(o.URL); err != nil {
		return nil, err
	}
	if err := a.setBudgets(o); err != nil {
		return nil, err
	}
	if err := a.setCredentials(o); err != nil {
		return nil, err
	}
	if _, ok := profiles[a.profile]; !ok && a.profile != "" {
		return nil, fmt.Errorf("--profile must be rampart, socketio or centrifugo, not %q", a.profile)
	}
	if a.profile == "rampart" && a.subprotocol == "" {
		a.subprotocol = rampartSubprotocol
	}
	if a.format != "text" && a.format != "json" && a.format != "sarif" {
		return nil, fmt.Errorf("unknown report format %q", a.format)
	}
	sev, err := ParseSeverity(orString(o.FailOn, "low"))
	if err != nil {
		return nil, err
	}
	a.failOn = sev
	if o.CAFile != "" {
		return a, a.loadRoots(o.CAFile)
	}
	return a, nil
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// setBudgets checks the time and connection budgets.
func (a *auditor) setBudgets(o Options) error {
	if o.Timeout <= 0 || o.Timeout > time.Minute {
		return errors.New("--timeout must be between 0 and 1m")
	}
	a.duration, a.idleWait, a.headerWait, a.maxConns, a.sizeCap = o.Duration, o.IdleWait, o.HeaderWait, o.MaxConns, o.SizeCap
	if a.duration == 0 {
		a.duration = 5 * time.Minute
	}
	if a.idleWait == 0 {
		a.idleWait = time.Minute
	}
	if a.headerWait == 0 {
		a.headerWait = 20 * time.Second
	}
	if a.maxConns == 0 {
		a.maxConns = 50
	}
	if a.sizeCap == 0 {
		a.sizeCap = 1 << 20
	}
	switch {
	case a.duration < 0 || a.duration > time.Hour:
		return errors.New("--duration must be between 0 and 1h")
	case a.idleWait < 0 || a.idleWait > 10*time.Minute || a.headerWait < 0 || a.headerWait > 10*time.Minute:
		return errors.New("--idle-wait and --header-wait must be between 0 and 10m")
	case a.maxConns < 2 || a.maxConns > 10000:
		return errors.New("--max-connections must be between 2 and 10000")
	case a.sizeCap < 2048 || a.sizeCap > 64<<20:
		return errors.New("--size-cap must be between 2048 and 67108864 bytes")
	}
	a.deadline = time.Now().Add(a.duration)
	return nil
}

// setCredentials checks the token, the cookie, the origin and the
// subprotocol, each of which goes into a header as it is.
func (a *auditor) setCredentials(o Options) error {
	if strings.ContainsAny(o.Token+o.Expiring, " \t\r\n,") {
		return errors.New("--token holds whitespace or a comma; it is not a bearer token")
	}
	if strings.ContainsAny(o.Cookie, "\r\n") || (o.Cookie != "" && !strings.Contains(o.Cookie, "=")) {
		return errors.New("--cookie must look like name=value")
	}
	if strings.ContainsAny(o.Subprotocol, " \t\r\n,") {
		return errors.New("--subprotocol must be one token, without spaces or commas")
	}
	if o.Origin != "" {
		u, err := url.Parse(o.Origin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("--origin must look like https://app.example.com, not %q", o.Origin)
		}
		a.origin = u.Scheme + "://" + u.Host
	}
	return nil
}

// parseURL sets the address, the Host header and the request target.
func (a *auditor) parseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bad URL: %v", err)
	}
	port := ""
	switch u.Scheme {
	case "ws":
		port = "80"
	case "wss":
		a.secure, port = true, "443"
	default:
		return fmt.Errorf("the URL must start with ws:// or wss://, not %q", u.Scheme+"://")
	}
	if u.Hostname() == "" || u.User != nil || u.Fragment != "" {
		return errors.New("the URL needs a host, and no user info or fragment")
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
	return nil
}

func (a *auditor) loadRoots(caFile string) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	a.roots = x509.NewCertPool()
	if !a.roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s: no PEM certificate found", caFile)
	}
	return nil
}

// hasCredentials says whether the operator gave a token or a cookie.
func (a *auditor) hasCredentials() bool { return a.token != "" || a.cookie != "" }

// request returns the baseline upgrade request: the credentials, the
// origin and the subprotocol given. Checks change one thing in it.
func (a *auditor) request() http.Header {
	h := a.anonymous()
	if a.token != "" {
		h.Set("Authorization", "Bearer "+a.token)
	}
	if a.cookie != "" {
		h.Set("Cookie", a.cookie)
	}
	return h
}

// anonymous is the baseline request without credentials.
func (a *auditor) anonymous() http.Header {
	h := wstest.NewRequest("").Header
	if a.subprotocol != "" {
		h.Set("Sec-WebSocket-Protocol", a.subprotocol)
	}
	if a.origin != "" {
		h.Set("Origin", a.origin)
	}
	h.Set("User-Agent", a.userAgent)
	return h
}

// answer is the server's reply to an upgrade request: a refusal (conn nil)
// or an upgraded connection.
type answer struct {
	status int
	header http.Header
	body   []byte
	conn   *conn
}

func (a *auditor) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: a.hostname, RootCAs: a.roots, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
}

// errBudget is a dial refused because --max-connections are open.
var errBudget = errors.New("--max-connections connections are open")

// dialTCP connects to the target, counting the connection against the
// budget, with a deadline of a.timeout from now.
func (a *auditor) dialTCP(ctx context.Context) (*guardConn, error) {
	if a.open.Add(1) > int64(a.maxConns) {
		a.open.Add(-1)
		return nil, errBudget
	}
	d := net.Dialer{Timeout: a.timeout}
	nc, err := d.DialContext(ctx, "tcp", a.hostPort)
	if err != nil {
		a.open.Add(-1)
		return nil, &dialError{err}
	}
	a.dials.Add(1)
	g := &guardConn{Conn: nc, a: a}
	g.left.Store(maxHandshakeRead + maxRefusalBody)
	_ = nc.SetDeadline(time.Now().Add(a.timeout))
	return g, nil
}

// dialError is a connection that could not be opened: the server is not
// there (any more), which says nothing about a limit.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// isDialError says whether err is a dialError.
func isDialError(err error) bool {
	var de *dialError
	return errors.As(err, &de)
}

// dial is dialTCP, through TLS for wss.
func (a *auditor) dial(ctx context.Context) (net.Conn, error) {
	g, err := a.dialTCP(ctx)
	if err != nil || !a.secure {
		return g, err
	}
	tc := tls.Client(g, a.tlsConfig())
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = g.Close()
		return nil, fmt.Errorf("TLS: %w", err)
	}
	return tc, nil
}

// handshake sends an upgrade request with header h to path and reads the
// answer. An error means no HTTP answer was read (or a 101 without the
// right Sec-WebSocket-Accept).
func (a *auditor) handshake(ctx context.Context, h http.Header, path string) (*answer, error) {
	nc, err := a.dial(ctx)
	if err != nil {
		return nil, err
	}
	ws, resp, err := wstest.Handshake(nc, a.hostHdr, &wstest.Request{Path: path, Header: h})
	switch {
	case err == nil:
		unguard(nc)
		return &answer{status: resp.StatusCode, header: resp.Header, conn: newConn(ws, a.timeout)}, nil
	case resp == nil:
		_ = nc.Close()
		if step := errors.Unwrap(err); step != nil {
			err = step // the socket's error, without wstest's name for the step
		}
		return nil, fmt.Errorf("no HTTP answer: %w", err)
	case resp.StatusCode == http.StatusSwitchingProtocols:
		_ = nc.Close()
		return nil, errors.New("101 with a wrong Sec-WebSocket-Accept")
	}
	_ = nc.Close()
	return &answer{status: resp.StatusCode, header: resp.Header, body: resp.Body}, nil
}

// upgraded is the judgement most handshake checks share: an upgrade is a
// weakness (FAIL, closed at once), a 429 or 503 says nothing (SKIP), any
// other answer is a refusal (PASS).
func (a *auditor) upgraded(ans *answer, err error, what string) verdict {
	if err != nil {
		return skipf("no answer to judge: %v", err)
	}
	if ans.conn != nil {
		ans.conn.close()
		return failf("%s: upgraded (101)", what)
	}
	if v, limited := limitedBy(ans.status); limited {
		return v
	}
	return passf("%s: refused with %d", what, ans.status)
}

// limitedBy turns a 429 or 503 into SKIP: the server refused for load,
// which says nothing about the check.
func limitedBy(status int) (verdict, bool) {
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		return skipf("the server is limiting (%d); run the audit again later", status), true
	}
	return verdict{}, false
}
