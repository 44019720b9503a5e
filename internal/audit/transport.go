package audit

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"time"
)

// The transport checks: TLS versions, cipher suites and certificate, HSTS,
// plaintext to a remote host.

// tlsProbe makes a TLS handshake with cfg and reports whether it
// succeeded, and the state. Only the handshake is made: nothing is sent
// after it, so the certificate need not be verified here.
func (a *auditor) tlsProbe(ctx context.Context, cfg *tls.Config) (tls.ConnectionState, error) {
	g, err := a.dialTCP(ctx)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer g.Close()
	tc := tls.Client(g, cfg)
	err = tc.HandshakeContext(ctx)
	return tc.ConnectionState(), err
}

func (a *auditor) checkTLSVersions(ctx context.Context) verdict {
	if !a.secure {
		return naf("ws:// has no TLS")
	}
	var accepted []string
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		cfg := &tls.Config{ServerName: a.hostname, MinVersion: v, MaxVersion: v, CipherSuites: allSuites(),
			InsecureSkipVerify: true} //nolint:gosec // version probe only, no data sent
		if _, err := a.tlsProbe(ctx, cfg); err == nil {
			accepted = append(accepted, tls.VersionName(v))
		}
	}
	if len(accepted) > 0 {
		return failf("handshakes with only %s succeeded; the minimum must be TLS 1.2", strings.Join(accepted, " or "))
	}
	return passf("TLS 1.0 and TLS 1.1 refused")
}

// weakSuites are the TLS 1.2 suites without forward secrecy or with a
// broken cipher.
func weakSuites() []uint16 {
	ids := []uint16{
		tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	}
	for _, s := range tls.InsecureCipherSuites() {
		ids = append(ids, s.ID)
	}
	return ids
}

// allSuites is every suite Go knows: the version probe judges versions
// only.
func allSuites() []uint16 {
	var ids []uint16
	for _, s := range tls.CipherSuites() {
		ids = append(ids, s.ID)
	}
	return append(ids, weakSuites()...)
}

func (a *auditor) checkTLSCiphers(ctx context.Context) verdict {
	if !a.secure {
		return naf("ws:// has no TLS")
	}
	cfg := &tls.Config{ServerName: a.hostname, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS12,
		CipherSuites: weakSuites(), InsecureSkipVerify: true} //nolint:gosec // cipher probe only, no data sent
	st, err := a.tlsProbe(ctx, cfg)
	if err == nil {
		return failf("a handshake offering only weak suites succeeded with %s", tls.CipherSuiteName(st.CipherSuite))
	}
	return passf("a handshake offering only RSA key exchange, CBC-SHA1, 3DES and RC4 suites was refused")
}

func (a *auditor) checkTLSCertificate(ctx context.Context) verdict {
	if !a.secure {
		return naf("ws:// has no TLS")
	}
	st, err := a.tlsProbe(ctx, a.tlsConfig())
	if err != nil {
		return failf("the certificate does not verify for %s: %s", a.hostname, oneLine(err.Error(), 160))
	}
	leaf := st.PeerCertificates[0]
	left := time.Until(leaf.NotAfter)
	if left < 14*24*time.Hour {
		return failf("the certificate for %s expires in %s (%s)", a.hostname, left.Round(time.Hour), leaf.NotAfter.UTC().Format(time.DateOnly)).at(SevMedium)
	}
	return passf("the certificate verifies for %s until %s", a.hostname, leaf.NotAfter.UTC().Format(time.DateOnly))
}

func (a *auditor) checkHSTS(ctx context.Context) verdict {
	if !a.secure {
		return naf("ws:// has no TLS")
	}
	ans, err := a.httpGet(ctx, "/")
	if err != nil {
		return skipf("GET https://%s/: %v", a.hostHdr, err)
	}
	hsts := ans.header.Get("Strict-Transport-Security")
	if maxAge(hsts) <= 0 {
		return failf("GET https://%s/ (%d): no Strict-Transport-Security with a positive max-age", a.hostHdr, ans.status)
	}
	return passf("GET https://%s/ (%d): Strict-Transport-Security: %s", a.hostHdr, ans.status, oneLine(hsts, 60))
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

func (a *auditor) checkPlaintext(context.Context) verdict {
	if a.secure {
		return passf("wss: TLS")
	}
	if loopbackHost(a.hostname) {
		return naf("ws:// on loopback (%s)", a.hostname)
	}
	return failf("ws:// to %s: tokens and messages cross the network in plaintext", a.hostname)
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
