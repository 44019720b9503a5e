package console

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/rampart-rt/rampart/internal/httpapi"
	"github.com/rampart-rt/rampart/protocol"
)

// maxBody bounds a console request's body.
const maxBody = 8 << 10

// CSRFHeader carries the session's CSRF token on every state-changing
// request.
const CSRFHeader = "X-Rampart-CSRF"

// Handler serves /console/: the page and its files (GET), the JSON API
// under /console/api/ and the live socket at /console/ws. It answers 404
// while console.enabled is off.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, protocol.CodeNotFound, "no such console path")
	})
	pages := pageHandler(notFound)
	mux.Handle("GET /console/{$}", pages)
	mux.Handle("GET /console/static/{name}", pages)
	mux.HandleFunc("POST /console/api/login", c.login)
	mux.HandleFunc("POST /console/api/logout", c.withSession(true, c.logout))
	mux.HandleFunc("GET /console/api/session", c.withSession(false, c.whoami))
	mux.HandleFunc("GET /console/api/events", c.withSession(false, c.events))
	mux.HandleFunc("GET /console/api/presence", c.withSession(false, c.presence))
	mux.HandleFunc("POST /console/api/disconnect", c.withSession(true, c.disconnect))
	mux.HandleFunc("POST /console/api/drain", c.withSession(true, c.drain))
	mux.HandleFunc("GET /console/ws", c.withSession(false, c.socket))
	mux.Handle("/console/", notFound)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", c.o.RequestID())
		if !c.o.Settings().Enabled {
			c.fail(w, r, http.StatusNotFound, protocol.CodeNotFound, "console disabled")
			return
		}
		setPageHeaders(w.Header(), r)
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		mux.ServeHTTP(w, r)
	})
}

// sessionHandler is a handler that runs with a live session.
type sessionHandler func(w http.ResponseWriter, r *http.Request, id string, s *session)

// withSession runs h with the request's session: 401 without one. A
// state-changing request (write) must also come from the console's own
// origin and carry the session's CSRF token (403); so must the socket.
func (c *Console) withSession(write bool, h sessionHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := sessionID(r)
		s := c.sessions.get(id)
		if s == nil {
			c.fail(w, r, http.StatusUnauthorized, protocol.CodeUnauthorized, "no console session")
			return
		}
		socket := r.URL.Path == "/console/ws"
		if (write || socket) && !sameOrigin(r) {
			c.fail(w, r, http.StatusForbidden, protocol.CodeForbidden, "cross-origin console request")
			return
		}
		token := r.Header.Get(CSRFHeader)
		if socket {
			token = r.URL.Query().Get("csrf")
		}
		if (write || socket) && !equal(s.csrf, token) {
			c.fail(w, r, http.StatusForbidden, protocol.CodeCSRFFailed, "csrf token missing or wrong")
			return
		}
		h(w, r, id, s)
	}
}

type loginBody struct {
	Key   string `json:"key,omitempty"`
	Token string `json:"token,omitempty"`
}

// login checks an API key or an admin token and starts a session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		c.fail(w, r, http.StatusForbidden, protocol.CodeForbidden, "cross-origin console request")
		return
	}
	set := c.o.Settings()
	if ok, wait := c.o.AllowTry(r.Context(), c.o.ClientIP(r), set.LoginsPerIPPerMinute); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
		c.loginFailed(w, r, http.StatusTooManyRequests, protocol.CodeRateLimited, "logins_per_ip_per_minute")
		return
	}
	var body loginBody
	if !c.decode(w, r, &body) {
		return
	}
	admin, reason := c.admin(r.Context(), body)
	if admin == "" {
		c.loginFailed(w, r, http.StatusUnauthorized, protocol.CodeUnauthorized, reason)
		return
	}
	id, s := c.sessions.create(admin, set.SessionTTL, set.MaxSessions)
	http.SetCookie(w, sessionCookie(r, id, set.SessionTTL))
	c.audit(w, r, "console_login", admin, "logged in")
	writeJSON(w, http.StatusOK, c.sessionInfo(s))
}

// admin returns who body proves to be, or "" and why not.
func (c *Console) admin(ctx context.Context, b loginBody) (string, string) {
	switch {
	case (b.Key == "") == (b.Token == ""):
		return "", "exactly one of key and token is required"
	case b.Key != "":
		if c.o.KeyValid(b.Key) {
			return keyAdmin(b.Key), ""
		}
		return "", "invalid API key"
	}
	sub, roles, err := c.o.Verify(ctx, b.Token)
	if err != nil {
		return "", "token rejected"
	}
	role := c.o.Settings().AdminRole
	for _, r := range roles {
		if r == role {
			return "token:" + sub, ""
		}
	}
	return "", "token lacks the admin role"
}

func (c *Console) loginFailed(w http.ResponseWriter, r *http.Request, status int, code protocol.Code, reason string) {
	id := w.Header().Get("X-Request-Id")
	c.o.Log.Warn("console login refused", "event", "console_login_failed", "status", status, "code", string(code),
		"reason", reason, "request_id", id, "ip", c.o.ClientIP(r))
	writeJSON(w, status, protocol.APIError{Error: code, RequestID: id})
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, id string, s *session) {
	c.sessions.end(id)
	http.SetCookie(w, clearedCookie(r))
	c.audit(w, r, "console_logout", s.admin, "logged out")
	writeJSON(w, http.StatusOK, map[string]bool{"logged_out": true})
}

