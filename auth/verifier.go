package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken is wrapped by every verification failure.
var ErrInvalidToken = errors.New("auth: invalid token")

// ErrExpired is returned for a token whose only fault is that it expired. It
// wraps ErrInvalidToken.
var ErrExpired = fmt.Errorf("%w: expired", ErrInvalidToken)

// Claims is what a valid token says about its holder.
type Claims struct {
	Subject   string    // sub, never empty
	Roles     []string  // roles; nil when absent
	ExpiresAt time.Time // exp; zero when the token has none
	IssuedAt  time.Time // iat; zero when the token has none
	CSRF      string    // csrf, for cookie sessions; empty when absent
	Issuer    string    // iss
}

// tokenClaims is the JSON shape of a token's payload. A claim of the wrong
// type (roles not an array of strings, sub not a string) fails decoding.
// The dates are json.Number, decoded in place: jwt.NumericDate would run a
// decoder of its own for each of them (three more json.Unmarshal calls
// and their allocations per token, and a deeper stack). They accept what
// NumericDate accepts: a number, or a string holding one.
type tokenClaims struct {
	Issuer    string           `json:"iss,omitempty"`
	Subject   string           `json:"sub,omitempty"`
	Audience  jwt.ClaimStrings `json:"aud,omitempty"`
	ExpiresAt json.Number      `json:"exp,omitempty"`
	NotBefore json.Number      `json:"nbf,omitempty"`
	IssuedAt  json.Number      `json:"iat,omitempty"`
	ID        string           `json:"jti,omitempty"`
	Roles     []string         `json:"roles"`
	CSRF      string           `json:"csrf"`
}

func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return numericDate(c.ExpiresAt)
}
func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error) { return numericDate(c.NotBefore) }
func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)  { return numericDate(c.IssuedAt) }
func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error)  { return c.Audience, nil }
func (c *tokenClaims) GetIssuer() (string, error)              { return c.Issuer, nil }
func (c *tokenClaims) GetSubject() (string, error)             { return c.Subject, nil }

// numericDate reads a date claim as jwt.NumericDate does: seconds since
// the epoch, fractions kept to jwt.TimePrecision; nil when absent.
func numericDate(n json.Number) (*jwt.NumericDate, error) {
	if n == "" {
		return nil, nil
	}
	f, err := n.Float64()
	if err != nil {
		return nil, fmt.Errorf("%w: a date is out of range", jwt.ErrTokenMalformed)
	}
	sec, frac := math.Modf(f)
	return jwt.NewNumericDate(time.Unix(int64(sec), int64(frac*1e9))), nil
}

// dateOf is a date claim as a time, zero when absent or unreadable.
func dateOf(n json.Number) time.Time {
	d, _ := numericDate(n)
	if d == nil {
		return time.Time{}
	}
	return d.Time
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	parser  *jwt.Parser
	allowed map[string]algFamily
	secret  []byte
	static  map[string]jwt.VerificationKeySet // by alg: the static keys that fit it
	issuer  string
	jwks    *jwksSource // nil without JWKSURL

	closeOnce sync.Once
}

// New validates cfg, returning every problem at once, and builds a Verifier.
// With a JWKSURL it fetches the set once, bounded by ctx and a 5s timeout;
// a failed first fetch is logged, not returned, and retried by the first
// token with an unknown kid and by every periodic refresh. ctx bounds only
// that first fetch: the refresh runs until Close.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	v := &Verifier{
		allowed: make(map[string]algFamily, len(cfg.Algorithms)),
		secret:  cfg.HMACSecret,
		static:  make(map[string]jwt.VerificationKeySet),
		issuer:  cfg.Issuer,
	}
	for _, a := range cfg.Algorithms {
		v.allowed[a] = supportedAlgs[a]
		for _, k := range cfg.PublicKeys {
			if keyFitsAlg(k, a) {
				set := v.static[a]
				set.Keys = append(set.Keys, k)
				v.static[a] = set
			}
		}
	}
	v.parser = jwt.NewParser(parserOptions(cfg)...)
	if cfg.JWKSURL != "" {
		v.jwks = newJWKSSource(ctx, cfg)
	}
	return v, nil
}

