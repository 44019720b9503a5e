package config

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment variable that sets a key.
const EnvPrefix = "RAMPART_"

// Problem is one thing wrong with a configuration: where (a line of the
// file, or the variable that set the value) and why.
type Problem struct {
	Where  string // "rampart.yaml:12" or "RAMPART_LIMITS_BURST"
	Key    string // "limits.burst"
	Reason string
}

func (p Problem) String() string {
	if p.Key == "" {
		return p.Where + ": " + p.Reason
	}
	return p.Where + ": " + p.Key + ": " + p.Reason
}

// Error lists every problem found; it is what Load returns.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Flag is a command-line flag that sets a key. Flags win over the
// environment and the file, and are checked exactly as they are.
type Flag struct {
	Name  string // as the operator typed it, for messages: "--listen"
	Key   string // the key it sets: "listen"
	Value string // taken as written for a text key; YAML otherwise, as for a variable
}

// Load reads the file at path, applies RAMPART_* variables from env (a
// list of "KEY=value", as os.Environ), then flags, reads the secrets it
// names and validates everything, compiling the server's settings once
// (File.Compiled). It returns every problem at once as an *Error.
func Load(path string, env []string, flags ...Flag) (*File, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already where the problem is
		}
		return nil, &Error{Problems: []Problem{{Where: path, Reason: "cannot read the file: " + err.Error()}}}
	}
	return ParseFile(path, src, env, flags...)
}

// ParseFile is Load for the content of path, already read (by a watcher
// that saw it complete): relative paths in it are relative to path's
// directory.
func ParseFile(path string, src []byte, env []string, flags ...Flag) (*File, error) {
	return parse(path, src, env, filepath.Dir(path), flags)
}

// Parse is Load for a file already read; name is used in messages, and
// relative paths in it are relative to the working directory.
func Parse(name string, src []byte, env []string, flags ...Flag) (*File, error) {
	return parse(name, src, env, "", flags)
}

func parse(name string, src []byte, env []string, dir string, flags []Flag) (*File, error) {
	l := &loader{name: name, env: envMap(env), flags: flags, setBy: map[string]string{}}
	f := l.parse(src)
	if f != nil {
		f.resolvePaths(dir)
		l.secrets(f)
		l.validate(f)
	}
	if len(l.problems) > 0 {
		// In the file's order; then what variables, flags and secrets set.
		slices.SortStableFunc(l.problems, func(a, b Problem) int { return cmp.Compare(l.lineOf(a), l.lineOf(b)) })
		return nil, &Error{Problems: l.problems}
	}
	return f, nil
}

// lineOf is the file line p names, or the largest int for a problem
// without one (a variable, a flag, a secret).
func (l *loader) lineOf(p Problem) int {
	if rest, ok := strings.CutPrefix(p.Where, l.name+":"); ok {
		if n, err := strconv.Atoi(rest); err == nil {
			return n
		}
	}
	return math.MaxInt
}

type loader struct {
	name     string
	env      map[string]string
	flags    []Flag
	root     *yaml.Node        // the mapping at the top of the document
	setBy    map[string]string // key path -> variable that set it
	problems []Problem
}

func envMap(env []string) map[string]string {
	m := make(map[string]string)
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func (l *loader) add(node *yaml.Node, key, format string, args ...any) {
	where := l.name
	if v, ok := l.source(key); ok {
		where = v
	} else if node != nil && node.Line > 0 {
		where = fmt.Sprintf("%s:%d", l.name, node.Line)
	}
	l.problems = append(l.problems, Problem{Where: where, Key: key, Reason: fmt.Sprintf(format, args...)})
}

// source returns the variable or flag that set key, or a key it is part
// of ("channels" for "channels[0].pattern").
func (l *loader) source(key string) (string, bool) {
	for k := key; k != ""; {
		if v, ok := l.setBy[k]; ok {
			return v, true
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return "", false
}

func (l *loader) parse(src []byte) *File {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		l.syntaxProblem(src, err)
		return nil
	}
	switch {
	case doc.Kind == 0: // empty file
		l.root = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	case len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode:
		l.root = doc.Content[0]
	default:
		l.add(&doc, "", "the top level must be a mapping of keys")
		return nil
	}
	t := reflect.TypeFor[File]()
	l.checkKeys(l.root, t, "")
	l.checkTypes(l.root, t, "")
	l.applyEnv()
	l.applyFlags()
	if len(l.problems) > 0 {
		return nil // values of the wrong kind: decoding would only repeat them
	}
	f := new(File)
	if err := l.root.Decode(f); err != nil {
		l.decodeProblem(err)
		return nil
	}
	l.checkZeros()
	f.defaults()
	return f
}

// checkZeros refuses limits written as 0: the server reads 0 as "the
// default", which is not what someone who wrote 0 meant.
func (l *loader) checkZeros() {
	limits := lookup(l.root, "limits")
	if limits == nil || limits.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(limits.Content); i += 2 {
		k, v := limits.Content[i], limits.Content[i+1]
		if v.Kind == yaml.ScalarNode && (v.Value == "0" || v.Value == "0s") {
			l.add(v, "limits."+k.Value, "must be positive (leave the key out for the default)")
		}
	}
}

// fields returns the yaml keys of a struct type, with inline structs
// flattened.
func fields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case name == "-" || (!f.IsExported() && !f.Anonymous):
		case opts == "inline":
			for k, v := range fields(f.Type) {
				out[k] = v
			}
		case name != "":
			out[name] = f
		}
	}
	return out
}

