package settings

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/policy"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// writeSchema writes a JSON Schema file and returns its path.
func writeSchema(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "news.json")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func paths(err error) []string {
	var out []string
	for _, e := range unjoin(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			out = append(out, fe.Path)
		} else {
			out = append(out, "not a FieldError: "+e.Error())
		}
	}
	return out
}

func TestCompileFillsInTheDefaults(t *testing.T) {
	c, err := Compile(Settings{Auth: Auth{HMACSecret: secret}})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Settings()
	if s.Path != "/ws" || s.HandshakeTimeout != 5*time.Second || !*s.RequireSubprotocol ||
		s.Limits.MaxMessageBytes != 16384 || s.Limits.PingInterval != 25*time.Second ||
		!slices.Equal(s.Auth.Algorithms, []string{"HS256"}) || !*s.Auth.RequireExp ||
		!slices.Equal(s.Auth.Sources, []string{SourceHeader, SourceSubprotocol, SourceCookie}) ||
		s.RPC.Timeout != 5*time.Second || s.RPC.HTTPClient == nil || s.API.MaxBodyBytes != 64<<10 {
		t.Fatalf("defaults: %+v", s)
	}
	if c.Rules() == nil || c.Origins() == nil || c.ClientIP() == nil || len(c.Auth().HMACSecret) != len(secret) {
		t.Fatal("a compiled part is missing")
	}
}

// Every problem comes at once, each a *FieldError naming its key, in the
// order of the file's sections.
func TestCompileReportsEveryProblem(t *testing.T) {
	_, err := Compile(Settings{
		Path:           "ws",
		TrustedProxies: []string{"not-an-ip"},
		Origins:        Origins{Allow: []string{"ftp://x"}},
		Auth:           Auth{Algorithms: []string{"none"}, HMACSecret: []byte("short")},
		Limits:         Limits{MaxMessageBytes: 10},
		Compression:    Compression{ThresholdBytes: -1},
		Channels: []policy.Rule{
			{Pattern: "a/b"},
			{Pattern: "news:*", Schema: filepath.Join(t.TempDir(), "absent.json")},
		},
		RPC:         RPC{Methods: map[string][]string{"m": {"user"}}},
		API:         API{Keys: []string{"short"}},
		MetricsKeys: []string{"short"},
	})
	want := []string{"path", "origins.allow", "trusted_proxies", "auth.algorithms", "auth.hmac_secret_env",
		"limits.max_message_bytes", "compression.threshold_bytes", "rpc.url", "api.keys_env", "metrics.keys_env", "channels[1].schema", "channels[0]"}
	if got := paths(err); !slices.Equal(got, want) {
		t.Fatalf("problems at\n\t%v\nwant\n\t%v\nin\n%v", got, want, err)
	}
}

// Recompile takes a compiled part as it is when its settings did not
// change: the schema file is not read again, even if it changed since.
func TestRecompileKeepsWhatDidNotChange(t *testing.T) {
	schema := writeSchema(t, `{"type": "object"}`)
	s := Settings{
		Auth:     Auth{HMACSecret: secret},
		Origins:  Origins{Allow: []string{"https://app.example.com"}},
		Channels: []policy.Rule{{Pattern: "news:*", Subscribe: []string{"*"}, Schema: schema}},
	}
	c, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(schema, []byte(`{"type": `), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Limits.Burst = 20
	again, err := c.Recompile(s)
	if err != nil {
		t.Fatalf("the unchanged channels were compiled again: %v", err)
	}
	if again.Settings().Limits.Burst != 20 {
		t.Fatal("the changed limit is not in the result")
	}
	if again.Processors()["news:*"] != c.Processors()["news:*"] || again.Rules() != c.Rules() ||
		again.Origins() != c.Origins() || again.ClientIP() != c.ClientIP() {
		t.Fatal("an unchanged part was compiled again")
	}
	if _, err := again.Recompile(Settings{Limits: Limits{Burst: -1}, Auth: s.Auth, Origins: s.Origins, Channels: s.Channels}); !slices.Equal(paths(err), []string{"limits.burst"}) {
		t.Fatalf("a plain value is not checked again: %v", err)
	}

	s.Channels = append(s.Channels, policy.Rule{Pattern: "chat:*"})
	if _, err := c.Recompile(s); !slices.Equal(paths(err), []string{"channels[0].schema"}) {
		t.Fatalf("changed channels were not compiled again: %v", err)
	}
	s.Channels = s.Channels[:1]
	s.Origins.Allow = []string{"ftp://x"}
	if _, err := c.Recompile(s); !slices.Equal(paths(err), []string{"origins.allow"}) {
		t.Fatalf("changed origins were not compiled again: %v", err)
	}
}

// A Compiled shares nothing with the Settings given to Compile or taken
// from it: changing them in place neither changes it nor fools Recompile.
func TestCompiledSharesNothing(t *testing.T) {
	s := Settings{
		Auth:     Auth{HMACSecret: secret},
		Origins:  Origins{Allow: []string{"https://app.example.com"}},
		Channels: []policy.Rule{{Pattern: "news:*", Subscribe: []string{"user"}}},
		RPC:      RPC{URL: "http://127.0.0.1:9000/rpc", Methods: map[string][]string{"read": {"user"}}},
	}
	c, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	s.Origins.Allow[0] = "ftp://x"
	s.Channels[0].Subscribe[0] = "admin"
	s.RPC.Methods["read"][0] = "admin"
	s.Auth.HMACSecret[0] = 'X'
	got := c.Settings()
	if got.Origins.Allow[0] != "https://app.example.com" || got.Channels[0].Subscribe[0] != "user" ||
		got.RPC.Methods["read"][0] != "user" || got.Auth.HMACSecret[0] != '0' {
		t.Fatalf("the caller's change reached the compiled settings: %+v", got)
	}
	got.Origins.Allow[0] = "ftp://x"
	if _, err := c.Recompile(got); !slices.Equal(paths(err), []string{"origins.allow"}) {
		t.Fatalf("a change to the returned settings was taken for the compiled ones: %v", err)
	}
	if c.Settings().Origins.Allow[0] != "https://app.example.com" {
		t.Fatal("Settings returned the compiled settings themselves")
	}
}

// The token verifier's own messages name the file's keys, never its Go
// names.
func TestVerifierProblemsNameKeys(t *testing.T) {
	_, err := Compile(Settings{Auth: Auth{Algorithms: []string{"RS256"}, JWKSURL: "https://id.example.com/jwks"}})
	msg := err.Error()
	for _, want := range []string{"auth.jwks_url: auth.jwks_url requires auth.issuer"} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in\n%s", want, msg)
		}
	}
	for _, name := range []string{"JWKSURL", "Issuer", "HMACSecret", "PublicKeys"} {
		if strings.Contains(msg, name) {
			t.Errorf("the message names %s:\n%s", name, msg)
		}
	}
}
