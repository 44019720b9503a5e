package protocol

import (
	"regexp"
	"strings"
	"testing"
)

// A reader of the few TypeScript forms ../js/src/types.ts keeps its wire
// lists in: a union of string literals (export type X = | 'a' | 'b';) and
// an interface of one member per line (name?: type;), with comments.

type tsField struct {
	name     string
	optional bool
	typ      string // the member's type, as written
}

var (
	tsMember     = regexp.MustCompile(`^([A-Za-z_$][\w$]*|\d+)(\?)?:\s*(.+?);$`)
	tsLiteral    = regexp.MustCompile(`^'([^'\\]*)'$`)
	tsInterfaces = regexp.MustCompile(`(?m)^export interface (\w+)`)
)

// tsInterface returns the members of the exported interface name, failing
// the test when it is missing or holds a line it cannot read.
func tsInterface(t *testing.T, src, name string) []tsField {
	t.Helper()
	body := tsBlock(t, src, `(?m)^export interface `+name+`\b[^{\n]*\{\n`, "\n}")
	var out []tsField
	inComment := false
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case inComment:
			inComment = !strings.Contains(line, "*/")
			continue
		case line == "" || strings.HasPrefix(line, "//"):
			continue
		case strings.HasPrefix(line, "/*"):
			inComment = !strings.Contains(line, "*/")
			continue
		}
		line = strings.TrimPrefix(line, "readonly ")
		m := tsMember.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("interface %s in %s: cannot read %q", name, typesTS, line)
		}
		out = append(out, tsField{name: m[1], optional: m[2] == "?", typ: m[3]})
	}
	return out
}

// tsUnion returns the string literals of the exported type name, a union
// of string literals.
func tsUnion(t *testing.T, src, name string) []string {
	t.Helper()
	body := tsBlock(t, src, `(?m)^export type `+name+` =`, ";")
	var out []string
	for _, part := range strings.Split(body, "|") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		out = append(out, tsString(t, name, part))
	}
	return out
}

// tsString reads typ, a string literal type.
func tsString(t *testing.T, what, typ string) string {
	t.Helper()
	m := tsLiteral.FindStringSubmatch(strings.TrimSpace(typ))
	if m == nil {
		t.Fatalf("%s in %s: %q is not a string literal", what, typesTS, typ)
	}
	return m[1]
}

// tsInterfaceNames lists the exported interfaces of src.
func tsInterfaceNames(src string) []string {
	var out []string
	for _, m := range tsInterfaces.FindAllStringSubmatch(src, -1) {
		out = append(out, m[1])
	}
	return out
}

// tsBlock returns the text after the match of start up to the first end.
func tsBlock(t *testing.T, src, start, end string) string {
	t.Helper()
	loc := regexp.MustCompile(start).FindStringIndex(src)
	if loc == nil {
		t.Fatalf("%s has no %s", typesTS, start)
	}
	rest := src[loc[1]:]
	i := strings.Index(rest, end)
	if i < 0 {
		t.Fatalf("%s: %s does not end", typesTS, start)
	}
	return rest[:i]
}
