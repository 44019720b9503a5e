package rampart

import (
	"context"
	"net/http"
	"time"

	"github.com/rampart-rt/rampart/internal/httpapi"
	"github.com/rampart-rt/rampart/protocol"
)

// AdminHandler serves the operator endpoints: GET /metrics, POST
// /admin/drain, /console/ when console.enabled is set, and /api/* when
// api.admin_only is set. Mount it on an admin
// listener; with AdminSeparate unset the main handler serves them too.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	s.adminRoutes(mux)
	if s.st().cfg.API.AdminOnly {
		mux.Handle("/api/", s.api)
	}
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.console != nil {
		mux.Handle("/console/", s.console.Handler())
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) adminRoutes(mux *http.ServeMux) {
	if s.gatherer != nil {
		mux.Handle("GET /metrics", s.metricsHandler())
	}
	mux.HandleFunc("POST /admin/drain", s.adminDrain)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 only while the server can serve: not draining, and
// its broker and connection limiter (when they can be asked: broker.Pinger)
// answer. A load balancer then stops sending clients that every handshake
// would refuse.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	switch {
	case s.reg.draining.Load():
		httpapi.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
	case !s.backends.ready(r.Context()):
		httpapi.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
	default:
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

// adminDrain starts draining: POST /admin/drain?window=30s with an API key.
func (s *Server) adminDrain(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Request-Id", s.newRequestID())
	if !s.api.Authorized(w, r, "rampart-admin") {
		return
	}
	window := s.st().cfg.Limits.ShutdownSpread
	if v := r.URL.Query().Get("window"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Hour {
			s.api.Error(w, r, http.StatusBadRequest, protocol.CodeBadRequest, "window must be a duration up to 1h")
			return
		}
		window = d
	}
	n := s.Connections()
	s.goBackground(func() { s.Drain(s.ctx, window) })
	httpapi.WriteJSON(w, http.StatusAccepted, map[string]any{"draining": true, "connections": n, "window": window.String()})
}

// Drain makes the server unready (/readyz 503), refuses new connections
// with 503 and closes the open ones with 1001, spread evenly over window so
// that clients do not reconnect all at once. It returns when every close
// frame is queued or ctx is done. Connections stay counted until they are
// gone; Shutdown still has to be called to stop the server.
func (s *Server) Drain(ctx context.Context, window time.Duration) {
	if s.reg.draining.Swap(true) {
		return
	}
	s.log.Info("draining", "event", "drain_started", "connections", s.Connections(), "window", window.String())
	s.reg.closeAll(ctx, window, protocol.CloseGoingAway, protocol.CloseCodes[protocol.CloseGoingAway])
}

// Draining reports whether the server refuses new connections.
func (s *Server) Draining() bool { return s.reg.draining.Load() }
