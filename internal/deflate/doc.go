// Package deflate compresses outgoing messages for permessage-deflate
// (RFC 7692) without context takeover, where each message is compressed on
// its own, so the compressed bytes are the same for every connection: a
// publication fanned out to many subscribers is compressed once, by the
// first connection that needs it, and the others reuse the result.
//
// It decides nothing about negotiation, thresholds or which connection
// compresses (the server does), and writes no frames (the WebSocket
// library does, from the bytes given here).
package deflate
