// Package wstest is a raw WebSocket client for tests, and for `rampart
// audit`, which probes a server from outside with it. It performs the HTTP
// upgrade itself and hands back the server's response when there is no 101,
// and it writes whatever frame a test asks for, including the ones a correct
// client never sends: unmasked frames, reserved bits, unknown opcodes,
// fragmented or oversized control frames, invalid UTF-8 and
// permessage-deflate payloads on a connection that never negotiated it.
// Below frames, AppendHeader writes any header (a length that lies, in a
// longer form than needed, or with the top bit of a 64-bit length set) and
// WriteRaw any bytes, cut wherever the test likes.
//
// ReadServerFrame holds what the server sends to RFC 6455 frame by frame;
// ReadFrame and ReadMessage only decode it. Dial connects over TCP;
// Handshake upgrades a connection the caller opened, through TLS say.
//
// Its non-test files never import "testing", so that a command can use it.
//
// It decides nothing about Rampart's protocol above the frame layer, and it
// is not a client to build on: it keeps no state beyond the socket, answers
// pings only inside ReadMessage, and trusts the server's frame lengths up to
// MaxFrameBytes, or the lower bound of SetReadLimit.
package wstest