// checkKeys reports every key the server does not know, with its line.
func (l *loader) checkKeys(n *yaml.Node, t reflect.Type, prefix string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode && !isLeaf(t):
		known := fields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := join(prefix, k.Value)
			f, ok := known[k.Value]
			switch {
			case !ok:
				l.add(k, path, "unknown key (known here: %s)", strings.Join(sortedKeys(known), ", "))
			case seen[k.Value]:
				l.add(k, path, "key given twice")
			default:
				l.checkKeys(v, f.Type, path)
			}
			seen[k.Value] = true
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			l.checkKeys(item, t.Elem(), fmt.Sprintf("%s[%d]", prefix, i))
		}
	}
}

func isLeaf(t reflect.Type) bool {
	return t.PkgPath() == "time" // time.Duration and friends decode from scalars
}

func sortedKeys(m map[string]reflect.StructField) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// leafPaths lists every settable key path of t: scalars, lists and maps
// (a list of structs, such as channels, is set whole).
func leafPaths(t reflect.Type, prefix string, out map[string]reflect.Type) {
	for name, f := range fields(t) {
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		path := join(prefix, name)
		if ft.Kind() == reflect.Struct && !isLeaf(ft) {
			leafPaths(ft, path, out)
			continue
		}
		out[path] = f.Type
	}
}

// EnvName is the variable that sets a key: limits.max_message_bytes is
// RAMPART_LIMITS_MAX_MESSAGE_BYTES.
func EnvName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// applyEnv sets every key whose variable is present; the environment wins
// over the file. Values are YAML ("5s", "[a, b]", "true").
func (l *loader) applyEnv() {
	paths := map[string]reflect.Type{}
	leafPaths(reflect.TypeFor[File](), "", paths)
	for path, t := range paths {
		name := EnvName(path)
		if val, ok := l.env[name]; ok {
			l.setValue(name, path, t, val, false)
		}
	}
}

// applyFlags sets the keys the command line gives; flags win over the
// environment and the file.
func (l *loader) applyFlags() {
	paths := map[string]reflect.Type{}
	leafPaths(reflect.TypeFor[File](), "", paths)
	for _, fl := range l.flags {
		t, ok := paths[fl.Key]
		if !ok {
			l.problems = append(l.problems, Problem{Where: fl.Name, Key: fl.Key, Reason: "sets no known key"})
			continue
		}
		l.setValue(fl.Name, fl.Key, t, fl.Value, true)
	}
}

// setValue puts the value a variable or flag (source) gives for path in
// the document, after the checks a value in the file gets. literal takes
// a text value as written, so that "[::1]:8080" is an address, not a list.
func (l *loader) setValue(source, path string, t reflect.Type, val string, literal bool) {
	l.setBy[path] = source
	v := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: val}
	if !literal || t.Kind() != reflect.String {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(val), &doc); err != nil || len(doc.Content) != 1 {
			l.problems = append(l.problems, Problem{Where: source, Key: path, Reason: "not a valid YAML value"})
			return
		}
		v = doc.Content[0]
	}
	before := len(l.problems)
	l.checkKeys(v, t, path)
	l.checkTypes(v, t, path)
	if len(l.problems) == before {
		set(l.root, strings.Split(path, "."), v)
	}
}

// set puts value at the key path, creating mappings on the way.
func set(m *yaml.Node, keys []string, value *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != keys[0] {
			continue
		}
		if len(keys) == 1 {
			m.Content[i+1] = value
			return
		}
		if m.Content[i+1].Kind != yaml.MappingNode {
			m.Content[i+1] = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		set(m.Content[i+1], keys[1:], value)
		return
	}
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: keys[0]}
	if len(keys) == 1 {
		m.Content = append(m.Content, k, value)
		return
	}
	child := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.Content = append(m.Content, k, child)
	set(child, keys[1:], value)
}

// node finds the node of a key path such as "channels[2].pattern", or the
// closest parent that exists; nil when the file does not have its first
// key (a problem with a default, or a secret, has no line).
func (l *loader) node(path string) *yaml.Node {
	n := l.root
	for part := range strings.SplitSeq(path, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 {
			name = part[:i]
			fmt.Sscanf(part[i:], "[%d]", &idx)
		}
		next := lookup(n, name)
		if next == nil && n == l.root {
			return nil
		}
		if next == nil {
			return n
		}
		n = next
		if idx >= 0 && n.Kind == yaml.SequenceNode && idx < len(n.Content) {
			n = n.Content[idx]
		}
	}
	return n
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
