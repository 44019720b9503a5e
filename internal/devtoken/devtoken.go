package devtoken

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretBytes is the shortest HMAC secret Mint accepts.
const MinSecretBytes = 32

// Claims are what a minted token says. Sub and TTL are required; the
// others are left out of the token when empty.
type Claims struct {
	Sub   string        // the user id
	Roles []string      // the roles claim
	TTL   time.Duration // lifetime: exp is now + TTL
	Iss   string        // issuer
	Aud   string        // audience
	CSRF  string        // csrf claim, for cookie sessions
}

// Mint returns c signed with HS256 under secret. Its errors name the
// command-line flag of `rampart token` that is wrong.
func Mint(secret []byte, c Claims) (string, error) {
	if len(secret) < MinSecretBytes {
		return "", errors.New("the HMAC secret must be at least 32 bytes")
	}
	if c.Sub == "" {
		return "", errors.New("--sub is required")
	}
	if c.TTL <= 0 {
		return "", errors.New("--ttl must be positive")
	}
	now := time.Now()
	m := jwt.MapClaims{"sub": c.Sub, "iat": now.Unix(), "exp": now.Add(c.TTL).Unix()}
	if len(c.Roles) > 0 {
		m["roles"] = c.Roles
	}
	for k, v := range map[string]string{"iss": c.Iss, "aud": c.Aud, "csrf": c.CSRF} {
		if v != "" {
			m[k] = v
		}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, m).SignedString(secret)
}
