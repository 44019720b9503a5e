// Package hub keeps which local connections subscribe to which channel and
// fans each publication the broker delivers out to them: encoded once, the
// same bytes queued to every subscriber without blocking (wrapped in a
// deflate.Message, so that subscribers that negotiated compression share
// one compressed form).
//
// It knows connections only as Subscribers (send a frame without blocking;
// close with a code) and imports no WebSocket library. It decides the
// order a new subscriber sees: publications that arrive while its
// subscribe reply is being prepared are buffered (bounded by the send
// queue) and sent after the reply, above the reply's offset, so each
// subscription sees strictly increasing offsets.
package hub
