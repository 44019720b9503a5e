// Package policy decides who may do what on which channel: the channel rules
// of the configuration, matched in order, first match wins, and anything a
// rule does not grant is denied.
//
// It does not authenticate anyone (package auth says who a token names) and
// does not count anything (package limits counts connections and
// handshakes; the server, each connection's messages).
package policy