func parserOptions(cfg Config) []jwt.ParserOption {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(slices.Compact(slices.Sorted(slices.Values(cfg.Algorithms)))),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	}
	if !cfg.AllowMissingExp {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return opts
}

// Close stops the JWKS refresh and waits for it. It is safe to call more than
// once; Verify keeps working with the keys it has.
func (v *Verifier) Close() error {
	v.closeOnce.Do(func() {
		if v.jwks != nil {
			v.jwks.close()
		}
	})
	return nil
}

// Verify checks token and returns its claims. Every error wraps
// ErrInvalidToken; an expired token gives ErrExpired. ctx bounds a JWKS fetch
// caused by an unknown kid.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if len(token) > MaxTokenBytes {
		return nil, invalid("token too large")
	}
	var tc tokenClaims
	tok, err := v.parser.ParseWithClaims(token, &tc, v.keyFunc(ctx))
	if err != nil {
		return nil, v.classify(tok, err)
	}
	if tc.Subject == "" {
		return nil, invalid("missing sub")
	}
	c := &Claims{
		Subject: tc.Subject,
		Roles:   tc.Roles,
		CSRF:    tc.CSRF,
		Issuer:  tc.Issuer,
	}
	c.ExpiresAt = dateOf(tc.ExpiresAt)
	c.IssuedAt = dateOf(tc.IssuedAt)
	return c, nil
}

var (
	errCrit        = errors.New("crit header")
	errWrongIssuer = errors.New("issuer does not match")
	errNoKey       = errors.New("no key for this algorithm")
)

// keyFunc picks the keys a token may be verified with. It runs after the
// parser has checked the alg against the allow-list, and never reads header
// parameters that carry or point to keys (jwk, jku, x5u, x5c).
func (v *Verifier) keyFunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			return nil, errCrit
		}
		alg := t.Method.Alg()
		switch v.allowed[alg] {
		case 0:
			return nil, errNoKey // unreachable: the parser checked the allow-list
		case familyHMAC:
			return v.secret, nil
		}
		static := v.static[alg]
		if v.jwks == nil {
			if len(static.Keys) == 0 {
				return nil, errNoKey
			}
			return static, nil
		}
		// JWKS keys are bound to the configured issuer: look a kid up only
		// for a token that names it, so no other issuer can use the set, or
		// cause a fetch.
		if iss, _ := t.Claims.GetIssuer(); iss != v.issuer {
			return nil, errWrongIssuer
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			if len(static.Keys) > 0 {
				return static, nil
			}
			return nil, errKIDMissing
		}
		key, err := v.jwks.key(ctx, kid, alg)
		if err != nil {
			if len(static.Keys) > 0 {
				return static, nil
			}
			return nil, err
		}
		return jwt.VerificationKeySet{Keys: append([]jwt.VerificationKey{key}, static.Keys...)}, nil
	}
}

func invalid(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, reason)
}

// classify turns a jwt error into one that names the category only: jwt's
// own texts may quote parts of the token.
func (v *Verifier) classify(tok *jwt.Token, err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return invalid("malformed")
	case tok != nil && !v.algAllowed(tok):
		return invalid("algorithm not allowed")
	case errors.Is(err, errWrongIssuer), errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return invalid("wrong issuer")
	case errors.Is(err, errCrit):
		return invalid("crit header not supported")
	case errors.Is(err, errKIDMissing):
		return invalid("missing kid")
	case errors.Is(err, errKIDUnknown):
		return invalid("unknown kid")
	case errors.Is(err, errJWKMismatch):
		return invalid("key does not fit the algorithm")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return invalid("no key for the algorithm")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return invalid("bad signature")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return invalid("wrong audience")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return invalid("required claim missing")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return invalid("not valid yet")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return invalid("issued in the future")
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	}
	return invalid("rejected")
}

func (v *Verifier) algAllowed(tok *jwt.Token) bool {
	alg, _ := tok.Header["alg"].(string)
	_, ok := v.allowed[alg]
	return ok
}
