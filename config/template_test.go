package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-rt/rampart/policy"
	"go.yaml.in/yaml/v3"
)

// typeKeys lists every key path of t as the file writes it; a list of
// structs (channels) contributes its items' keys as "channels[].pattern".
func typeKeys(t reflect.Type, prefix string, out map[string]bool) {
	t = deref(t)
	for i := range t.NumField() {
		sf := t.Field(i)
		name, inline := yamlKey(sf)
		if inline {
			typeKeys(sf.Type, prefix, out)
			continue
		}
		if name == "" {
			continue
		}
		path := join(prefix, name)
		out[path] = true
		switch ft := deref(sf.Type); {
		case ft.Kind() == reflect.Struct && !isLeaf(ft):
			typeKeys(ft, path, out)
		case ft.Kind() == reflect.Slice && deref(ft.Elem()).Kind() == reflect.Struct:
			typeKeys(ft.Elem(), path+"[]", out)
		}
	}
}

// docKeys lists the key paths written in a YAML document, as typeKeys
// names them.
func docKeys(n *yaml.Node, prefix string, out map[string]bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			path := join(prefix, n.Content[i].Value)
			out[path] = true
			if v := n.Content[i+1]; v.Kind == yaml.SequenceNode && len(v.Content) > 0 && v.Content[0].Kind == yaml.MappingNode {
				for _, item := range v.Content {
					docKeys(item, path+"[]", out)
				}
			} else {
				docKeys(v, path, out)
			}
		}
	}
}

func template(t *testing.T, secretFile string) string {
	t.Helper()
	var b bytes.Buffer
	if err := Template(&b, secretFile); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// Every key the file knows is in the template, with a comment above it:
// a key added to File, settings or policy without a comment fails here
// (and a comment not regenerated fails TestKeyDocsMatchTheSources).
func TestTemplateHasEveryKeyWithAComment(t *testing.T) {
	out := template(t, "rampart.secret")
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("the template is not YAML: %v\n%s", err, out)
	}
	want, got := map[string]bool{}, map[string]bool{}
	typeKeys(reflect.TypeFor[File](), "", want)
	docKeys(doc.Content[0], "", got)
	for k := range want {
		if !got[k] {
			t.Errorf("key %s is not in the template", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("the template writes %s, which the file does not know", k)
		}
	}
	if strings.Contains(out, ": null\n") {
		t.Errorf("a key is written as null, not at its default: give it one in File.defaults or the settings' defaults")
	}
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		text := strings.TrimLeft(strings.TrimPrefix(strings.TrimSpace(line), "- "), " ")
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if i == 0 || !strings.HasPrefix(strings.TrimSpace(lines[i-1]), "# ") {
			t.Errorf("line %d %q has no comment above it", i+1, line)
		}
	}
}

// The template loads, with the secret file it names, into exactly the
// defaults (and its one rule): what it says is the default is.
func TestTemplateLoadsToTheDefaults(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rampart.yaml")
	if err := os.WriteFile(path, []byte(template(t, "rampart.secret")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rampart.secret"), []byte(strings.Repeat("k", 43)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, nil)
	if err != nil {
		t.Fatalf("the template does not load: %v", err)
	}
	want, err := defaultFile()
	if err != nil {
		t.Fatal(err)
	}
	want.Auth.HMACSecretFile = filepath.Join(dir, "rampart.secret")
	want.Channels = slices.Clone(got.Channels)
	if !reflect.DeepEqual(got.Channels, []policy.Rule{templateRule()}) {
		t.Errorf("channels %+v, want the template's rule %+v", got.Channels, templateRule())
	}
	g, _ := yaml.Marshal(got)
	w, _ := yaml.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Errorf("the template loads to\n%s\nwant the defaults\n%s", g, w)
	}
	if string(got.Auth.HMACSecret) != strings.Repeat("k", 43) {
		t.Errorf("the secret was not read from the secret file")
	}
}
