package rampart

import (
	"net/http"

	"github.com/rampart-rt/rampart/internal/httpapi"
)

// apiHandler serves /api/*: the HTTP adapter over the server-side API.
func (s *Server) apiHandler() *httpapi.Handler {
	return httpapi.New(httpapi.Options{
		Server:       s,
		Keys:         func() httpapi.Keys { return s.st().apiKeys },
		MaxBodyBytes: func() int { return s.st().cfg.API.MaxBodyBytes },
		RequestID:    s.newRequestID,
		ClientIP:     func(r *http.Request) string { return s.st().clientIP.ClientIP(r.RemoteAddr, r.Header).String() },
		WithID:       WithRequestID,
		Log:          s.log,
	})
}
