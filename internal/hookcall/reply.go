package hookcall

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/rampart-rt/rampart/hooks"
	"github.com/rampart-rt/rampart/protocol"
)

// Bounds on what a connect reply may add to a connection.
const (
	maxAddedRoles = 32
	maxInfoBytes  = 4096
	maxDepth      = 32
)

// decodeReply parses a backend's reply strictly: one JSON object, no
// unknown or duplicate member, names matched exactly, nesting at most
// maxDepth.
func decodeReply(raw []byte, rep any) error {
	if err := checkDepth(raw); err != nil {
		return err
	}
	if err := jsonv2.Unmarshal(raw, rep, jsonv2.RejectUnknownMembers(true)); err != nil {
		return fmt.Errorf("invalid reply: %w", err)
	}
	return nil
}

// checkDepth refuses JSON nested deeper than maxDepth (the decoder's own
// limit is far higher).
func checkDepth(raw []byte) error {
	dec := jsontext.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil // the decoder proper reports syntax errors
		}
		if k := tok.Kind(); (k == '{' || k == '[') && dec.StackDepth() > maxDepth {
			return fmt.Errorf("invalid reply: nested deeper than %d", maxDepth)
		}
	}
}

// The codes a deny may carry.
var (
	connectCodes = []string{"", string(protocol.CodeForbidden), string(protocol.CodeUnauthorized)}
	commandCodes = []string{"", string(protocol.CodeForbidden), string(protocol.CodeNotFound),
		string(protocol.CodeUnauthorized), string(protocol.CodeBadRequest), string(protocol.CodeLimitExceeded)}
)

func checkResult(result, code string, codes []string) error {
	switch result {
	case hooks.Allow:
		if code != "" {
			return errors.New("invalid reply: code given with allow")
		}
	case hooks.Deny:
		if !slices.Contains(codes, code) {
			return fmt.Errorf("invalid reply: code %q is not one a deny may carry", short(code))
		}
	default:
		return fmt.Errorf("invalid reply: result %q is neither allow nor deny", short(result))
	}
	return nil
}

func checkConnect(r *hooks.ConnectReply) error {
	if err := checkResult(r.Result, r.Code, connectCodes); err != nil {
		return err
	}
	if r.Result == hooks.Deny && (len(r.Roles) > 0 || len(r.Info) > 0) {
		return errors.New("invalid reply: roles or info given with deny")
	}
	if len(r.Roles) > maxAddedRoles {
		return fmt.Errorf("invalid reply: more than %d roles", maxAddedRoles)
	}
	for _, role := range r.Roles {
		if !protocol.ValidChannel(role) || role == "*" || role == "self" {
			return fmt.Errorf("invalid reply: role %q: 1 to 128 characters from A-Z a-z 0-9 _ . : @ -", short(role))
		}
	}
	switch v := jsontext.Value(r.Info); {
	case len(v) == 0 || string(v) == "null":
		r.Info = nil
	case len(v) > maxInfoBytes:
		return fmt.Errorf("invalid reply: info over %d bytes", maxInfoBytes)
	case v.Kind() != '{':
		return errors.New("invalid reply: info is not a JSON object")
	}
	return nil
}

func checkPublish(r *hooks.PublishReply) error {
	if err := checkResult(r.Result, r.Code, commandCodes); err != nil {
		return err
	}
	if r.Result == hooks.Deny && r.Data != nil {
		return errors.New("invalid reply: data given with deny")
	}
	return nil
}

func short(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}
