// Package auth decides whether a JWT is authentic and current, and whom it
// names.
//
// A [Verifier] checks a token's signature against keys chosen by
// configuration only (an HMAC secret, PKIX public keys, and one JWKS URL),
// enforces an explicit algorithm allow-list, checks exp, nbf, iat, iss and aud,
// and returns the typed [Claims] the rest of the server works with: subject,
// roles, expiry and the CSRF value of a cookie session.
//
// It does not decide what the named user may do (that is package policy), where
// a token comes from (header, subprotocol, cookie or query: the handshake's
// job), nor how a failure is shown to a client. Every failure wraps
// [ErrInvalidToken]; an expired but otherwise good token returns [ErrExpired]
// so that callers can ask for a refresh. Error texts name a category only and
// never contain the token or a secret.
//
// # Keys
//
// The key type must match the token's algorithm family: HS* tokens are checked
// with the HMAC secret only, RS*/PS* with RSA keys (at least 2048 bits), ES*
// with ECDSA keys of the matching curve, EdDSA with Ed25519 keys. Header
// parameters that name keys (jku, x5u, jwk, x5c) are never read; a token with a
// crit header is refused.
//
// # JWKS
//
// With a JWKS URL the Verifier selects a key by the token's kid, after checking
// that the token names the configured issuer (a JWKS requires one, so keys are
// bound to it). The set is fetched with a timeout and a size limit, cached,
// refreshed every JWKSRefreshInterval, and refreshed on an unknown kid at most
// once per JWKSRefreshUnknownKIDRate. A failed fetch keeps the last good set. A
// JWK's own alg, when present, must equal the token's alg; its use, when
// present, must be "sig".
package auth
