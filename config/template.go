package config

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/rampart-rt/rampart/auth"
	"github.com/rampart-rt/rampart/policy"
	"go.yaml.in/yaml/v3"
)

//go:generate go test -run TestKeyDocsMatchTheSources -update .

// templateRule is the channel rule Template writes, so that every rule key
// is shown: a personal channel only its user may read and write, with the
// protections a rule can switch on switched on.
func templateRule() policy.Rule {
	return policy.Rule{
		Pattern:       "user:{sub}",
		Subscribe:     []string{policy.RoleSelf},
		Publish:       []string{policy.RoleSelf},
		SanitizeHTML:  true,
		Audit:         true,
		PresenceRoles: []string{}, // written as [], which loads as an empty list
	}
}

// Template writes a configuration file with every key the file knows, each
// at its default (the defaults of this package and of package settings,
// applied as Load applies them) under a comment that explains it (the
// comments of the sources, kept in keydocs_gen.go), with one channel rule
// (user:{sub}, its own user only, sanitize_html and audit on) so that every
// rule key shows, and auth.hmac_secret_file set to secretFile (a path
// relative to the file's directory, or absolute). It is what `rampart
// init` writes; it fails if a key has no comment.
func Template(w io.Writer, secretFile string) error {
	f, err := defaultFile()
	if err != nil {
		return err
	}
	f.Auth.HMACSecretFile = secretFile
	f.Channels = []policy.Rule{templateRule()}
	t := &templateWriter{}
	t.header()
	t.mapping(reflect.ValueOf(f).Elem(), 0, "")
	if len(t.missing) > 0 {
		return fmt.Errorf("config: no comment for %s", strings.Join(t.missing, ", "))
	}
	_, err = io.WriteString(w, t.b.String())
	return err
}

// defaultFile is an empty file loaded as Load loads one, with the
// defaults the server's settings fill in copied back into it.
func defaultFile() (*File, error) {
	env := []string{"RAMPART_JWT_SECRET=" + strings.Repeat("x", auth.MinHMACSecretBytes)}
	f, err := Parse("defaults", nil, env)
	if err != nil {
		return nil, err
	}
	f.Auth.HMACSecretEnv = "RAMPART_JWT_SECRET"
	copyKeys(reflect.ValueOf(f).Elem(), reflect.ValueOf(f.Compiled().Settings()))
	return f, nil
}

// copyKeys sets each key of dst that src has (by yaml name, through inline
// structs) to src's value.
func copyKeys(dst, src reflect.Value) {
	if dst.Type() == src.Type() {
		dst.Set(src)
		return
	}
	if dst.Kind() != reflect.Struct || src.Kind() != reflect.Struct {
		return
	}
	srcKeys := map[string]reflect.Value{}
	for i := range src.NumField() {
		if name, _ := yamlKey(src.Type().Field(i)); name != "" {
			srcKeys[name] = src.Field(i)
		}
	}
	for i := range dst.NumField() {
		name, inline := yamlKey(dst.Type().Field(i))
		switch sv, ok := srcKeys[name]; {
		case inline:
			copyKeys(dst.Field(i), src)
		case ok:
			copyKeys(dst.Field(i), sv)
		}
	}
}

// yamlKey is a field's key in the file, "" if it has none; inline when
// its keys are its parent's.
func yamlKey(f reflect.StructField) (name string, inline bool) {
	name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if opts == "inline" {
		return "", true
	}
	if name == "-" || !f.IsExported() {
		return "", false
	}
	return name, false
}

type templateWriter struct {
	b       strings.Builder
	missing []string // keys without a comment
}

func (t *templateWriter) header() {
	t.b.WriteString(`# Rampart configuration, written by rampart init.
#
# Every key is here at its default, under a comment saying what it does;
# delete what you do not change, or keep it as a record. A key the server
# does not know stops the start, with its line. Every key can also be set
# by an environment variable, which wins over this file:
# limits.max_message_bytes is RAMPART_LIMITS_MAX_MESSAGE_BYTES.
# Check this file with: rampart check-config FILE
#
# As written, the server accepts no handshake: list your application's
# origin in origins.allow (browsers), or set origins.allow_missing: true
# for services that send no Origin; and grant channels in channels.
`)
}

