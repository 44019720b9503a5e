package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// checkTypes reports every value whose kind does not fit its key (a
// duration, a whole number, true or false, a list, a mapping), with the
// key's path, its line and what was expected, in the file's words. It runs
// before the file is decoded, so the decoder's messages, which speak of Go
// types, never reach the operator.
func (l *loader) checkTypes(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // nothing written: the default
	}
	switch {
	case isLeaf(t) || isScalar(t.Kind()):
		l.checkScalar(n, t, path)
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			l.add(n, path, "must be a mapping of keys (key: value), not %s", shape(n))
			return
		}
		known := fields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if f, ok := known[n.Content[i].Value]; ok {
				l.checkTypes(n.Content[i+1], f.Type, join(path, n.Content[i].Value))
			}
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			l.add(n, path, "must be a list, like [a, b], not %s", shape(n))
			return
		}
		for i, item := range n.Content {
			l.checkTypes(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			l.add(n, path, "must be a mapping (name: value), not %s", shape(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			l.checkScalar(n.Content[i], t.Key(), path)
			l.checkTypes(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))
		}
	}
}

// checkScalar checks a single value by decoding it alone.
func (l *loader) checkScalar(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.ScalarNode {
		l.add(n, path, "must be %s, not %s", expected(t), shape(n))
		return
	}
	if n.Decode(reflect.New(t).Interface()) == nil {
		return
	}
	if t == reflect.TypeFor[time.Duration]() && n.ShortTag() != "!!str" {
		l.add(n, path, "%s has no unit: write a duration such as 5s or 500ms", quote(n.Value))
		return
	}
	l.add(n, path, "%s is not %s", quote(n.Value), expected(t))
}

func isScalar(k reflect.Kind) bool {
	switch k {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// expected says what a key of type t takes, as the documentation does.
func expected(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "a duration (a number and a unit: 500ms, 5s, 10m, 1h)"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "a whole number"
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		return "a whole number, not negative"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	}
	return "a single value"
}

// shape names what a node holds.
func shape(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return "the single value " + quote(n.Value)
}

// quote shows a value from the file, shortened.
func quote(v string) string {
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return strconv.Quote(v)
}

// syntaxLine finds the line of the parser's "yaml: line 3: ..." messages.
var syntaxLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// syntaxProblem reports a YAML syntax error with its line and the key
// written there (or the last one before it that still reads), so that the
// operator knows where to look.
func (l *loader) syntaxProblem(src []byte, err error) {
	m := syntaxLine.FindStringSubmatch(err.Error())
	if m == nil {
		l.problems = append(l.problems, Problem{Where: l.name, Reason: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")})
		return
	}
	line, _ := strconv.Atoi(m[1])
	if strings.HasPrefix(m[2], "did not find expected") {
		line++ // the parser (not the scanner) counts the line of its context from 0
	}
	p := Problem{Where: fmt.Sprintf("%s:%d", l.name, line), Reason: "not valid YAML: " + m[2]}
	lines := strings.SplitAfter(string(src), "\n")
	if line < 1 || line > len(lines) {
		l.problems = append(l.problems, p)
		return
	}
	before := strings.Join(lines[:line-1], "")
	keyOnly, _, _ := strings.Cut(lines[line-1], ":")
	for _, text := range []string{before + keyOnly + ":\n", before} {
		var doc yaml.Node
		if yaml.Unmarshal([]byte(text), &doc) != nil || len(doc.Content) != 1 {
			continue
		}
		if key, _ := lastKey(doc.Content[0], ""); key != "" {
			p.Key, p.Reason = key, "not valid YAML at or after this key: "+m[2]
		}
		break
	}
	l.problems = append(l.problems, p)
}

// lastKey returns the path of the key written last in n, and its line.
func lastKey(n *yaml.Node, prefix string) (string, int) {
	best, line := "", 0
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			path := join(prefix, k.Value)
			if k.Line >= line {
				best, line = path, k.Line
			}
			if p, ln := lastKey(n.Content[i+1], path); ln >= line && p != "" {
				best, line = p, ln
			}
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			if p, ln := lastKey(item, fmt.Sprintf("%s[%d]", prefix, i)); ln >= line && p != "" {
				best, line = p, ln
			}
		}
	}
	return best, line
}

// decodeProblem is the last resort for a value checkTypes let through and
// the decoder refused: the line, the key written there, and no Go names.
func (l *loader) decodeProblem(err error) {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		l.problems = append(l.problems, Problem{Where: l.name, Reason: "cannot read the file"})
		return
	}
	for _, e := range te.Errors {
		m := syntaxLine.FindStringSubmatch(e)
		if m == nil {
			l.problems = append(l.problems, Problem{Where: l.name, Reason: "a value does not fit its key"})
			continue
		}
		line, _ := strconv.Atoi(m[1])
		key, _ := keyAt(l.root, "", line)
		l.problems = append(l.problems, Problem{Where: fmt.Sprintf("%s:%d", l.name, line), Key: key, Reason: "the value does not fit this key"})
	}
}

// keyAt finds the path of the key or value written on line.
func keyAt(n *yaml.Node, prefix string, line int) (string, bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			path := join(prefix, n.Content[i].Value)
			if p, ok := keyAt(n.Content[i+1], path, line); ok {
				return p, true
			}
			if n.Content[i].Line == line || n.Content[i+1].Line == line {
				return path, true
			}
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			path := fmt.Sprintf("%s[%d]", prefix, i)
			if p, ok := keyAt(item, path, line); ok {
				return p, true
			}
			if item.Line == line {
				return path, true
			}
		}
	}
	return "", false
}
