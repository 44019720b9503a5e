package audit

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRefusalBody bounds the body of an HTTP answer the audit reads.
const maxRefusalBody = 64 << 10

// The transport checks: TLS version, HSTS, plaintext to a remote host.

func (a *auditor) checkTLSVersion(ctx context.Context) verdict {
	if !a.secure {
		return skipf("ws:// has no TLS")
	}
	d := net.Dialer{Timeout: a.timeout}
	nc, err := d.DialContext(ctx, "tcp", a.hostPort)
	if err != nil {
		return skipf("cannot connect: %v", err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(a.timeout))
	// Only the protocol version is probed: nothing is sent after the
	// handshake, so the certificate is not verified here.
	tc := tls.Client(nc, &tls.Config{
		ServerName: a.hostname, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11,
		InsecureSkipVerify: true, //nolint:gosec // version probe only, no data sent
	})
	if err := tc.HandshakeContext(ctx); err == nil {
		return failf("a TLS 1.1 handshake succeeded; the minimum must be 1.2")
	}
	return passf("a TLS 1.1-only client is refused")
}

func (a *auditor) checkHSTS(ctx context.Context) verdict {
	if !a.secure {
		return skipf("ws:// has no TLS")
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base, nil)
	if err != nil {
		return skipf("bad base URL: %v", err)
	}
	req.Header.Set("User-Agent", a.userAgent)
	resp, err := client.Do(req)
	if err != nil {
		return failf("GET %s: %v", base, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxRefusalBody))
	_ = resp.Body.Close()
	hsts := resp.Header.Get("Strict-Transport-Security")
	if maxAge(hsts) <= 0 {
		return failf("GET %s (%d): no Strict-Transport-Security with a positive max-age", base, resp.StatusCode)
	}
	return passf("GET %s (%d): Strict-Transport-Security: %.60s", base, resp.StatusCode, hsts)
}

// onlyTarget dials the audited host:port whatever address it is asked for.
func (a *auditor) onlyTarget(ctx context.Context, network, _ string) (net.Conn, error) {
	d := net.Dialer{Timeout: a.timeout}
	return d.DialContext(ctx, network, a.hostPort)
}

func maxAge(hsts string) int64 {
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

func (a *auditor) checkPlaintext(ctx context.Context) verdict {
	if a.secure {
		return passf("wss: TLS")
	}
	if loopbackHost(a.hostname) {
		return passf("ws:// on loopback (%s)", a.hostname)
	}
	return warnf("ws:// to %s: tokens and messages cross the network in plaintext; use wss://", a.hostname)
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
