package rampart

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsHandler serves GET /metrics. With Config.MetricsKeys set, only to
// a request that carries one of them as the API's keys are carried
// (Authorization: Bearer <key>, compared in constant time); others get 401.
// The keys are those of the configuration in force, so a reload rotates
// them.
func (s *Server) metricsHandler() http.Handler {
	h := promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{})
	type hashed struct {
		st   *state
		keys apiKeys
	}
	var cache atomic.Pointer[hashed] // the keys of the last state seen, hashed once
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := s.st()
		c := cache.Load()
		if c == nil || c.st != st {
			c = &hashed{st: st, keys: hashKeys(st.cfg.MetricsKeys)}
			cache.Store(c)
		}
		if len(c.keys) > 0 && !c.keys.valid(bearerToken(r)) {
			w.Header().Set("X-Request-Id", s.newRequestID())
			w.Header().Set("WWW-Authenticate", `Bearer realm="rampart-metrics"`)
			s.apiError(w, r, http.StatusUnauthorized, "unauthorized", "missing or invalid metrics key")
			return
		}
		h.ServeHTTP(w, r)
	})
}
