package protocol

// Code is an error code carried in an error reply. Clients switch on it; the
// message next to it is for people.
type Code string

// The error codes. A client never sees any other.
const (
	CodeBadRequest        Code = "bad_request"
	CodeUnauthorized      Code = "unauthorized"
	CodeForbidden         Code = "forbidden"
	CodeNotFound          Code = "not_found"
	CodeAlreadySubscribed Code = "already_subscribed"
	CodeLimitExceeded     Code = "limit_exceeded"
	CodeRateLimited       Code = "rate_limited"
	CodeUnavailable       Code = "unavailable"
	CodeInternal          Code = "internal"
)

// Codes lists every error code, in the order the protocol documents them.
var Codes = []Code{
	CodeBadRequest, CodeUnauthorized, CodeForbidden, CodeNotFound,
	CodeAlreadySubscribed, CodeLimitExceeded, CodeRateLimited,
	CodeUnavailable, CodeInternal,
}

// The codes of a refused handshake (an HTTP answer before any upgrade) that
// are not also reply codes. The body is an APIError.
const (
	CodeBadHandshake        Code = "bad_handshake"        // not a valid RFC 6455 upgrade: 400
	CodeUnsupportedVersion  Code = "unsupported_version"  // Sec-WebSocket-Version is not 13: 426
	CodeSubprotocolRequired Code = "subprotocol_required" // rampart.v1 not offered: 400
	CodeOriginRefused       Code = "origin_refused"       // Origin not in origins.allow: 403
	CodeCSRFFailed          Code = "csrf_failed"          // a cookie's token without its CSRF value: 403
)

// RefusalCodes lists every code a refused handshake carries: with
// unauthorized, rate_limited, unavailable, not_found and forbidden (the
// connect hook's refusal: 403) from Codes.
var RefusalCodes = []Code{
	CodeBadHandshake, CodeUnsupportedVersion, CodeUnavailable, CodeRateLimited,
	CodeOriginRefused, CodeSubprotocolRequired, CodeCSRFFailed, CodeUnauthorized,
	CodeNotFound, CodeForbidden,
}

// Error makes a Code an error value to compare with errors.Is: every error
// the server-side Go API returns matches the Code it would send a client.
func (c Code) Error() string { return string(c) }

// Close codes the server sends.
const (
	CloseNormal          uint16 = 1000
	CloseGoingAway       uint16 = 1001 // shutdown or drain: reconnect elsewhere
	CloseProtocolError   uint16 = 1002
	CloseUnsupportedData uint16 = 1003 // binary frame on a JSON connection
	CloseInvalidPayload  uint16 = 1007 // invalid UTF-8
	ClosePolicyViolation uint16 = 1008
	CloseMessageTooBig   uint16 = 1009
	CloseInternalError   uint16 = 1011
	CloseTryAgainLater   uint16 = 1013
	CloseTokenExpired    uint16 = 4001
	CloseSlowConsumer    uint16 = 4009
	CloseRateLimitAbuse  uint16 = 4029
)

// CloseCodes maps every close code the server sends to its short reason,
// which is also the reason text of the close frame.
var CloseCodes = map[uint16]string{
	CloseNormal:          "normal",
	CloseGoingAway:       "going away",
	CloseProtocolError:   "protocol error",
	CloseUnsupportedData: "binary frames not accepted",
	CloseInvalidPayload:  "invalid utf-8",
	ClosePolicyViolation: "policy violation",
	CloseMessageTooBig:   "message too big",
	CloseInternalError:   "internal error",
	CloseTryAgainLater:   "try again later",
	CloseTokenExpired:    "token expired",
	CloseSlowConsumer:    "slow consumer",
	CloseRateLimitAbuse:  "rate limit abuse",
}

// Subprotocol is the WebSocket subprotocol the server speaks.
const Subprotocol = "rampart.v1"

// BearerPrefix starts a second offered subprotocol that carries a token
// (browsers cannot set an Authorization header on a WebSocket).
const BearerPrefix = "rampart.bearer."
