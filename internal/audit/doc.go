// Package audit is `rampart audit`: it probes a running WebSocket endpoint
// from the outside, the way an attacker would, and gives one verdict per
// check: PASS, FAIL (a finding, with a severity and a fix), N/A, INFO or
// SKIP.
//
// It decides what is checked and what answer passes. The generic checks
// hold for any WebSocket server: cross-site hijacking (foreign, null,
// look-alike and missing Origin), upgrades without credentials and what
// the server does with them, RFC 6455 conformance an attacker abuses, the
// message size actually enforced, decompression bombs, slow handshakes,
// idle connections, connections and handshakes per address, error text
// that leaks internals, security headers, TLS versions, suites and
// certificate, HSTS. A profile (rampart, socketio, centrifugo) adds the
// checks that need an application protocol; without one, no check assumes
// a protocol. The report is a table, JSON, or SARIF 2.1.0; Run's error
// says whether findings reach the --fail-on severity (ErrFindings) or the
// baseline failed (ErrInconclusive).
//
// It connects only to the host and port of the URL it is given, never
// follows a redirect, holds at most Options.MaxConns connections at once,
// bounds every burst by count and the whole audit by Options.Duration, and
// never prints the token or the cookie. What it reads is untrusted: every
// read is bounded in bytes and time. It decides nothing about the server:
// a 429 or 503 says the server is limiting, and the check is skipped.
// Frames go through internal/wstest.
package audit
