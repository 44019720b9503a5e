package auth

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults and limits.
const (
	// MaxTokenBytes is the longest token Verify looks at; longer ones are
	// refused before parsing.
	MaxTokenBytes = 8 << 10
	// MinHMACSecretBytes is the shortest HMAC secret New accepts.
	MinHMACSecretBytes = 32

	defaultJWKSRefreshInterval       = time.Hour
	defaultJWKSRefreshUnknownKIDRate = time.Minute
	defaultJWKSMaxBytes              = 1 << 20
	defaultJWKSTimeout               = 5 * time.Second
)

// Config configures a Verifier. The zero value is not valid: at least
// Algorithms and a key source are needed. New copies it and never changes the
// caller's values.
type Config struct {
	// Algorithms is the allow-list of JWS algorithms. Required. Supported:
	// HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512
	// EdDSA. "none" is never accepted.
	Algorithms []string

	// HMACSecret is the shared secret for HS* tokens; at least 32 bytes when an
	// HS algorithm is allowed, and refused when none is (an unused secret is a
	// configuration mistake). A value that looks like PEM is refused.
	HMACSecret []byte

	// PublicKeys verify RS*/PS*/ES*/EdDSA tokens, e.g. from ParsePublicKeyPEM.
	// Each must be usable by at least one allowed algorithm.
	PublicKeys []crypto.PublicKey

	// JWKSURL is an http or https URL of a JSON Web Key Set, fixed here and
	// never taken from a token. Requires Issuer.
	JWKSURL string
	// JWKSRefreshInterval is how often the set is fetched again. Default 1h.
	JWKSRefreshInterval time.Duration
	// JWKSRefreshUnknownKIDRate is the minimum time between two fetches caused
	// by tokens with a kid not in the cached set. Between them such tokens
	// fail at once, without a fetch. Default 1m.
	JWKSRefreshUnknownKIDRate time.Duration
	// JWKSHTTPClient fetches the set. Nil: a client with a 5s timeout that
	// follows no redirects. A given client is copied, not modified.
	JWKSHTTPClient *http.Client
	// JWKSMaxBytes is the largest JWKS body read; a larger one is refused and
	// the previous set kept. Default 1 MiB.
	JWKSMaxBytes int64

	// Issuer, when non-empty, must equal the token's iss.
	Issuer string
	// Audience, when non-empty, must be one of the token's aud values.
	Audience string
	// Leeway is the clock skew allowed when checking exp, nbf and iat.
	// Default 0; must not be negative.
	Leeway time.Duration
	// AllowMissingExp accepts tokens without exp. Default false: exp is
	// required.
	AllowMissingExp bool

	// Logger receives JWKS fetch failures. Nil discards. Tokens and secrets are
	// never logged.
	Logger *slog.Logger
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// algFamily is the key type an algorithm needs.
type algFamily int

const (
	familyHMAC algFamily = iota + 1
	familyRSA
	familyEC
	familyEd25519
)

var supportedAlgs = map[string]algFamily{
	"HS256": familyHMAC, "HS384": familyHMAC, "HS512": familyHMAC,
	"RS256": familyRSA, "RS384": familyRSA, "RS512": familyRSA,
	"PS256": familyRSA, "PS384": familyRSA, "PS512": familyRSA,
	"ES256": familyEC, "ES384": familyEC, "ES512": familyEC,
	"EdDSA": familyEd25519,
}

// withDefaults returns a copy of c with defaults filled in; slices are
// cloned so later changes by the caller do not reach the Verifier.
func (c Config) withDefaults() Config {
	c.Algorithms = slices.Clone(c.Algorithms)
	c.HMACSecret = bytes.Clone(c.HMACSecret)
	c.PublicKeys = slices.Clone(c.PublicKeys)
	if c.JWKSRefreshInterval == 0 {
		c.JWKSRefreshInterval = defaultJWKSRefreshInterval
	}
	if c.JWKSRefreshUnknownKIDRate == 0 {
		c.JWKSRefreshUnknownKIDRate = defaultJWKSRefreshUnknownKIDRate
	}
	if c.JWKSMaxBytes == 0 {
		c.JWKSMaxBytes = defaultJWKSMaxBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// validate returns every problem of c at once.
func (c Config) validate() error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("auth: "+format, args...))
	}
	families := map[algFamily]bool{}
	if len(c.Algorithms) == 0 {
		add("Algorithms is empty: list the allowed algorithms")
	}
	for _, a := range c.Algorithms {
		f, ok := supportedAlgs[a]
		if !ok {
			add("algorithm %q is not supported", a)
			continue
		}
		families[f] = true
	}
	errs = append(errs, c.validateSecret(families[familyHMAC])...)
	errs = append(errs, c.validatePublicKeys()...)
	errs = append(errs, c.validateJWKS()...)
	if c.Leeway < 0 {
		add("Leeway must not be negative")
	}
	return errors.Join(errs...)
}

