package rampart

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/internal/hub"
	"github.com/rampart-rt/rampart/protocol"
)

// API configures the server-side HTTP API for the application's backend.
type API struct {
	KeysEnv      string `yaml:"keys_env"`       // variable with comma-separated keys, read by the binary; default RAMPART_API_KEYS
	KeysFile     string `yaml:"keys_file"`      // file with one key per line, read by the binary
	MaxBodyBytes int    `yaml:"max_body_bytes"` // request body limit; default 65536
	AdminOnly    bool   `yaml:"admin_only"`     // serve /api only on the admin listener (metrics.listen)

	// Keys are the accepted API keys (several at once, for rotation). They
	// are kept only as SHA-256 hashes. None: the API answers 401.
	Keys []string `yaml:"-"`
}

// MinAPIKeyLength is the shortest API key accepted.
const MinAPIKeyLength = 24

func (a *API) defaults() {
	if a.MaxBodyBytes == 0 {
		a.MaxBodyBytes = 64 << 10
	}
}

func (a *API) validate(bad func(path, format string, args ...any)) {
	for i, k := range a.Keys {
		if len(k) < MinAPIKeyLength {
			bad("api.keys_env", "key %d is shorter than %d characters", i+1, MinAPIKeyLength)
		}
	}
	if a.MaxBodyBytes < 0 || a.MaxBodyBytes > 64<<20 {
		bad("api.max_body_bytes", "must be between 1 and 67108864")
	}
}

type apiKeys [][sha256.Size]byte

func hashKeys(keys []string) apiKeys {
	out := make(apiKeys, len(keys))
	for i, k := range keys {
		out[i] = sha256.Sum256([]byte(k))
	}
	return out
}

// valid compares the presented key's hash with every stored hash in
// constant time.
func (k apiKeys) valid(presented string) bool {
	h := sha256.Sum256([]byte(presented))
	ok := 0
	for i := range k {
		ok |= subtle.ConstantTimeCompare(h[:], k[i][:])
	}
	return ok == 1 && presented != ""
}

// apiHandler serves /api/*: every request needs a valid key; non-GET
// requests are refused cross-site (Sec-Fetch-Site / Origin).
func (s *Server) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/publish", s.apiPublish)
	mux.HandleFunc("POST /api/broadcast", s.apiBroadcast)
	mux.HandleFunc("POST /api/disconnect", s.apiDisconnect)
	mux.HandleFunc("GET /api/presence", s.apiPresence)
	mux.HandleFunc("GET /api/history", s.apiHistory)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.apiError(w, r, http.StatusForbidden, "forbidden", "cross-origin request refused")
	}))
	protected := cop.Handler(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", s.newRequestID())
		if !s.checkAPIKey(w, r, "rampart-api") {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, int64(s.st().cfg.API.MaxBodyBytes))
		protected.ServeHTTP(w, r)
	})
}

// checkAPIKey answers 401 unless the request carries a valid API key as
// its bearer token.
func (s *Server) checkAPIKey(w http.ResponseWriter, r *http.Request, realm string) bool {
	if s.st().apiKeys.valid(bearerToken(r)) {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`"`)
	s.apiError(w, r, http.StatusUnauthorized, "unauthorized", "missing or invalid API key")
	return false
}

// bearerToken returns the token of an "Authorization: Bearer" header, or "".
func bearerToken(r *http.Request) string {
	v := r.Header.Get("Authorization")
	if len(v) < 7 || !strings.EqualFold(v[:7], "bearer ") {
		return ""
	}
	return strings.TrimSpace(v[7:])
}

func (s *Server) apiError(w http.ResponseWriter, r *http.Request, status int, code, reason string) {
	id := w.Header().Get("X-Request-Id")
	s.log.Info("api request refused", "event", "api_refused", "status", status, "code", code, "reason", reason,
		"request_id", id, "ip", s.st().clientIP.ClientIP(r.RemoteAddr, r.Header).String(), "path", r.URL.Path)
	writeJSON(w, status, map[string]string{"error": code, "request_id": id})
}

func (s *Server) apiCmdError(w http.ResponseWriter, r *http.Request, e *cmdError) {
	switch {
	case e.cause == nil:
	case e.code == protocol.CodeInternal:
		s.log.Error("api request failed", "event", "internal_error", "request_id", w.Header().Get("X-Request-Id"), "error", e.cause.Error())
	default:
		s.log.Warn("api request could not be served", "event", "unavailable", "request_id", w.Header().Get("X-Request-Id"), "error", e.cause.Error())
	}
	status := map[protocol.Code]int{
		protocol.CodeBadRequest: http.StatusBadRequest, protocol.CodeForbidden: http.StatusForbidden,
		protocol.CodeNotFound: http.StatusNotFound, protocol.CodeUnavailable: http.StatusServiceUnavailable,
	}[e.code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	s.apiError(w, r, status, string(e.code), e.message)
}

// decodeBody reads a JSON body strictly (no unknown or duplicate keys).
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.apiError(w, r, http.StatusRequestEntityTooLarge, "bad_request", "body over api.max_body_bytes")
		} else {
			s.apiError(w, r, http.StatusBadRequest, "bad_request", "reading the body failed")
		}
		return false
	}
	if err := json.Unmarshal(raw, v, json.RejectUnknownMembers(true)); err != nil {
		s.apiError(w, r, http.StatusBadRequest, "bad_request", "body is not the expected JSON object")
		return false
	}
	return true
}

type apiPublishBody struct {
	Channel        string         `json:"channel"`
	Data           jsontext.Value `json:"data"`
	IdempotencyKey string         `json:"idempotency_key"`
}

