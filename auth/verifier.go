package auth

import (
	"context"
	"errors"
	"fmt"
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
type tokenClaims struct {
	jwt.RegisteredClaims
	Roles []string `json:"roles"`
	CSRF  string   `json:"csrf"`
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
	if tc.ExpiresAt != nil {
		c.ExpiresAt = tc.ExpiresAt.Time
	}
	if tc.IssuedAt != nil {
		c.IssuedAt = tc.IssuedAt.Time
	}
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
