// Package audit is `rampart audit`: it probes a running endpoint from the
// outside, the way an attacker would, and gives one verdict per check:
// PASS, FAIL, WARN, INFO or SKIP. It decides what is checked (the
// handshake's refusals: no token, alg none, a flipped signature bit,
// foreign origins, no subprotocol; the frames: binary, invalid UTF-8, over
// max_message_bytes, an unknown field; compression, the refusal's headers,
// TLS 1.1, HSTS, plaintext to a remote host), what answer passes, and the
// report's two forms: text lines, or a JSON array of {check, result,
// detail}. Only FAIL fails the run (ErrFailed).
//
// It connects only to the host of the URL it is given, one connection per
// check, each bounded by Options.Timeout, and never prints the token. The
// frames go through internal/wstest. It decides nothing about the server:
// a 429 or 503 says the server is limiting, and the check is skipped.
package audit