func (s *Server) apiPublish(w http.ResponseWriter, r *http.Request) {
	var body apiPublishBody
	if !s.decodeBody(w, r, &body) {
		return
	}
	key, ok := s.apiIdempotencyKey(w, r, body.IdempotencyKey)
	if !ok {
		return
	}
	pos, e := s.publishFromAPI(r.Context(), body.Channel, body.Data, key)
	if e != nil {
		s.apiCmdError(w, r, e)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"offset": pos.Offset, "epoch": pos.Epoch})
}

// publishFromAPI publishes as the server: the channel needs a rule (no
// rule, no channel), and the data passes the rule's checks like a client's.
func (s *Server) publishFromAPI(ctx context.Context, channel string, data jsontext.Value, idempotencyKey string) (broker.Position, *cmdError) {
	if !protocol.ValidChannel(channel) || data == nil {
		return broker.Position{}, errBadRequest("channel and data are required")
	}
	rule := s.st().rules.MatchServer(channel)
	if rule == nil {
		return broker.Position{}, &cmdError{code: protocol.CodeNotFound, message: "no channel rule matches"}
	}
	data, e := s.checkData(rule, channel, data)
	if e != nil {
		return broker.Position{}, e
	}
	ctx, cancel := context.WithTimeout(ctx, brokerTimeout)
	defer cancel()
	opts := publishOptions(rule)
	opts.IdempotencyKey = scopedIdempotencyKey("api", idempotencyKey)
	pos, err := s.broker.Publish(ctx, channel, data, "", "", opts)
	if err != nil {
		s.brokerFailed("publish", err)
		return broker.Position{}, brokerError(err)
	}
	s.metrics.publications.WithLabelValues("api").Inc()
	s.auditPublish(rule, channel, "", "api", len(data))
	return pos, nil
}

type apiBroadcastBody struct {
	Channels       []string       `json:"channels"`
	Data           jsontext.Value `json:"data"`
	IdempotencyKey string         `json:"idempotency_key"` // applies per channel
}

type broadcastResult struct {
	Channel string `json:"channel"`
	Offset  uint64 `json:"offset,omitzero"`
	Epoch   string `json:"epoch,omitzero"`
	Error   string `json:"error,omitzero"`
}

// maxBroadcast bounds the channels of one broadcast.
const maxBroadcast = 1000

func (s *Server) apiBroadcast(w http.ResponseWriter, r *http.Request) {
	var body apiBroadcastBody
	if !s.decodeBody(w, r, &body) {
		return
	}
	if len(body.Channels) == 0 || len(body.Channels) > maxBroadcast {
		s.apiError(w, r, http.StatusBadRequest, "bad_request", "channels: 1 to 1000")
		return
	}
	key, ok := s.apiIdempotencyKey(w, r, body.IdempotencyKey)
	if !ok {
		return
	}
	results := make([]broadcastResult, len(body.Channels))
	for i, ch := range body.Channels {
		results[i].Channel = ch
		pos, e := s.publishFromAPI(r.Context(), ch, body.Data, key)
		if e != nil {
			results[i].Error = string(e.code)
			continue
		}
		results[i].Offset, results[i].Epoch = pos.Offset, pos.Epoch
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
}

type apiDisconnectBody struct {
	User   string `json:"user"`
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

func (s *Server) apiDisconnect(w http.ResponseWriter, r *http.Request) {
	var body apiDisconnectBody
	if !s.decodeBody(w, r, &body) {
		return
	}
	if body.Code == 0 {
		body.Code = 4000
	}
	if body.User == "" || body.Code < 4000 || body.Code > 4999 || len(body.Reason) > 100 {
		s.apiError(w, r, http.StatusBadRequest, "bad_request", "user required; code 4000-4999; reason at most 100 bytes")
		return
	}
	n := 0
	for _, c := range s.reg.snapshot() {
		if c.identityClaims().Subject == body.User {
			c.closeWith(uint16(body.Code), body.Reason)
			n++
		}
	}
	s.log.Info("user disconnected by the api", "event", "api_disconnect", "user", body.User, "code", body.Code,
		"connections", n, "request_id", w.Header().Get("X-Request-Id"))
	writeJSON(w, http.StatusOK, map[string]int{"disconnected": n})
}

func (s *Server) apiPresence(w http.ResponseWriter, r *http.Request) {
	ch := r.URL.Query().Get("channel")
	rule := s.st().rules.MatchServer(ch)
	if !protocol.ValidChannel(ch) || rule == nil {
		s.apiError(w, r, http.StatusNotFound, "not_found", "no channel rule matches")
		return
	}
	clients, e := s.presenceOf(rule, ch)
	if e != nil {
		s.apiCmdError(w, r, e)
		return
	}
	writeJSON(w, http.StatusOK, protocol.PresenceResult{Clients: clients})
}

func (s *Server) apiHistory(w http.ResponseWriter, r *http.Request) {
	ch := r.URL.Query().Get("channel")
	if !protocol.ValidChannel(ch) || s.st().rules.MatchServer(ch) == nil {
		s.apiError(w, r, http.StatusNotFound, "not_found", "no channel rule matches")
		return
	}
	limit := s.st().cfg.Limits.MaxHistoryLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.apiError(w, r, http.StatusBadRequest, "bad_request", "limit must be a non-negative integer")
			return
		}
		limit = min(n, limit)
	}
	ctx, cancel := context.WithTimeout(r.Context(), brokerTimeout)
	defer cancel()
	pubs, pos, err := s.broker.History(ctx, ch, broker.HistoryRequest{Limit: limit})
	if err != nil {
		s.brokerFailed("history", err)
		s.apiCmdError(w, r, brokerError(err))
		return
	}
	writeJSON(w, http.StatusOK, protocol.HistoryResult{Publications: hub.Publications(pubs), Offset: pos.Offset, Epoch: pos.Epoch})
}
