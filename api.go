package rampart

import (
	"net/http"

	"github.com/rampart-rt/rampart/internal/httpapi"
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
