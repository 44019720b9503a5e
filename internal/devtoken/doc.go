// Package devtoken mints the HS256 tokens of `rampart token`, for
// development, tests and the load generator: it decides which claims such a
// token carries (sub, iat, exp, and roles, iss, aud and csrf when given)
// and refuses a secret shorter than 32 bytes.
//
// It verifies nothing (package auth does), and it is not an issuer for
// production sessions: it knows no key other than one HMAC secret.
package devtoken
