package rampart

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rampart-rt/rampart/auth"
	"github.com/rampart-rt/rampart/protocol"
)

// metricsHandler serves GET /metrics. With Config.MetricsKeys set, only to
// a request that carries one of them as the API's keys are carried
// (Authorization: Bearer <key>, compared in constant time); others get 401.
// The keys are those of the configuration in force, so a reload rotates
// them.
func (s *Server) metricsHandler() http.Handler {
	h := promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys := s.st().metricsKeys
		if len(keys) > 0 && !keys.Valid(auth.BearerToken(r)) {
			w.Header().Set("X-Request-Id", s.newRequestID())
			w.Header().Set("WWW-Authenticate", `Bearer realm="rampart-metrics"`)
			s.api.Error(w, r, http.StatusUnauthorized, protocol.CodeUnauthorized, "missing or invalid metrics key")
			return
		}
		h.ServeHTTP(w, r)
	})
}
