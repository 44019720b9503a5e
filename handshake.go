package rampart

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-rt/rampart/auth"
	"github.com/rampart-rt/rampart/protocol"
)

// handshake is what the checks learned about one upgrade request.
type handshake struct {
	requestID string
	ip        string
	origin    string
	offered   bool // the client offered rampart.v1
	claims    *auth.Claims
}

// handleWebSocket runs the handshake checks in the documented order; a
// failed check answers with a plain HTTP response and never upgrades.
func (s *Server) handleWebSocket(w http.ResponseWriter, r *http.Request) {
	h := &handshake{requestID: s.newRequestID(), ip: peerIP(r.RemoteAddr), origin: r.Header.Get("Origin")}
	w.Header().Set("X-Request-Id", h.requestID)
	if reason := checkUpgrade(r); reason != "" {
		s.reject(w, r, http.StatusBadRequest, "bad_handshake", reason)
		return
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		s.reject(w, r, http.StatusUpgradeRequired, "unsupported_version", "websocket version is not 13")
		return
	}
	if s.draining.Load() || s.nconns.Load() >= int64(s.cfg.Limits.MaxConnections) {
		w.Header().Set("Retry-After", "5")
		s.reject(w, r, http.StatusServiceUnavailable, "unavailable", "draining or at max_connections")
		return
	}
	offered, carried := subprotocols(r.Header.Values("Sec-WebSocket-Protocol"))
	h.offered = offered
	if !offered && *s.cfg.RequireSubprotocol {
		s.reject(w, r, http.StatusBadRequest, "subprotocol_required", "client did not offer "+protocol.Subprotocol)
		return
	}
	if !s.authenticate(w, r, h, carried) {
		return
	}
	s.upgrade(w, r, h)
}

// checkUpgrade returns why r is not a valid RFC 6455 upgrade, or "".
func checkUpgrade(r *http.Request) string {
	if r.Method != http.MethodGet {
		return "method is not GET"
	}
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		return "no Upgrade: websocket"
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		return "no Connection: upgrade"
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return "need exactly one Sec-WebSocket-Key"
	}
	if k, err := base64.StdEncoding.DecodeString(keys[0]); err != nil || len(k) != 16 {
		return "Sec-WebSocket-Key is not 16 bytes of base64"
	}
	return ""
}

// headerHasToken reports whether a comma-separated header lists token,
// case-insensitively. Linear in the header's size.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// subprotocols reads the offered subprotocols: whether rampart.v1 is among
// them, and the token carried as rampart.bearer.<jwt>, if any.
func subprotocols(values []string) (offered bool, token string) {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			p := strings.TrimSpace(part)
			switch {
			case p == protocol.Subprotocol:
				offered = true
			case strings.HasPrefix(p, protocol.BearerPrefix) && token == "":
				token = p[len(protocol.BearerPrefix):]
			}
		}
	}
	return offered, token
}

// authenticate finds the token in the configured sources, in order, and
// verifies it. It answers the request itself and returns false on failure.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, h *handshake, carried string) bool {
	token, source := s.findToken(r, carried)
	if source == SourceCookie {
		if r.URL.Query().Get("csrf") == "" {
			s.reject(w, r, http.StatusForbidden, "csrf_failed", "cookie token without csrf parameter")
			return false
		}
	}
	if token == "" {
		s.unauthorized(w, r, "no token")
		return false
	}
	claims, err := s.verifier.Verify(r.Context(), token)
	if err != nil {
		s.unauthorized(w, r, "token rejected: "+authReason(err))
		return false
	}
	if source == SourceCookie && !equalSecret(claims.CSRF, r.URL.Query().Get("csrf")) {
		s.reject(w, r, http.StatusForbidden, "csrf_failed", "csrf parameter does not match the session")
		return false
	}
	h.claims = claims
	return true
}

func (s *Server) findToken(r *http.Request, carried string) (token, source string) {
	for _, src := range s.cfg.Auth.Sources {
		switch src {
		case SourceHeader:
			if v := r.Header.Get("Authorization"); len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
				return strings.TrimSpace(v[7:]), src
			}
		case SourceSubprotocol:
			if carried != "" {
				return carried, src
			}
		case SourceCookie:
			if name := s.cfg.Auth.Cookie.Name; name != "" {
				if c, err := r.Cookie(name); err == nil && c.Value != "" {
					return c.Value, src
				}
			}
		case SourceQuery:
			if v := r.URL.Query().Get("token"); v != "" {
				return v, src
			}
		}
	}
	return "", ""
}

// authReason names what was wrong with a token, never quoting it.
func authReason(err error) string {
	if errors.Is(err, auth.ErrExpired) {
		return "expired"
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, reason string) {
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	s.reject(w, r, http.StatusUnauthorized, "unauthorized", reason)
}

// reject answers a refused request: a short JSON body with the category and
// the request id; the reason goes to the log only.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, status int, code, reason string) {
	id := w.Header().Get("X-Request-Id")
	if id == "" {
		id = s.newRequestID()
		w.Header().Set("X-Request-Id", id)
	}
	s.log.Info("handshake rejected",
		"event", "handshake_rejected", "status", status, "code", code, "reason", reason,
		"request_id", id, "ip", peerIP(r.RemoteAddr), "origin", r.Header.Get("Origin"),
		"user_agent", r.UserAgent(), "path", r.URL.Path)
	writeJSON(w, status, map[string]string{"error": code, "request_id": id})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func peerIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// upgrade switches the connection to WebSocket and starts its reader.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, h *handshake) {
	up := s.upgraderNoProt
	if h.offered {
		up = s.upgrader
		r.Header.Set("Sec-WebSocket-Protocol", protocol.Subprotocol) // select only rampart.v1, never the carrier
	} else {
		r.Header.Del("Sec-WebSocket-Protocol")
	}
	r.Header.Del("Sec-WebSocket-Extensions") // compression stays off
	c := s.newConn(h)
	if !s.register(c) {
		w.Header().Set("Retry-After", "5")
		s.reject(w, r, http.StatusServiceUnavailable, "unavailable", "server closing")
		return
	}
	ws, err := up.Upgrade(w, r)
	if err != nil {
		s.unregister(c)
		s.log.Info("upgrade failed", "event", "handshake_rejected", "reason", err.Error(), "request_id", h.requestID, "ip", h.ip)
		return
	}
	c.attach(ws)
	_ = ws.SetDeadline(time.Time{})
	go ws.ReadLoop()
}

// equalSecret compares two secrets in constant time; empty never matches.
func equalSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
