// Package protocol is the one list of what travels on a Rampart connection:
// the commands a client may send (parsed strictly, once, at the edge), the
// replies and pushes the server sends, the error codes and the close codes.
//
// It decides what a well-formed frame is. It does not decide whether the
// sender may do what the frame asks (package policy does) or what the server
// does with it.
package protocol
