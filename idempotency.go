package rampart

import (
	"crypto/sha256"
	"encoding/hex"
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
