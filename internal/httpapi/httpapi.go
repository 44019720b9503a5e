package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/go-json-experiment/json"

	"github.com/rampart-rt/rampart/auth"
	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/protocol"
)

// Server is the server-side Go API the handlers call (rampart.Server).
type Server interface {
	Publish(ctx context.Context, channel string, data []byte, opts protocol.PublishOptions) (broker.Position, error)
	Broadcast(ctx context.Context, channels []string, data []byte, opts protocol.PublishOptions) ([]protocol.BroadcastResult, error)
	Disconnect(ctx context.Context, t protocol.Target, code uint16, reason string) (int, error)
	Presence(ctx context.Context, channel string) ([]protocol.PresenceEntry, error)
	History(ctx context.Context, channel string, limit int) (protocol.HistoryResult, error)
	Subscribe(ctx context.Context, t protocol.Target, channel string) (int, error)
	Unsubscribe(ctx context.Context, t protocol.Target, channel string) (int, error)
}

// Options configure the API. The functions are asked on every request, so
// a reload's new keys and limits apply at once.
type Options struct {
	Server       Server
	Keys         func() Keys                                          // the accepted API keys
	MaxBodyBytes func() int                                           // api.max_body_bytes
	RequestID    func() string                                        // a new request id
	ClientIP     func(*http.Request) string                           // the client's address, for the log
	WithID       func(ctx context.Context, id string) context.Context // carries the request id into the Go API's audit lines
	Log          *slog.Logger
}

// Handler serves /api/*.
type Handler struct {
	o   Options
	mux http.Handler
}

// New returns the API's handler.
func New(o Options) *Handler {
	h := &Handler{o: o}
	mux := http.NewServeMux()
	for path, e := range map[string]struct {
		method string
		serve  http.HandlerFunc
	}{
		"/api/publish":     {http.MethodPost, h.publish},
		"/api/broadcast":   {http.MethodPost, h.broadcast},
		"/api/disconnect":  {http.MethodPost, h.disconnect},
		"/api/subscribe":   {http.MethodPost, h.subscription(o.Server.Subscribe)},
		"/api/unsubscribe": {http.MethodPost, h.subscription(o.Server.Unsubscribe)},
		"/api/presence":    {http.MethodGet, h.presence},
		"/api/history":     {http.MethodGet, h.history},
	} {
		mux.HandleFunc(path, h.only(e.method, e.serve))
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		h.Error(w, r, http.StatusNotFound, protocol.CodeNotFound, "no such endpoint")
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Error(w, r, http.StatusForbidden, protocol.CodeForbidden, "cross-origin request refused")
	}))
	h.mux = cop.Handler(mux)
	return h
}

// ServeHTTP implements http.Handler: every request needs a valid key;
// non-GET requests are refused cross-site (Sec-Fetch-Site / Origin).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Request-Id", h.o.RequestID())
	if !h.Authorized(w, r, "rampart-api") {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, int64(h.o.MaxBodyBytes()))
	h.mux.ServeHTTP(w, r)
}

// only serves the endpoint's one method; another answers 405 with the
// API's error body.
func (h *Handler) only(method string, serve http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			h.Error(w, r, http.StatusMethodNotAllowed, protocol.CodeBadRequest, "method not allowed")
			return
		}
		serve(w, r)
	}
}

// Authorized answers 401 and reports false unless the request carries a
// valid API key as its bearer token. realm names the endpoint in the
// WWW-Authenticate header.
func (h *Handler) Authorized(w http.ResponseWriter, r *http.Request, realm string) bool {
	if h.o.Keys().Valid(auth.BearerToken(r)) {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`"`)
	h.Error(w, r, http.StatusUnauthorized, protocol.CodeUnauthorized, "missing or invalid API key")
	return false
}

// Error answers a refused request with status and code, and logs why
// under the request's id.
func (h *Handler) Error(w http.ResponseWriter, r *http.Request, status int, code protocol.Code, reason string) {
	id := w.Header().Get("X-Request-Id")
	h.o.Log.Info("api request refused", "event", "api_refused", "status", status, "code", string(code), "reason", reason,
		"request_id", id, "ip", h.o.ClientIP(r), "path", r.URL.Path)
	WriteJSON(w, status, protocol.APIError{Error: code, RequestID: id})
}

// statuses is the HTTP status each error code answers with.
var statuses = map[protocol.Code]int{
	protocol.CodeBadRequest:        http.StatusBadRequest,
	protocol.CodeUnauthorized:      http.StatusUnauthorized,
	protocol.CodeForbidden:         http.StatusForbidden,
	protocol.CodeNotFound:          http.StatusNotFound,
	protocol.CodeAlreadySubscribed: http.StatusConflict,
	protocol.CodeLimitExceeded:     http.StatusConflict,
	protocol.CodeRateLimited:       http.StatusTooManyRequests,
	protocol.CodeUnavailable:       http.StatusServiceUnavailable,
	protocol.CodeInternal:          http.StatusInternalServerError,
}

// Status is the HTTP status an error code answers with.
func Status(c protocol.Code) int {
	if s, ok := statuses[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// fail answers the Go API's err: its code, and its cause in the log.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	id := w.Header().Get("X-Request-Id")
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		pe = &protocol.Error{Code: protocol.CodeInternal, Message: "internal error", Cause: err}
	}
	switch {
	case pe.Cause == nil:
	case pe.Code == protocol.CodeInternal:
		h.o.Log.Error("api request failed", "event", "internal_error", "request_id", id, "error", pe.Cause.Error())
	default:
		h.o.Log.Warn("api request could not be served", "event", "unavailable", "request_id", id, "error", pe.Cause.Error())
	}
	h.Error(w, r, Status(pe.Code), pe.Code, pe.Message)
}

// ctx is the request's context, carrying its id to the Go API.
func (h *Handler) ctx(w http.ResponseWriter, r *http.Request) context.Context {
	return h.o.WithID(r.Context(), w.Header().Get("X-Request-Id"))
}

// decode reads a JSON body strictly (no unknown or duplicate keys).
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.Error(w, r, http.StatusRequestEntityTooLarge, protocol.CodeBadRequest, "body over api.max_body_bytes")
		} else {
			h.Error(w, r, http.StatusBadRequest, protocol.CodeBadRequest, "reading the body failed")
		}
		return false
	}
	if err := json.Unmarshal(raw, v, json.RejectUnknownMembers(true)); err != nil {
		h.Error(w, r, http.StatusBadRequest, protocol.CodeBadRequest, "body is not the expected JSON object")
		return false
	}
	return true
}

// WriteJSON writes v as the JSON answer with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Keys are the accepted API keys, kept only as SHA-256 hashes.
type Keys [][sha256.Size]byte

// HashKeys returns keys' hashes.
func HashKeys(keys []string) Keys {
	out := make(Keys, len(keys))
	for i, k := range keys {
		out[i] = sha256.Sum256([]byte(k))
	}
	return out
}

// Valid compares the presented key's hash with every stored hash in
// constant time.
func (k Keys) Valid(presented string) bool {
	h := sha256.Sum256([]byte(presented))
	ok := 0
	for i := range k {
		ok |= subtle.ConstantTimeCompare(h[:], k[i][:])
	}
	return ok == 1 && presented != ""
}
