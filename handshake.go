package rampart

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lxzan/gws"
	"github.com/rampart-rt/rampart/auth"
	"github.com/rampart-rt/rampart/internal/httpapi"
	"github.com/rampart-rt/rampart/protocol"
)

// The WebSocket request headers in http.Header's canonical form
// ("Websocket", not "WebSocket"): its methods canonicalize any other
// spelling again on every call, with an allocation each.
const (
	hdrWSKey        = "Sec-Websocket-Key"
	hdrWSVersion    = "Sec-Websocket-Version"
	hdrWSProtocol   = "Sec-Websocket-Protocol"
	hdrWSExtensions = "Sec-Websocket-Extensions"
)

// handshake is what the checks learned about one upgrade request, and the
// counts it holds: released when a later check fails, handed to the
// connection when the upgrade succeeds.
type handshake struct {
	requestID string
	ip        string
	origin    string
	offered   bool // the client offered rampart.v1
	console   bool // admitted by the console: may subscribe to its reserved channels
	claims    *auth.Claims
	grant     *grant // what the connect hook added, or nil
	held      held
}

// held records the counts a handshake took (its admission under
// max_connections, its per-IP and per-user slots), so that each is given
// back exactly once: by the handshake when a later check fails, else by
// the connection when it closes.
type held struct {
	ip, user      string
	slot          bool // admitted by the registry
	hasIP, hasUsr bool
}

func (s *Server) release(h *held) {
	if h.slot {
		s.reg.giveBack()
	}
	if h.hasIP {
		s.limiter.ReleaseIP(h.ip)
	}
	if h.hasUsr {
		s.limiter.ReleaseUser(h.user)
	}
	*h = held{}
}

// handleWebSocket runs the handshake checks in the documented order; a
// failed check answers with a plain HTTP response and never upgrades.
func (s *Server) handleWebSocket(w http.ResponseWriter, r *http.Request) {
	h := &handshake{requestID: s.newRequestID(), origin: r.Header.Get("Origin")}
	h.ip = s.st().clientIP.ClientIP(r.RemoteAddr, r.Header).String()
	w.Header().Set("X-Request-Id", h.requestID)
	defer s.release(&h.held) // a no-op once the connection owns the counts
	if !s.checkProtocol(w, r) || !s.checkCapacity(w, r, h) || !s.checkOrigin(w, r) {
		return
	}
	offered, carried := subprotocols(r.Header.Values(hdrWSProtocol))
	h.offered = offered
	if !offered && *s.st().cfg.RequireSubprotocol {
		s.reject(w, r, http.StatusBadRequest, "subprotocol_required", "client did not offer "+protocol.Subprotocol)
		return
	}
	if !s.authenticate(w, r, h, carried) || !s.checkUser(w, r, h) || !s.connectHook(w, r, h) {
		return
	}
	s.upgrade(w, r, h)
}

// checkProtocol: a valid RFC 6455 upgrade (400), version 13 (426).
func (s *Server) checkProtocol(w http.ResponseWriter, r *http.Request) bool {
	if reason := checkUpgrade(r); reason != "" {
		s.reject(w, r, http.StatusBadRequest, "bad_handshake", reason)
		return false
	}
	if r.Header.Get(hdrWSVersion) != "13" {
		w.Header().Set(hdrWSVersion, "13")
		s.reject(w, r, http.StatusUpgradeRequired, "unsupported_version", "websocket version is not 13")
		return false
	}
	return true
}

// checkCapacity: draining or full (503), then the per-IP handshake rate and
// open connections (429). Counts taken are recorded in h. The admission
// under max_connections is taken here, before the token is checked, so
// that a burst of handshakes cannot pass the cap together.
func (s *Server) checkCapacity(w http.ResponseWriter, r *http.Request, h *handshake) bool {
	l := s.st().cfg.Limits
	if !s.reg.admit(l.MaxConnections) {
		w.Header().Set("Retry-After", "5")
		s.reject(w, r, http.StatusServiceUnavailable, "unavailable", "draining or at max_connections")
		return false
	}
	h.held.slot = true
	ok, wait, err := s.limiter.Handshake(r.Context(), h.ip, l.HandshakesPerIPPerMin)
	if err != nil {
		return s.limiterDown(w, r, err)
	}
	if !ok {
		s.metrics.RateLimited.WithLabelValues("handshake").Inc()
		w.Header().Set("Retry-After", retryAfter(wait))
		s.reject(w, r, http.StatusTooManyRequests, "rate_limited", "handshakes_per_ip_per_minute")
		return false
	}
	ok, err = s.limiter.AcquireIP(r.Context(), h.ip, l.MaxConnectionsPerIP)
	if err != nil {
		return s.limiterDown(w, r, err)
	}
	if !ok {
		s.metrics.RateLimited.WithLabelValues("ip_connections").Inc()
		w.Header().Set("Retry-After", "30")
		s.reject(w, r, http.StatusTooManyRequests, "rate_limited", "max_connections_per_ip")
		return false
	}
	h.held.ip, h.held.hasIP = h.ip, true
	return true
}

func (s *Server) limiterDown(w http.ResponseWriter, r *http.Request, err error) bool {
	w.Header().Set("Retry-After", "5")
	s.reject(w, r, http.StatusServiceUnavailable, "unavailable", "connection limiter: "+err.Error())
	return false
}

func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}

