// Package origin decides whether a WebSocket handshake's Origin header names a
// site the operator allowed, which is the defence against cross-site
// WebSocket hijacking (a page on another site opening a socket that rides on
// the user's cookies).
//
// A pattern is a serialized origin, scheme "://" host [":" port], with the
// scheme http or https:
//
//	https://app.example.com      exactly that origin (port 443 implied)
//	http://127.0.0.1:8080        an IP literal and an explicit port
//	https://[::1]:8443           an IPv6 literal
//	https://*.example.com        any subdomain of example.com, at any depth,
//	                             but not example.com itself
//
// Scheme, host and port must all match. Default ports are normalised
// (https://a.com equals https://a.com:443) and scheme and host compare
// case-insensitively. A wildcard must be the whole left-most label and must
// be followed by at least two labels, so "https://*.com" is refused; the
// package has no public-suffix list, so "https://*.co.uk" is the operator's
// responsibility.
//
// Allow is strict about what it accepts, because browsers serialize origins
// in one canonical form: "null", an empty value, anything with userinfo, a
// path (even "/"), a query or a fragment, a trailing dot, a non-ASCII host
// (browsers send IDNs in their punycode "xn--" form, and patterns must be
// written that way too), a malformed port and values over 2048 bytes are all
// refused.
//
// The package does not decide what to do when the header is missing (that is
// the caller's "allow_missing" switch), does not read HTTP requests and does
// not log.
package origin
