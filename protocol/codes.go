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
