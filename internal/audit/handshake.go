package audit

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
)

// The handshake checks: each sends the baseline upgrade request with one
// thing changed, and judges the answer.

func (a *auditor) checkBaseline(ctx context.Context) verdict {
	ans, err := a.handshake(ctx, a.request(), a.path)
	if err != nil {
		return failf("handshake with the token failed: %v", err)
	}
	if ans.conn == nil {
		if _, limited := limitedBy(ans.status); limited {
			return failf("handshake with the token and origin answered %d: the server is limiting; run the audit again later", ans.status)
		}
		return failf("handshake with the token and origin answered %d, want 101", ans.status)
	}
	defer ans.conn.close()
	if got := ans.header.Get("Sec-WebSocket-Protocol"); got != subprotocol {
		return failf("upgraded, but selected subprotocol %q, want %q", got, subprotocol)
	}
	w, err := ans.conn.welcome(a.timeout)
	if err != nil {
		return failf("upgraded with rampart.v1, but no welcome push first: %v", err)
	}
	return passf("upgraded, selected rampart.v1, welcome push first (max_message_bytes %d)", w.Limits.MaxMessageBytes)
}

func (a *auditor) checkNoToken(ctx context.Context) verdict {
	h := a.request()
	h.Del("Authorization")
	ans, err := a.handshake(ctx, h, a.path)
	v := a.refused(ans, err, http.StatusUnauthorized, "no token")
	if v.result == pass && !strings.HasPrefix(ans.header.Get("WWW-Authenticate"), "Bearer") {
		return failf("no token: 401 without WWW-Authenticate: Bearer")
	}
	if v.result == pass {
		v.detail += " and WWW-Authenticate: Bearer"
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
		return skipf("the token is not a JWT (three segments)")
	}
	// The same claims, unsigned: the payload segment is reused as is.
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	h := a.request()
	h.Set("Authorization", "Bearer "+header+"."+p[1]+".")
	ans, err := a.handshake(ctx, h, a.path)
	return a.refused(ans, err, http.StatusUnauthorized, "alg none token")
}

func (a *auditor) checkBadSignature(ctx context.Context) verdict {
	p, ok := a.jwtParts()
	if !ok {
		return skipf("the token is not a JWT (three segments)")
	}
	sig, err := base64.RawURLEncoding.DecodeString(p[2])
	if err != nil || len(sig) == 0 {
		return skipf("the token's signature is not base64url")
	}
	sig[len(sig)/2] ^= 0x01
	h := a.request()
	h.Set("Authorization", "Bearer "+p[0]+"."+p[1]+"."+base64.RawURLEncoding.EncodeToString(sig))
	ans, err := a.handshake(ctx, h, a.path)
	return a.refused(ans, err, http.StatusUnauthorized, "token with a flipped signature bit")
}

func (a *auditor) originCheck(ctx context.Context, origin, what string) verdict {
	h := a.request()
	h.Set("Origin", origin)
	ans, err := a.handshake(ctx, h, a.path)
	return a.refused(ans, err, http.StatusForbidden, what)
}

func (a *auditor) checkOriginEvil(ctx context.Context) verdict {
	return a.originCheck(ctx, "https://evil.example", "Origin https://evil.example")
}

func (a *auditor) checkOriginNull(ctx context.Context) verdict {
	return a.originCheck(ctx, "null", "Origin null")
}

func (a *auditor) checkOriginSuffix(ctx context.Context) verdict {
	if a.origin == "" {
		return skipf("needs --origin")
	}
	o, _ := url.Parse(a.origin)
	forged := o.Scheme + "://" + o.Hostname() + ".evil.example"
	if p := o.Port(); p != "" {
		forged += ":" + p
	}
	return a.originCheck(ctx, forged, "Origin "+forged)
}

func (a *auditor) checkOriginMissing(ctx context.Context) verdict {
	h := a.request()
	h.Del("Origin")
	ans, err := a.handshake(ctx, h, a.path)
	if err == nil && ans.conn != nil {
		ans.conn.close()
		return infof("accepted without Origin: expected only with origins.allow_missing: true (non-browser clients; browsers always send Origin)")
	}
	return a.refused(ans, err, http.StatusForbidden, "no Origin")
}

