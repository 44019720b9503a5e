package protocol

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The JavaScript client declares the wire in ../js/src/types.ts. The tests
// below read it and compare its lists with this package's: a code, a push
// or a field on one side only fails them.

const typesTS = "../js/src/types.ts"

// wireTypes maps each TypeScript interface that describes a frame, or a
// part of one, to the Go type it mirrors. Every TypeScript interface named
// Wire... must be here.
var wireTypes = map[string]reflect.Type{
	"ClientInfo":              reflect.TypeFor[ClientInfo](),
	"WirePublication":         reflect.TypeFor[Publication](),
	"WireSubscribeResult":     reflect.TypeFor[SubscribeResult](),
	"WirePublishResult":       reflect.TypeFor[PublishResult](),
	"WireHistoryResult":       reflect.TypeFor[HistoryResult](),
	"PresenceEntry":           reflect.TypeFor[PresenceEntry](),
	"PresenceResult":          reflect.TypeFor[PresenceResult](),
	"WireRefreshResult":       reflect.TypeFor[RefreshResult](),
	"WireRPCResult":           reflect.TypeFor[RPCResult](),
	"WireError":               reflect.TypeFor[Error](),
	"ServerLimits":            reflect.TypeFor[WelcomeLimits](),
	"WireWelcome":             reflect.TypeFor[Welcome](),
	"WirePublicationPush":     reflect.TypeFor[PublicationPush](),
	"WireRefreshRequiredPush": reflect.TypeFor[RefreshRequiredPush](),
	"WireSubscribePush":       reflect.TypeFor[SubscribePush](),
	"WireUnsubscribePush":     reflect.TypeFor[UnsubscribePush](),
	"WireJoinPush":            reflect.TypeFor[JoinLeavePush](),
	"WireLeavePush":           reflect.TypeFor[JoinLeavePush](),
	"WirePresenceChangedPush": reflect.TypeFor[PresenceChangedPush](),
}

func readTypesTS(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(typesTS)
	if err != nil {
		t.Fatalf("reading the JavaScript client's types: %v", err)
	}
	return string(b)
}

func TestJSErrorCodes(t *testing.T) {
	src := readTypesTS(t)
	var ts []string
	for _, f := range tsInterface(t, src, "ServerErrorCodes") {
		ts = append(ts, tsString(t, "ServerErrorCodes."+f.name, f.typ))
	}
	compareLists(t, "error codes (ServerErrorCodes, Codes)", ts, asStrings(Codes))
}

func TestJSRefusalCodes(t *testing.T) {
	compareLists(t, "refusal codes (RefusalCode, RefusalCodes)", tsUnion(t, readTypesTS(t), "RefusalCode"), asStrings(RefusalCodes))
}

func TestJSActions(t *testing.T) {
	compareLists(t, "actions (Action, Actions)", tsUnion(t, readTypesTS(t), "Action"), Actions)
}

func TestJSPushes(t *testing.T) {
	compareLists(t, "pushes (PushName, Pushes)", tsUnion(t, readTypesTS(t), "PushName"), Pushes)
}

// TestJSCloseCodes: every close code the server sends, with the reason
// text of its close frame.
func TestJSCloseCodes(t *testing.T) {
	var ts, goCodes []string
	for _, f := range tsInterface(t, readTypesTS(t), "CloseReasons") {
		if _, err := strconv.ParseUint(f.name, 10, 16); err != nil {
			t.Fatalf("CloseReasons has %q, not a close code", f.name)
		}
		ts = append(ts, f.name+" "+tsString(t, "CloseReasons."+f.name, f.typ))
	}
	for code, reason := range CloseCodes {
		goCodes = append(goCodes, fmt.Sprintf("%d %s", code, reason))
	}
	compareLists(t, "close codes and reasons (CloseReasons, CloseCodes)", ts, goCodes)
}

