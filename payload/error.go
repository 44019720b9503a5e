package payload

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// Limits on what an Error carries. Reasons are worded here from the
// schema's keywords and values (cut to maxReason bytes), never from the
// validator's messages, which quote input; the only input in an Error is
// the pointer, built from member names and cut to maxPointer bytes. So an
// Error never carries more than 64 bytes of the input.
const (
	maxPointer = 48
	maxReason  = 64
)

// Error is why data is not acceptable: the JSON pointer (RFC 6901) of the
// failing value and a short reason. Both are safe to show a client: they
// are short, and markup characters (< > & ' " `) and control characters in
// the pointer are replaced by '?' (so a pointer with '?' may not resolve).
type Error struct {
	Pointer string // "" is the whole value
	Reason  string
}

// Error returns "pointer: reason", with "(root)" for the empty pointer.
func (e *Error) Error() string {
	p := e.Pointer
	if p == "" {
		p = "(root)"
	}
	return p + ": " + e.Reason
}

func newError(pointer, reason string) *Error {
	return &Error{Pointer: clipTail(pointer, maxPointer), Reason: reason}
}

// fromValidation reduces the validator's tree of causes to one leaf: the
// deepest instance location, then the smallest pointer, then the smallest
// reason, so the choice does not depend on map iteration order.
func fromValidation(err error) error {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &Error{Reason: "does not match the schema"}
	}
	var best *Error
	bestDepth := -1
	for _, leaf := range leaves(ve, nil) {
		e, depth := leafError(leaf)
		if best == nil || depth > bestDepth || depth == bestDepth &&
			cmp.Or(strings.Compare(e.Pointer, best.Pointer), strings.Compare(e.Reason, best.Reason)) < 0 {
			best, bestDepth = e, depth
		}
	}
	if best == nil {
		return &Error{Reason: "does not match the schema"}
	}
	return best
}

func leaves(ve *jsonschema.ValidationError, out []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return append(out, ve)
	}
	for _, c := range ve.Causes {
		out = leaves(c, out)
	}
	return out
}

// leafError turns one leaf into an Error; depth counts the pointer's tokens.
func leafError(ve *jsonschema.ValidationError) (*Error, int) {
	loc := ve.InstanceLocation
	reason := ""
	switch k := ve.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		// Point at the first unexpected member itself.
		loc = append(slices.Clip(loc), slices.Min(k.Properties))
		reason = "property not allowed"
	case *kind.PropertyNames:
		loc = append(slices.Clip(loc), k.Property)
		reason = "property name not allowed"
	default:
		reason = describe(ve.ErrorKind)
	}
	return newError(pointer(loc), reason), len(loc)
}

// describe words a failure in the schema's terms, never quoting input.
func describe(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Type:
		return fmt.Sprintf("must be %s, not %s", strings.Join(k.Want, " or "), k.Got)
	case *kind.Required:
		return clip("missing property "+quoted(k.Missing[0]), maxReason)
	case *kind.Dependency:
		return clip(fmt.Sprintf("missing property %s (required with %s)", quoted(k.Missing[0]), quoted(k.Prop)), maxReason)
	case *kind.DependentRequired:
		return clip(fmt.Sprintf("missing property %s (required with %s)", quoted(k.Missing[0]), quoted(k.Prop)), maxReason)
	case *kind.MinLength:
		return fmt.Sprintf("length must be >= %d", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("length must be <= %d", k.Want)
	case *kind.Pattern:
		return clip("must match pattern "+k.Want, maxReason)
	case *kind.Format:
		return clip("must be a valid "+k.Want, maxReason)
	case *kind.Enum:
		return clip("must be one of "+values(k.Want), maxReason)
	case *kind.Const:
		return clip("must be "+values([]any{k.Want}), maxReason)
	case *kind.Minimum:
		return "must be >= " + ratString(k.Want)
	case *kind.Maximum:
		return "must be <= " + ratString(k.Want)
	case *kind.ExclusiveMinimum:
		return "must be > " + ratString(k.Want)
	case *kind.ExclusiveMaximum:
		return "must be < " + ratString(k.Want)
	case *kind.MultipleOf:
		return "must be a multiple of " + ratString(k.Want)
	}
	return describeCounts(k)
}

// describeCounts covers the kinds about sizes and combinators.
func describeCounts(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.MinItems:
		return fmt.Sprintf("must have >= %d items", k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("must have <= %d items", k.Want)
	case *kind.MinProperties:
		return fmt.Sprintf("must have >= %d properties", k.Want)
	case *kind.MaxProperties:
		return fmt.Sprintf("must have <= %d properties", k.Want)
	case *kind.AdditionalItems:
		return fmt.Sprintf("%d extra items not allowed", k.Count)
	case *kind.UniqueItems:
		return fmt.Sprintf("items %d and %d are equal", k.Duplicates[0], k.Duplicates[1])
	case *kind.Contains:
		return "no item matches contains"
	case *kind.MinContains:
		return fmt.Sprintf("must have >= %d items matching contains", k.Want)
	case *kind.MaxContains:
		return fmt.Sprintf("must have <= %d items matching contains", k.Want)
	case *kind.OneOf:
		return "must match exactly one oneOf schema"
	case *kind.AnyOf:
		return "must match an anyOf schema"
	case *kind.AllOf:
		return "must match every allOf schema"
	case *kind.Not:
		return "must not match the not schema"
	case *kind.FalseSchema:
		return "not allowed"
	case *kind.ContentEncoding:
		return clip("must be "+k.Want+" encoded", maxReason)
	case *kind.ContentMediaType:
		return clip("must be of media type "+k.Want, maxReason)
	case *kind.ContentSchema:
		return "content does not match contentSchema"
	case *kind.RefCycle:
		return "schema reference cycle"
	}
	// A kind this package does not know: name its keyword, not its text.
	return clip("fails "+safe(strings.Join(k.KeywordPath(), "/")), maxReason)
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// pointer encodes tokens as an RFC 6901 JSON pointer.
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(pointerEscaper.Replace(t))
	}
	return b.String()
}

func quoted(s string) string { return `"` + safe(s) + `"` }

// values lists schema values as compact JSON.
func values(vs []any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // safe replaces markup below
	for i, v := range vs {
		if i > 0 {
			b.WriteString(", ")
		}
		if err := enc.Encode(v); err != nil {
			return "the listed values"
		}
	}
	return safe(strings.ReplaceAll(b.String(), "\n", ""))
}

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return fmt.Sprint(f)
}

// safe replaces markup characters (< > & ' `) and control or other
// unprintable characters by '?'.
func safe(s string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune("<>&'`", r) || !unicode.IsPrint(r) && r != ' ' {
			return '?'
		}
		return r
	}, s)
}

// clip cuts s to at most n bytes on a rune boundary, ending in "…".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// clipTail keeps the end of a pointer, the part that names the failing
// value, and makes it safe, double quotes included.
func clipTail(s string, n int) string {
	s = strings.ReplaceAll(safe(s), `"`, "?")
	if len(s) <= n {
		return s
	}
	cut := len(s) - (n - len("…"))
	for cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut++
	}
	return "…" + s[cut:]
}
