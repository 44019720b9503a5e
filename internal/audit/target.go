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
	"time"

	"github.com/rampart-rt/rampart/internal/wstest"
)

const (
	subprotocol       = "rampart.v1"
	bearerPrefix      = "rampart.bearer."
	defaultMaxMessage = 16384
	maxServerMessage  = 1 << 20 // largest server message the audit reads
	closeGrace        = time.Second
	pingPayload       = "rampart-audit"
	closeUnsupported  = 1003
	closeInvalidUTF8  = 1007
	closeTooBig       = 1009
)

// auditor holds the target and the operator's credentials.
type auditor struct {
	secure    bool   // wss
	hostPort  string // host:port dialed; the only address the audit connects to
	hostHdr   string // Host header, as given in the URL
	hostname  string // for TLS verification and the loopback test
	path      string // request target: path and query
	display   string // the URL without query, for the report
	token     string
	origin    string
	timeout   time.Duration
	roots     *x509.CertPool // nil: system roots
	userAgent string
}

func newAuditor(o Options) (*auditor, error) {
	a := &auditor{token: o.Token, timeout: o.Timeout, userAgent: o.UserAgent}
	if a.userAgent == "" {
		a.userAgent = "rampart-audit"
	}
	if err := a.parseURL(o.URL); err != nil {
		return nil, err
	}
	if o.Token == "" {
		return nil, errors.New("--token is required (or RAMPART_AUDIT_TOKEN)")
	}
	if strings.ContainsAny(o.Token, " \t\r\n,") {
		return nil, errors.New("--token holds whitespace or a comma; it is not a JWT")
	}
	if o.Origin != "" {
		u, err := url.Parse(o.Origin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, fmt.Errorf("--origin must look like https://app.example.com, not %q", o.Origin)
		}
		a.origin = u.Scheme + "://" + u.Host
	}
	if o.Timeout <= 0 || o.Timeout > time.Minute {
		return nil, errors.New("--timeout must be between 0 and 1m")
	}
	if o.CAFile != "" {
		return a, a.loadRoots(o.CAFile)
	}
	return a, nil
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

// request returns the baseline upgrade request: the token as a bearer
// header, the configured origin, rampart.v1 offered. Checks change one
// thing in it.
func (a *auditor) request() http.Header {
	h := wstest.NewRequest("").Header
	h.Set("Sec-WebSocket-Protocol", subprotocol)
	h.Set("Authorization", "Bearer "+a.token)
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
	conn   *conn
}

func (a *auditor) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: a.hostname, RootCAs: a.roots, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
}

// dial connects to the target, through TLS for wss, with a deadline of
// a.timeout from now on the connection.
func (a *auditor) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: a.timeout}
	nc, err := d.DialContext(ctx, "tcp", a.hostPort)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(a.timeout))
	if !a.secure {
		return nc, nil
	}
	tc := tls.Client(nc, a.tlsConfig())
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = nc.Close()
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
	return &answer{status: resp.StatusCode, header: resp.Header}, nil
}

// refused judges a handshake that must be refused with status want.
func (a *auditor) refused(ans *answer, err error, want int, what string) verdict {
	if err != nil {
		return skipf("no answer to judge: %v", err)
	}
	if ans.conn != nil {
		ans.conn.close()
		return failf("%s: upgraded (101), want %d", what, want)
	}
	if v, limited := limitedBy(ans.status); limited {
		return v
	}
	if ans.status != want {
		return failf("%s: answered %d, want %d", what, ans.status, want)
	}
	return passf("%s: refused with %d", what, want)
}

// limitedBy turns a 429 or 503 into SKIP: the server refused for load,
// which says nothing about the check.
func limitedBy(status int) (verdict, bool) {
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		return skipf("the server is limiting (%d); run the audit again later", status), true
	}
	return verdict{}, false
}