func (a *auditor) checkNoSubprotocol(ctx context.Context) verdict {
	h := a.request()
	h.Del("Sec-WebSocket-Protocol")
	ans, err := a.handshake(ctx, h, a.path)
	return a.refused(ans, err, http.StatusBadRequest, "rampart.v1 not offered")
}

func (a *auditor) checkQueryToken(ctx context.Context) verdict {
	h := a.request()
	h.Del("Authorization")
	sep := "?"
	if strings.Contains(a.path, "?") {
		sep = "&"
	}
	ans, err := a.handshake(ctx, h, a.path+sep+"token="+url.QueryEscape(a.token))
	if err != nil {
		return skipf("no answer to judge: %v", err)
	}
	if ans.conn != nil {
		ans.conn.close()
		return warnf("a token in the query string is accepted: URLs end up in proxy logs and browser history (drop query from auth.sources)")
	}
	if v, limited := limitedBy(ans.status); limited {
		return v
	}
	if ans.status != http.StatusUnauthorized {
		return passf("token in the query string: refused with %d (401 expected)", ans.status)
	}
	return passf("token in the query string: refused with 401")
}

func (a *auditor) checkBearerEcho(ctx context.Context) verdict {
	h := a.request()
	h.Del("Authorization")
	h.Set("Sec-WebSocket-Protocol", subprotocol+", "+bearerPrefix+a.token)
	ans, err := a.handshake(ctx, h, a.path)
	if err != nil {
		return skipf("no answer to judge: %v", err)
	}
	for _, vs := range ans.header {
		for _, v := range vs {
			if strings.Contains(v, a.token) {
				if ans.conn != nil {
					ans.conn.close()
				}
				return failf("the answer (%d) echoes the token in a header", ans.status)
			}
		}
	}
	if ans.conn == nil {
		if v, limited := limitedBy(ans.status); limited {
			return v
		}
		if ans.status == http.StatusUnauthorized {
			return skipf("the subprotocol token carrier is off (401)")
		}
		return failf("rampart.v1 with the bearer carrier answered %d, want 101", ans.status)
	}
	ans.conn.close()
	if got := ans.header.Get("Sec-WebSocket-Protocol"); got != subprotocol {
		return failf("selected subprotocol %q, want exactly %q", got, subprotocol)
	}
	return passf("the token carried as a subprotocol is accepted and not echoed: selected exactly rampart.v1")
}

func (a *auditor) checkCompression(ctx context.Context) verdict {
	h := a.request()
	h.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
	ans, err := a.handshake(ctx, h, a.path)
	if err != nil {
		return skipf("cannot connect: %v", err)
	}
	if ans.conn == nil {
		return skipf("the handshake with a compression offer answered %d (see baseline)", ans.status)
	}
	ans.conn.close()
	if ext := ans.header.Get("Sec-WebSocket-Extensions"); ext != "" {
		return failf("compression accepted (Sec-WebSocket-Extensions: %.60s): a decompression bomb can pass the size limit", ext)
	}
	return passf("permessage-deflate offered, not accepted")
}

func (a *auditor) checkRefusalHeaders(ctx context.Context) verdict {
	// Any server refuses version 12; what matters is what the refusal carries.
	h := a.request()
	h.Set("Sec-WebSocket-Version", "12")
	ans, err := a.handshake(ctx, h, a.path)
	if err != nil {
		return skipf("no answer to judge: %v", err)
	}
	if ans.conn != nil {
		ans.conn.close()
		return failf("Sec-WebSocket-Version: 12 upgraded (101), want a refusal")
	}
	var missing []string
	if !strings.EqualFold(strings.TrimSpace(ans.header.Get("X-Content-Type-Options")), "nosniff") {
		missing = append(missing, "X-Content-Type-Options: nosniff")
	}
	if ans.header.Get("Content-Security-Policy") == "" {
		missing = append(missing, "Content-Security-Policy")
	}
	if len(missing) > 0 {
		return failf("the refusal (%d) lacks %s", ans.status, strings.Join(missing, " and "))
	}
	return passf("the refusal (%d) carries X-Content-Type-Options: nosniff and a Content-Security-Policy", ans.status)
}