// TestJSWireTypes: each frame's JSON field names, which fields may be left
// out (omitzero in Go, ? in TypeScript), and the parts a field refers to.
func TestJSWireTypes(t *testing.T) {
	src := readTypesTS(t)
	for _, name := range tsInterfaceNames(src) {
		if _, ok := wireTypes[name]; strings.HasPrefix(name, "Wire") && !ok {
			t.Errorf("%s: a wire type in %s with no Go type in wireTypes", name, typesTS)
		}
	}
	for name, goType := range wireTypes {
		t.Run(name, func(t *testing.T) {
			fields := tsInterface(t, src, name)
			var ts, goFields []string
			for _, f := range fields {
				ts = append(ts, fieldSig(f.name, f.optional))
			}
			for _, f := range jsonFields(goType) {
				goFields = append(goFields, fieldSig(f.name, f.optional))
				i := slices.IndexFunc(fields, func(tf tsField) bool { return tf.name == f.name })
				if i < 0 || f.part == nil {
					continue
				}
				part := tsNameOf(f.part)
				if part == "" {
					t.Errorf("%s.%s is a %v, which has no TypeScript interface in wireTypes", name, f.name, f.part)
				} else if !regexp.MustCompile(`\b` + part + `\b`).MatchString(fields[i].typ) {
					t.Errorf("%s.%s is %q, want a %s (Go %v)", name, f.name, fields[i].typ, part, f.part)
				}
			}
			compareLists(t, fmt.Sprintf("fields of %s and %v", name, goType), ts, goFields)
			if push := slices.IndexFunc(fields, func(tf tsField) bool { return tf.name == "push" }); push >= 0 {
				if p := tsString(t, name+".push", fields[push].typ); !slices.Contains(Pushes, p) {
					t.Errorf("%s.push is %q, not a push of Pushes", name, p)
				}
			}
		})
	}
}

// fieldSig is a field's name, marked "?" when it may be left out.
func fieldSig(name string, optional bool) string {
	if optional {
		return name + "?"
	}
	return name
}

type goField struct {
	name     string
	optional bool
	part     reflect.Type // the struct a field holds (directly, by pointer or in a slice), if any
}

// jsonFields lists the JSON fields of the struct type typ.
func jsonFields(typ reflect.Type) []goField {
	var out []goField
	for f := range typ.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		gf := goField{name: name, optional: strings.Contains(opts, "omitzero") || strings.Contains(opts, "omitempty")}
		inner := f.Type
		for inner.Kind() == reflect.Pointer || inner.Kind() == reflect.Slice {
			inner = inner.Elem()
		}
		if inner.Kind() == reflect.Struct {
			gf.part = inner
		}
		out = append(out, gf)
	}
	return out
}

// tsNameOf returns the TypeScript interface mirroring the Go type typ.
func tsNameOf(typ reflect.Type) string {
	for name, t := range wireTypes {
		if t == typ {
			return name
		}
	}
	return ""
}

// compareLists fails unless ts (from TypeScript) and goList hold the same
// values, each once.
func compareLists(t *testing.T, what string, ts, goList []string) {
	t.Helper()
	if len(ts) == 0 {
		t.Errorf("%s: nothing found in %s", what, typesTS)
	}
	for _, l := range [][]string{ts, goList} {
		sorted := slices.Sorted(slices.Values(l))
		for i := 1; i < len(sorted); i++ {
			if sorted[i] == sorted[i-1] {
				t.Errorf("%s: %q is listed twice", what, sorted[i])
			}
		}
	}
	for _, v := range goList {
		if !slices.Contains(ts, v) {
			t.Errorf("%s: %q is in Go's list but not in %s", what, v, typesTS)
		}
	}
	for _, v := range ts {
		if !slices.Contains(goList, v) {
			t.Errorf("%s: %q is in %s but not in Go's list", what, v, typesTS)
		}
	}
}

func asStrings[S ~string](l []S) []string {
	out := make([]string, len(l))
	for i, v := range l {
		out[i] = string(v)
	}
	return out
}