// sessionView is what the page learns of its session.
type sessionView struct {
	Admin     string    `json:"admin"`
	CSRF      string    `json:"csrf"`
	ExpiresAt time.Time `json:"expires_at"`
	Node      string    `json:"node"`
	Channels  []string  `json:"channels"`
}

func (c *Console) sessionInfo(s *session) sessionView {
	return sessionView{Admin: s.admin, CSRF: s.csrf, ExpiresAt: s.expires, Node: c.o.Node,
		Channels: []string{StatsChannel, EventsChannel}}
}

func (c *Console) whoami(w http.ResponseWriter, _ *http.Request, _ string, s *session) {
	writeJSON(w, http.StatusOK, c.sessionInfo(s))
}

// eventsView is this node's ring: the newest events and the counts.
type eventsView struct {
	Node   string            `json:"node"`
	Events []Event           `json:"events"`
	Counts map[string]uint64 `json:"counts"`
}

func (c *Console) events(w http.ResponseWriter, r *http.Request, _ string, _ *session) {
	reason := r.URL.Query().Get("reason")
	n := ringSize
	if v, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && v > 0 && v < n {
		n = v
	}
	writeJSON(w, http.StatusOK, eventsView{Node: c.o.Node, Events: c.ring.Newest(n, reason), Counts: c.ring.Counts()})
}

func (c *Console) presence(w http.ResponseWriter, r *http.Request, _ string, _ *session) {
	ch := r.URL.Query().Get("channel")
	if !protocol.ValidChannel(ch) || Reserved(ch) {
		c.fail(w, r, http.StatusBadRequest, protocol.CodeBadRequest, "channel is not a valid channel name")
		return
	}
	clients, err := c.o.Server.Presence(r.Context(), ch)
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"channel": ch, "clients": clients})
}

type disconnectBody struct {
	User   string `json:"user,omitempty"`
	Client string `json:"client,omitempty"`
}

// ClosedByAdmin is the close code of a connection the console ends.
const ClosedByAdmin = 4000

func (c *Console) disconnect(w http.ResponseWriter, r *http.Request, _ string, s *session) {
	var b disconnectBody
	if !c.decode(w, r, &b) {
		return
	}
	rid := w.Header().Get("X-Request-Id")
	ctx := c.o.WithID(r.Context(), rid)
	n, err := c.o.Server.Disconnect(ctx, protocol.Target{User: b.User, Client: b.Client}, ClosedByAdmin, "disconnected by an admin")
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	target := "user " + b.User
	if b.Client != "" {
		target = "client " + b.Client
	}
	c.audit(w, r, "console_disconnect", s.admin, target+": "+strconv.Itoa(n)+" connections")
	writeJSON(w, http.StatusOK, map[string]int{"disconnected": n})
}

type drainBody struct {
	Window string `json:"window,omitempty"` // a duration up to 1h; default 30s
}

func (c *Console) drain(w http.ResponseWriter, r *http.Request, _ string, s *session) {
	var b drainBody
	if !c.decode(w, r, &b) {
		return
	}
	window := 30 * time.Second
	if b.Window != "" {
		d, err := time.ParseDuration(b.Window)
		if err != nil || d < 0 || d > time.Hour {
			c.fail(w, r, http.StatusBadRequest, protocol.CodeBadRequest, "window must be a duration up to 1h")
			return
		}
		window = d
	}
	n := c.o.Server.Connections()
	c.audit(w, r, "console_drain", s.admin, "drain over "+window.String())
	c.o.Server.Drain(context.WithoutCancel(r.Context()), window)
	writeJSON(w, http.StatusAccepted, map[string]any{"draining": true, "connections": n, "window": window.String()})
}

func (c *Console) socket(w http.ResponseWriter, r *http.Request, _ string, s *session) {
	c.o.Server.ServeSocket(w, r, Identity{Admin: s.admin, Role: c.o.Settings().AdminRole, Expires: s.expires})
}

// audit logs an admin's action under the request's id.
func (c *Console) audit(w http.ResponseWriter, r *http.Request, event, admin, detail string) {
	c.o.Log.Info("console action", "event", event, "admin", admin, "detail", detail,
		"request_id", w.Header().Get("X-Request-Id"), "ip", c.o.ClientIP(r))
}

// fail answers a refused console request with the API's JSON error body.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, code protocol.Code, reason string) {
	id := w.Header().Get("X-Request-Id")
	c.o.Log.Info("console request refused", "event", "console_refused", "status", status, "code", string(code),
		"reason", reason, "request_id", id, "ip", c.o.ClientIP(r), "path", r.URL.Path)
	writeJSON(w, status, protocol.APIError{Error: code, RequestID: id})
}

// apiError answers an error of the server-side API.
func (c *Console) apiError(w http.ResponseWriter, r *http.Request, err error) {
	code := protocol.CodeInternal
	var pe *protocol.Error
	if errors.As(err, &pe) {
		code = pe.Code
	}
	c.fail(w, r, httpapi.Status(code), code, string(code))
}

// decode reads a small JSON body strictly.
func (c *Console) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		c.fail(w, r, http.StatusUnsupportedMediaType, protocol.CodeBadRequest, "body must be application/json")
		return false
	}
	raw, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(raw, v, json.RejectUnknownMembers(true))
	}
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, protocol.CodeBadRequest, "body is not the expected JSON object")
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpapi.WriteJSON(w, status, v) }
