// Package clientip decides which IP address a request comes from, for per-IP
// limits and logs, when the server may sit behind reverse proxies.
//
// The answer is the TCP peer, unless the peer is one of the operator's
// trusted proxies. Only then are the forwarding headers read: RFC 7239
// Forwarded when present (its "for=" parameter), otherwise X-Forwarded-For.
// Every header line counts, in order, as one comma-separated list. The list is
// walked from the right, skipping addresses that are themselves trusted
// proxies, and the first untrusted address is the client: everything to its
// left was written by the client and may be forged. When every address is
// trusted the left-most one is taken.
//
// An "unknown" or obfuscated ("_hidden") node stops the walk: nothing left
// of it can be believed, and the answer is the nearest known hop to its
// right (a trusted proxy, or the peer). A malformed element that the walk has
// to read makes the whole header unusable and the answer is the peer;
// elements left of the answer are never read, so a client cannot disturb the
// result by sending garbage in its own copy of the header.
//
// Work is linear and bounded: at most MaxHops elements and MaxHeaderBytes
// bytes, counted from the right, are considered; anything further left is
// ignored as if absent. IPv4-mapped IPv6 addresses are unmapped and zones are
// dropped, so one client has one address.
//
// The package does not decide what to do with the address (limits, logs),
// and it does not look at X-Real-IP or other vendor headers.
package clientip
