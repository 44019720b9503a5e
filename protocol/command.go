package protocol

import (
	"errors"
	"fmt"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The actions a client may send.
const (
	ActionSubscribe   = "subscribe"
	ActionUnsubscribe = "unsubscribe"
	ActionPublish     = "publish"
	ActionHistory     = "history"
	ActionPresence    = "presence"
	ActionRefresh     = "refresh"
	ActionRPC         = "rpc"
	ActionPing        = "ping"
)

// Actions lists every action, in the order the protocol documents them.
var Actions = []string{
	ActionSubscribe, ActionUnsubscribe, ActionPublish, ActionHistory,
	ActionPresence, ActionRefresh, ActionRPC, ActionPing,
}

// Limits of the parser, applied before any other work.
const (
	MaxDepth         = 32  // nesting of objects and arrays, the frame itself included
	MaxChannelLength = 128 // bytes
	MaxMethodLength  = 128 // bytes
	MaxTokenLength   = 8192
)

// Since asks for the publications after a known position in a channel.
type Since struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// Command is one client frame, parsed and checked.
type Command struct {
	ID      uint64         `json:"id"`
	Action  string         `json:"action"`
	Channel string         `json:"channel,omitzero"`
	Data    jsontext.Value `json:"data,omitzero"`
	Since   *Since         `json:"since,omitzero"`
	Limit   *int           `json:"limit,omitzero"`
	Token   string         `json:"token,omitzero"`
	Method  string         `json:"method,omitzero"`
	// IdempotencyKey makes a publish safe to retry: the same key on the
	// same channel within two minutes publishes once (see PROTOCOL).
	IdempotencyKey string `json:"idempotency_key,omitzero"`
}

// ParseError says why a frame was refused. Reason is safe to send back: it
// names fields, never echoes values.
type ParseError struct {
	ID     uint64 // the command's id when it could be read, else 0
	Reason string
}

func (e *ParseError) Error() string { return "protocol: " + e.Reason }

// fields says which optional fields each action takes; "r" marks required.
var fields = map[string]map[string]byte{
	ActionSubscribe:   {"channel": 'r', "since": 'o'},
	ActionUnsubscribe: {"channel": 'r'},
	ActionPublish:     {"channel": 'r', "data": 'r', "idempotency_key": 'o'},
	ActionHistory:     {"channel": 'r', "limit": 'o', "since": 'o'},
	ActionPresence:    {"channel": 'r'},
	ActionRefresh:     {"token": 'r'},
	ActionRPC:         {"method": 'r', "data": 'o'},
	ActionPing:        {},
}

// ParseCommand parses one text frame strictly: one JSON object, no unknown
// or duplicate keys (anywhere, data included), nesting at most MaxDepth,
// every value of its documented type, only the fields its action takes.
func ParseCommand(frame []byte) (Command, error) {
	var c Command
	if d := depth(frame); d > MaxDepth {
		return c, &ParseError{ID: peekID(frame), Reason: fmt.Sprintf("nesting deeper than %d levels", MaxDepth)}
	}
	if err := json.Unmarshal(frame, &c, json.RejectUnknownMembers(true)); err != nil {
		return Command{}, &ParseError{ID: peekID(frame), Reason: describe(err)}
	}
	if err := c.check(); err != nil {
		return Command{}, &ParseError{ID: c.ID, Reason: err.Error()}
	}
	return c, nil
}

func (c *Command) check() error {
	if c.ID == 0 {
		return errors.New("id must be a positive integer")
	}
	want, ok := fields[c.Action]
	if !ok {
		return errors.New("unknown action")
	}
	present := map[string]bool{
		"channel": c.Channel != "",
		"data":    c.Data != nil,
		"since":   c.Since != nil,
		"limit":   c.Limit != nil,
		"token":   c.Token != "",
		"method":  c.Method != "",

		"idempotency_key": c.IdempotencyKey != "",
	}
	for name, has := range present {
		need, allowed := want[name]
		switch {
		case has && !allowed:
			return fmt.Errorf("field %q is not taken by %s", name, c.Action)
		case !has && need == 'r':
			return fmt.Errorf("field %q is required", name)
		}
	}
	return c.checkValues()
}

func (c *Command) checkValues() error {
	if c.Channel != "" && !ValidChannel(c.Channel) {
		return errors.New("invalid channel name")
	}
	if c.Limit != nil && *c.Limit < 0 {
		return errors.New("limit must not be negative")
	}
	if len(c.Token) > MaxTokenLength {
		return errors.New("token too long")
	}
	if len(c.Method) > MaxMethodLength || (c.Method != "" && !validName(c.Method)) {
		return errors.New("invalid method name")
	}
	if !ValidIdempotencyKey(c.IdempotencyKey) {
		return errors.New("invalid idempotency_key")
	}
	return nil
}

// MaxIdempotencyKeyLength bounds a publish's idempotency_key.
const MaxIdempotencyKeyLength = 64

// ValidIdempotencyKey reports whether key is empty or 1 to 64 characters
// from [A-Za-z0-9_.:@-] (a UUID, for example).
func ValidIdempotencyKey(key string) bool {
	return key == "" || len(key) <= MaxIdempotencyKeyLength && validName(key)
}

// ValidChannel reports whether name is a valid channel name: 1 to 128
// characters from [A-Za-z0-9_.:@-].
func ValidChannel(name string) bool {
	return len(name) <= MaxChannelLength && validName(name)
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !channelByte[s[i]] {
			return false
		}
	}
	return true
}

var channelByte = func() (t [256]bool) {
	for _, r := range "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:@-" {
		t[r] = true
	}
	return t
}()

// depth returns the deepest nesting of objects and arrays in b, without
// validating it (the decoder does that next).
func depth(b []byte) int {
	d, maxD := 0, 0
	inString, escaped := false, false
	for _, ch := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			if ch == '\\' {
				escaped = true
			} else if ch == '"' {
				inString = false
			}
		case ch == '"':
			inString = true
		case ch == '{' || ch == '[':
			d++
			if d > maxD {
				maxD = d
			}
		case ch == '}' || ch == ']':
			d--
		}
	}
	return maxD
}

// peekID reads the id of a frame that failed to parse, so the error reply
// can still carry it. It returns 0 when there is none to be read.
func peekID(frame []byte) uint64 {
	var v struct {
		ID uint64 `json:"id"`
	}
	opts := json.JoinOptions(jsontext.AllowDuplicateNames(true), json.RejectUnknownMembers(false))
	if err := json.Unmarshal(frame, &v, opts); err != nil {
		return 0
	}
	return v.ID
}

// describe turns a decoding error into a reason that names at most a field,
// never a value from the input.
func describe(err error) string {
	var se *jsontext.SyntacticError
	var me *json.SemanticError
	switch {
	case errors.Is(err, jsontext.ErrDuplicateName):
		return "duplicate key"
	case errors.Is(err, json.ErrUnknownName):
		if errors.As(err, &me) {
			return "unknown field " + short(string(me.JSONPointer))
		}
		return "unknown field"
	case errors.As(err, &se):
		return "invalid JSON"
	case errors.As(err, &me):
		if me.JSONPointer != "" {
			return "wrong type at " + short(string(me.JSONPointer))
		}
		return "frame must be a JSON object"
	}
	return "invalid frame"
}

func short(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}