func (c Config) validateSecret(hmacAllowed bool) []error {
	var errs []error
	switch {
	case hmacAllowed && len(c.HMACSecret) < MinHMACSecretBytes:
		errs = append(errs, fmt.Errorf("auth: HMACSecret must be at least %d bytes when an HS algorithm is allowed (have %d)", MinHMACSecretBytes, len(c.HMACSecret)))
	case !hmacAllowed && len(c.HMACSecret) > 0:
		errs = append(errs, errors.New("auth: HMACSecret is set but no HS algorithm is allowed"))
	}
	if bytes.Contains(c.HMACSecret, []byte("-----BEGIN")) {
		errs = append(errs, errors.New("auth: HMACSecret looks like a PEM key; a public key must never be an HMAC secret"))
	}
	return errs
}

func (c Config) validatePublicKeys() []error {
	var errs []error
	for i, k := range c.PublicKeys {
		if err := checkPublicKey(k); err != nil {
			errs = append(errs, fmt.Errorf("auth: PublicKeys[%d]: %w", i, err))
			continue
		}
		if !slices.ContainsFunc(c.Algorithms, func(a string) bool { return keyFitsAlg(k, a) }) {
			errs = append(errs, fmt.Errorf("auth: PublicKeys[%d] (%s) fits none of the allowed algorithms", i, keyKind(k)))
		}
	}
	for _, a := range c.Algorithms {
		if f := supportedAlgs[a]; f == 0 || f == familyHMAC || c.JWKSURL != "" {
			continue
		}
		if !slices.ContainsFunc(c.PublicKeys, func(k crypto.PublicKey) bool { return keyFitsAlg(k, a) }) {
			errs = append(errs, fmt.Errorf("auth: algorithm %s is allowed but no public key fits it and no JWKSURL is set", a))
		}
	}
	return errs
}

func (c Config) validateJWKS() []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("auth: "+format, args...))
	}
	if c.JWKSURL == "" {
		return nil
	}
	u, err := url.Parse(c.JWKSURL)
	switch {
	case err != nil:
		add("JWKSURL is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		add("JWKSURL must be an http or https URL")
	case u.Host == "":
		add("JWKSURL has no host")
	case u.User != nil:
		add("JWKSURL must not carry credentials")
	}
	if strings.TrimSpace(c.Issuer) == "" {
		add("JWKSURL requires Issuer: JWKS keys are bound to one issuer")
	}
	if c.JWKSRefreshInterval < 0 {
		add("JWKSRefreshInterval must not be negative")
	}
	if c.JWKSRefreshUnknownKIDRate < 0 {
		add("JWKSRefreshUnknownKIDRate must not be negative")
	}
	if c.JWKSMaxBytes < 0 {
		add("JWKSMaxBytes must not be negative")
	}
	return errs
}

// Validate checks cfg the way New does, without fetching anything, and
// returns every problem at once.
func (c Config) Validate() error { return c.withDefaults().validate() }
