package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/settings"
)

// Every server setting is a key of the file, under the same name: the
// same type, or (auth, api) one that adds the keys naming its secrets.
func TestFileHasEverySetting(t *testing.T) {
	ft, st := reflect.TypeFor[File](), reflect.TypeFor[settings.Settings]()
	for i := range st.NumField() {
		sf := st.Field(i)
		f, ok := ft.FieldByName(sf.Name)
		if !ok || f.Tag.Get("yaml") != sf.Tag.Get("yaml") {
			t.Errorf("File has no field %s with the key %q", sf.Name, sf.Tag.Get("yaml"))
			continue
		}
		if f.Type != sf.Type && (f.Type.NumField() == 0 || f.Type.Field(0).Type != sf.Type || f.Type.Field(0).Tag.Get("yaml") != ",inline") {
			t.Errorf("File.%s is a %s, neither a %s nor one with it inline", sf.Name, f.Type, sf.Type)
		}
	}
}

// What Load compiled is the file's settings, with the secrets and keys the
// file names, and the defaults.
func TestLoadCompilesTheFilesSettings(t *testing.T) {
	src := `path: /rt
handshake_timeout: 3s
require_subprotocol: false
trusted_proxies: [10.0.0.0/8]
origins: { allow: ["https://app.example.com"], allow_missing: true }
auth: { leeway: 2s, cookie: { name: sid } }
limits: { burst: 20 }
channels:
  - pattern: "news:*"
    subscribe: [user]
rpc: { url: "http://127.0.0.1:9000/rpc", methods: { read: [user] } }
api: { max_body_bytes: 1024 }
`
	f, err := Parse("c.yaml", []byte(src), []string{secret,
		"RAMPART_API_KEYS=api-key-0123456789abcdef-01", "RAMPART_METRICS_KEYS=metrics-key-0123456789abcdef-01"})
	if err != nil {
		t.Fatal(err)
	}
	s := f.Compiled().Settings()
	checks := map[string]bool{
		"path":                s.Path == "/rt",
		"handshake_timeout":   s.HandshakeTimeout == 3*time.Second,
		"require_subprotocol": !*s.RequireSubprotocol,
		"trusted_proxies":     slices.Equal(s.TrustedProxies, []string{"10.0.0.0/8"}),
		"origins":             s.Origins.AllowMissing && s.Origins.Allow[0] == "https://app.example.com",
		"auth":                s.Auth.Leeway == 2*time.Second && s.Auth.Cookie.Name == "sid" && string(s.Auth.HMACSecret) == strings.TrimPrefix(secret, "RAMPART_JWT_SECRET="),
		"limits":              s.Limits.Burst == 20 && s.Limits.SendQueue == 256,
		"channels":            len(s.Channels) == 1 && s.Channels[0].Pattern == "news:*",
		"rpc":                 s.RPC.URL == "http://127.0.0.1:9000/rpc" && s.RPC.Methods["read"][0] == "user",
		"api":                 s.API.MaxBodyBytes == 1024 && slices.Equal(s.API.Keys, []string{"api-key-0123456789abcdef-01"}),
		"metrics keys":        slices.Equal(s.MetricsKeys, []string{"metrics-key-0123456789abcdef-01"}),
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("%s not carried over: %+v", what, s)
		}
	}
	if f.Compiled().Rules().Match("news:x", "u") == nil {
		t.Error("the compiled rules are not the file's")
	}
}

// io_uring is on unless the file turns it off; anything but a bool is an
// error with its line.
func TestIOURingKey(t *testing.T) {
	env := []string{"RAMPART_JWT_SECRET=" + strings.Repeat("s", 32)}
	for _, tc := range []struct {
		file string
		want *bool
	}{{"", &[]bool{true}[0]}, {"io_uring: false\n", new(bool)}} {
		f, err := Parse("c.yaml", []byte(tc.file), env)
		if err != nil {
			t.Fatalf("%q: %v", tc.file, err)
		}
		if (f.IOURing == nil) != (tc.want == nil) || (f.IOURing != nil && *f.IOURing != *tc.want) {
			t.Fatalf("%q: io_uring %v", tc.file, f.IOURing)
		}
	}
	_, err := Parse("c.yaml", []byte("\nio_uring: sometimes\n"), env)
	if err == nil || !strings.Contains(err.Error(), `c.yaml:2: io_uring: "sometimes" is not true or false`) {
		t.Fatalf("a bad io_uring: %v", err)
	}
}