// checkOrigin: exactly one Origin, on the allow-list (403); a missing one
// only with origins.allow_missing.
func (s *Server) checkOrigin(w http.ResponseWriter, r *http.Request) bool {
	values := r.Header.Values("Origin")
	switch {
	case len(values) == 0 && s.st().cfg.Origins.AllowMissing:
		return true
	case len(values) == 0:
		s.reject(w, r, http.StatusForbidden, "origin_refused", "no Origin header")
	case len(values) > 1:
		s.reject(w, r, http.StatusForbidden, "origin_refused", "more than one Origin header")
	case !s.st().origins.Allow(values[0]):
		s.reject(w, r, http.StatusForbidden, "origin_refused", "origin not allowed")
	default:
		return true
	}
	return false
}

// checkUser: per-user open connections (429).
func (s *Server) checkUser(w http.ResponseWriter, r *http.Request, h *handshake) bool {
	user := h.claims.Subject
	ok, err := s.limiter.AcquireUser(r.Context(), user, s.st().cfg.Limits.MaxConnectionsPerUser)
	if err != nil {
		return s.limiterDown(w, r, err)
	}
	if !ok {
		s.metrics.RateLimited.WithLabelValues("user_connections").Inc()
		w.Header().Set("Retry-After", "30")
		s.reject(w, r, http.StatusTooManyRequests, "rate_limited", "max_connections_per_user")
		return false
	}
	h.held.user, h.held.hasUsr = user, true
	return true
}

// checkUpgrade returns why r is not a valid RFC 6455 upgrade, or "".
func checkUpgrade(r *http.Request) string {
	if r.Method != http.MethodGet {
		return "method is not GET"
	}
	if !r.ProtoAtLeast(1, 1) {
		return "upgrade needs HTTP/1.1"
	}
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		return "no Upgrade: websocket"
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		return "no Connection: upgrade"
	}
	keys := r.Header.Values(hdrWSKey)
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
	claims, err := s.st().verifier.Verify(r.Context(), token)
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
	for _, src := range s.st().cfg.Auth.Sources {
		switch src {
		case SourceHeader:
			if v := auth.BearerToken(r); v != "" {
				return v, src
			}
		case SourceSubprotocol:
			if carried != "" {
				return carried, src
			}
		case SourceCookie:
			if name := s.st().cfg.Auth.Cookie.Name; name != "" {
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
	s.metrics.Handshakes.WithLabelValues("rejected", code).Inc()
	s.log.Info("handshake rejected",
		"event", "handshake_rejected", "status", status, "code", code, "reason", reason,
		"request_id", id, "ip", s.st().clientIP.ClientIP(r.RemoteAddr, r.Header).String(), "origin", r.Header.Get("Origin"),
		"user_agent", r.UserAgent(), "path", r.URL.Path)
	httpapi.WriteJSON(w, status, protocol.APIError{Error: protocol.Code(code), RequestID: id})
}

// upgrade switches the connection to WebSocket and starts its reader.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, h *handshake) {
	up := s.st().upgraderNoProt
	if h.offered {
		up = s.st().upgrader
		r.Header.Set(hdrWSProtocol, protocol.Subprotocol) // select only rampart.v1, never the carrier
	} else {
		r.Header.Del(hdrWSProtocol)
	}
	selectExtensions(r, s.st().cfg.Compression.Enabled) // compression only when configured (compression.go)
	// checkUpgrade accepted token lists ("Upgrade: h2c, websocket"); gws
	// wants the bare values and would otherwise refuse after the hijack with
	// a plain-text 400.
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	ws, err := upgradeKeepingBytes(up, w, r)
	if err != nil {
		s.log.Info("upgrade failed", "event", "handshake_rejected", "reason", "upgrade failed", "request_id", h.requestID,
			"ip", h.ip, "user_agent", r.UserAgent(), "error", err.Error())
		return // the deferred release gives back what h holds
	}
	s.metrics.Handshakes.WithLabelValues("accepted", "ok").Inc()
	c := s.newConn(h)
	c.held, h.held = h.held, held{}
	c.attach(ws, r.UserAgent())
	go c.read()
}

// equalSecret compares two secrets in constant time; empty never matches.
func equalSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// upgradeKeepingBytes hijacks the connection and upgrades it, keeping any
// bytes the client sent right after its request (gws's own hijack would
// drop what net/http had already buffered). A TCP connection is read
// through an idleReader (idleread.go), a TLS one through a bufio.Reader of
// readBufferSize.
func upgradeKeepingBytes(up *gws.Upgrader, w http.ResponseWriter, r *http.Request) (*gws.Conn, error) {
	netConn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, err
	}
	var early []byte
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ = brw.Reader.Peek(n)
	}
	bc := newBatchConn(netConn)
	// The batch starts gathering: the 101 response goes out with the
	// welcome, in the writer's first write (or with the error answer and
	// the close, when the upgrade fails), one system call instead of two.
	if bc.raw != nil {
		// A TCP socket: no read buffer held while the connection is idle.
		return up.UpgradeFromConn(bc, newIdleBufio(bc.raw, early), r)
	}
	var src io.Reader = netConn
	if len(early) > 0 {
		src = io.MultiReader(bytes.NewReader(bytes.Clone(early)), netConn)
	}
	return up.UpgradeFromConn(bc, bufio.NewReaderSize(src, readBufferSize), r)
}