// mapping writes the keys of struct v at indent; first is written before
// the first key instead of the indent (the "- " of a list item).
func (t *templateWriter) mapping(v reflect.Value, indent int, first string) {
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		name, inline := yamlKey(sf)
		if inline {
			t.mapping(v.Field(i), indent, first)
			first = ""
			continue
		}
		if name == "" {
			continue
		}
		pad := strings.Repeat(" ", indent)
		if indent == 0 {
			t.b.WriteString("\n")
		}
		if first != "" {
			t.comment(strings.Repeat(" ", indent-len(first)), name, v.Type(), sf)
		} else {
			t.comment(pad, name, v.Type(), sf)
		}
		lead := pad
		if first != "" {
			lead, first = strings.Repeat(" ", indent-len(first))+first, ""
		}
		t.value(lead+name+":", v.Field(i), indent)
	}
}

// comment writes the comment of field sf of type parent, or of its type
// for a section without one.
func (t *templateWriter) comment(pad, name string, parent reflect.Type, sf reflect.StructField) {
	text := keyDocs[docName(parent)+"."+sf.Name]
	if text == "" && parent == reflect.TypeFor[File]() {
		text = keyDocs["settings.Settings."+sf.Name] // the keys File takes from Settings
	}
	if ft := deref(sf.Type); text == "" && ft.Kind() == reflect.Struct {
		text = keyDocs[docName(ft)]
	}
	if text == "" {
		t.missing = append(t.missing, docName(parent)+"."+sf.Name+" ("+name+")")
		return
	}
	for _, line := range wrap(text, 76-len(pad)) {
		t.b.WriteString(pad + "# " + line + "\n")
	}
}

// value writes "key:" and v: nested keys for a struct, one item per rule
// for a list of structs, else the value on the same line.
func (t *templateWriter) value(key string, v reflect.Value, indent int) {
	v = derefValue(v)
	switch {
	case v.Kind() == reflect.Struct && v.Type().PkgPath() != "time":
		t.b.WriteString(key + "\n")
		t.mapping(v, indent+2, "")
	case v.Kind() == reflect.Slice && deref(v.Type().Elem()).Kind() == reflect.Struct:
		t.b.WriteString(key + "\n")
		for j := range v.Len() {
			t.mapping(derefValue(v.Index(j)), indent+4, "- ")
		}
	default:
		t.b.WriteString(key + " " + scalar(v) + "\n")
	}
}

// scalar is v in YAML's flow style: durations with their units, lists in
// brackets, maps in braces.
func scalar(v reflect.Value) string {
	switch {
	case !v.IsValid():
		return "null"
	case v.Type() == reflect.TypeFor[time.Duration]():
		return duration(time.Duration(v.Int()))
	case v.Kind() == reflect.Slice:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = scalar(v.Index(i))
		}
		return "[" + strings.Join(items, ", ") + "]"
	case v.Kind() == reflect.Map:
		keys := slices.Sorted(maps.Keys(mapStrings(v)))
		items := make([]string, len(keys))
		for i, k := range keys {
			items[i] = k + ": " + scalar(v.MapIndex(reflect.ValueOf(k)))
		}
		return "{" + strings.Join(items, ", ") + "}"
	}
	out, err := yaml.Marshal(v.Interface())
	if err != nil {
		panic(errors.New("config: a template value is not YAML: " + err.Error()))
	}
	return strings.TrimSpace(string(out))
}

func mapStrings(v reflect.Value) map[string]bool {
	m := map[string]bool{}
	for _, k := range v.MapKeys() {
		m[k.String()] = true
	}
	return m
}

// duration writes 1m rather than 1m0s.
func duration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func docName(t reflect.Type) string {
	t = deref(t)
	return t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:] + "." + t.Name()
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func derefValue(v reflect.Value) reflect.Value {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// wrap breaks text into lines of at most width characters.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}
