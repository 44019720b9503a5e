package rampart

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"github.com/rampart-rt/rampart/protocol"
)

// scopedIdempotencyKey is the key the broker remembers for a publisher's
// idempotency key: a hash of who publishes (a user, or the HTTP API) and
// the key, so that one publisher can never hit, or guess its way into,
// another's keys. Empty stays empty.
func scopedIdempotencyKey(scope, key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(scope + "\n" + key))
	return hex.EncodeToString(sum[:16])
}

// apiIdempotencyKey reads a publish's key from the body or the
// Idempotency-Key header (one of them, or both the same); a malformed key
// answers 400.
func (s *Server) apiIdempotencyKey(w http.ResponseWriter, r *http.Request, inBody string) (string, bool) {
	key := inBody
	if h := r.Header.Get("Idempotency-Key"); h != "" {
		if key != "" && key != h {
			s.apiError(w, r, http.StatusBadRequest, "bad_request", "idempotency_key and the Idempotency-Key header differ")
			return "", false
		}
		key = h
	}
	if !protocol.ValidIdempotencyKey(key) {
		s.apiError(w, r, http.StatusBadRequest, "bad_request", "idempotency_key: 1 to 64 characters of A-Z a-z 0-9 _ . : @ -")
		return "", false
	}
	return key, true
}
