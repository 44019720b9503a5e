package rampart

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/policy"
	"github.com/rampart-rt/rampart/settings"
)

// Config has every setting, under the same name and type, and ConfigOf
// carries each one over.
func TestConfigHasEverySetting(t *testing.T) {
	ct, st := reflect.TypeFor[Config](), reflect.TypeFor[settings.Settings]()
	for i := range st.NumField() {
		sf := st.Field(i)
		if cf, ok := ct.FieldByName(sf.Name); !ok || cf.Type != sf.Type {
			t.Errorf("Config has no field %s %s", sf.Name, sf.Type)
		}
	}
	c, err := settings.Compile(settings.Settings{
		TrustedProxies: []string{"10.0.0.0/8"},
		Origins:        Origins{Allow: []string{"https://app.example.com"}, AllowMissing: true},
		Auth:           Auth{HMACSecret: testSecret},
		Channels:       []policy.Rule{{Pattern: "news:*", Subscribe: []string{"*"}}},
		RPC:            RPC{URL: "http://127.0.0.1:9000/rpc", Methods: map[string][]string{"read": {"user"}}},
		API:            API{Keys: []string{"api-key-0123456789abcdef-01"}},
		MetricsKeys:    []string{"metrics-key-0123456789abcdef-01"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ConfigOf(c)
	if got, want := cfg.serverSettings(), c.Settings(); !reflect.DeepEqual(got, want) || cfg.Compiled != c {
		t.Fatalf("ConfigOf lost a setting:\n%+v\nwant\n%+v", got, want)
	}
}

// New runs the compiled form it is handed, compiling nothing again: a
// schema file broken after it was checked does not matter, and the server
// checks publications against the schema that was checked. Without the
// compiled form New reads the file itself, and refuses it.
func TestNewRunsTheCompiledSettings(t *testing.T) {
	schema := filepath.Join(t.TempDir(), "news.json")
	if err := os.WriteFile(schema, []byte(`{"type": "object"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig()
	cfg.Channels = []policy.Rule{{Pattern: "news:*", Subscribe: []string{"*"}, Publish: []string{"*"}, Schema: schema}}
	c, err := settings.Compile(cfg.serverSettings())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(schema, []byte(`{"type": `), 0o600); err != nil {
		t.Fatal(err)
	}
	var fe *FieldError
	if _, err := New(cfg); !errors.As(err, &fe) || fe.Path != "channels[0].schema" {
		t.Fatalf("New without the compiled form: %v, want the broken schema", err)
	}

	run := ConfigOf(c)
	run.Logger = cfg.Logger
	s, err := New(run)
	if err != nil {
		t.Fatalf("New compiled again: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	if s.st().procs["news:*"] != c.Processors()["news:*"] || s.st().rules != c.Rules() {
		t.Fatal("the server does not run the compiled rules it was handed")
	}
	if _, cmdErr := s.checkData(s.st().rules.Match("news:x", "u"), "news:x", []byte(`[1]`)); cmdErr == nil {
		t.Fatal("data the checked schema refuses was accepted")
	}

	run.Limits.Burst = 7
	if err := s.Reload(run); err != nil {
		t.Fatalf("Reload compiled the unchanged channels again: %v", err)
	}
	if s.st().cfg.Limits.Burst != 7 || s.st().procs["news:*"] != c.Processors()["news:*"] {
		t.Fatal("Reload did not apply the limit, or compiled the channels again")
	}
	run.Channels = append(run.Channels, policy.Rule{Pattern: "chat:*"})
	if err := s.Reload(run); !errors.As(err, &fe) || fe.Path != "channels[0].schema" {
		t.Fatalf("Reload with changed channels: %v, want the broken schema read again", err)
	}
}
