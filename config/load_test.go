package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const secret = "RAMPART_JWT_SECRET=0123456789abcdef0123456789abcdef"

func TestLoadFull(t *testing.T) {
	f, err := Load("testdata/full.yaml", []string{secret})
	if err != nil {
		t.Fatal(err)
	}
	if f.Limits.MaxMessageBytes != 16384 || f.Limits.PingInterval != 25*time.Second {
		t.Fatalf("limits not read: %+v", f.Limits)
	}
	if len(f.Channels) != 2 || f.Channels[0].History.TTL != 10*time.Minute || !f.Channels[0].SanitizeHTML {
		t.Fatalf("channels not read: %+v", f.Channels)
	}
	if string(f.Auth.HMACSecret) != "0123456789abcdef0123456789abcdef" {
		t.Fatal("secret not read from the environment")
	}
	if f.Auth.Cookie.Name != "session" || f.Origins.Allow[1] != "https://*.example.com" {
		t.Fatalf("auth/origins not read: %+v %+v", f.Auth, f.Origins)
	}
}

func TestEnvWinsOverFile(t *testing.T) {
	f, err := Load("testdata/full.yaml", []string{secret,
		"RAMPART_LIMITS_MAX_MESSAGE_BYTES=4096",
		"RAMPART_ORIGINS_ALLOW=[https://a.example.org]",
		"RAMPART_LOG_FORMAT=text",
		"RAMPART_AUTH_COOKIE_NAME=sid",
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.Limits.MaxMessageBytes != 4096 || f.Log.Format != "text" || f.Auth.Cookie.Name != "sid" {
		t.Fatalf("environment did not win: %+v %+v", f.Limits, f.Log)
	}
	if len(f.Origins.Allow) != 1 || f.Origins.Allow[0] != "https://a.example.org" {
		t.Fatalf("list from env: %v", f.Origins.Allow)
	}
}

func TestProblemsHaveLinesAndReasons(t *testing.T) {
	src := `listen: "0.0.0.0:8080"
limits:
  max_message_bytes: 10
  burst: 0
  bogus: 1
channels:
  - pattern: "a/b"
    subscribe: [self]
log: { format: xml }
`
	_, err := Parse("r.yaml", []byte(src), []string{secret, "RAMPART_LIMITS_SEND_QUEUE=-3"})
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	msg := err.Error()
	// An unknown key stops before validation, so the first pass reports it alone.
	for _, want := range []string{"r.yaml:5: limits.bogus: unknown key"} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	_, err = Parse("r.yaml", []byte(strings.Replace(src, "  bogus: 1\n", "", 1)), []string{secret, "RAMPART_LIMITS_SEND_QUEUE=-3"})
	msg = err.Error()
	for _, want := range []string{
		"r.yaml:1: listen: plain ws:// on a non-loopback address",
		"r.yaml:3: limits.max_message_bytes: must be between 128",
		"r.yaml:4: limits.burst: must be positive",
		"RAMPART_LIMITS_SEND_QUEUE: limits.send_queue: must be between 1",
		"r.yaml:6: channels[0]: pattern has character",
		"r.yaml:8: log.format",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

func TestBadValues(t *testing.T) {
	tests := []struct {
		name, src, want string
		env             []string
	}{
		{"wrong type", "limits:\n  burst: lots\n", `c.yaml:2: limits.burst: "lots" is not a whole number`, nil},
		{"bad duration", "limits:\n  ping_interval: soon\n", `c.yaml:2: limits.ping_interval: "soon" is not a duration`, nil},
		{"bad env value", "", "RAMPART_LIMITS_BURST", []string{"RAMPART_LIMITS_BURST=many"}},
		{"missing secret", "", "c.yaml: auth.hmac_secret_env: RAMPART_JWT_SECRET is not set", []string{}},
		{"not a mapping", "- a\n- b\n", "the top level must be a mapping", nil},
		{"plaintext allowed loudly", "listen: 0.0.0.0:1\ninsecure_allow_plaintext: true\nlimits: {burst: 0}\n", "limits.burst", nil},
		{"tls half", "tls: {cert_file: a.pem}\n", "cert_file and key_file go together", nil},
		{"unknown broker", "broker: {type: kafka}\n", "broker.type", nil},
		{"redis without addrs", "broker: {type: redis}\n", "broker.redis.addrs", nil},
		{"duplicate key", "listen: a:1\nlisten: b:2\n", "listen", nil},
		{"unknown algorithm", "auth: {algorithms: [none]}\n", "unknown algorithm", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			if env == nil {
				env = []string{secret}
			}
			_, err := Parse("c.yaml", []byte(tt.src), env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want an error containing %q, got %v", tt.want, err)
			}
		})
	}
}

func TestSecretNeverInErrors(t *testing.T) {
	_, err := Parse("c.yaml", []byte("limits: {burst: 0}\n"), []string{secret})
	if err == nil || strings.Contains(err.Error(), "0123456789abcdef") {
		t.Fatalf("error must exist and not carry the secret: %v", err)
	}
}

func TestEmptyFileGetsDefaults(t *testing.T) {
	f, err := Parse("c.yaml", nil, []string{secret})
	if err != nil {
		t.Fatal(err)
	}
	if f.Listen != "127.0.0.1:8080" || f.Broker.Type != "memory" || f.Log.Format != "json" {
		t.Fatalf("defaults: %+v", f)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("limits: {burst: 3}\n"))
	f.Add([]byte("channels:\n  - pattern: a\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		_, _ = Parse("f.yaml", src, []string{secret})
	})
}

func TestRelativePathsFollowTheFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "schemas"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "schemas", "news.json"), []byte(`{"type":"object"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := "auth: {hmac_secret_file: secret}\nchannels:\n  - pattern: \"news:*\"\n    schema: schemas/news.json\n"
	path := filepath.Join(dir, "rampart.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path, nil) // the working directory is not dir
	if err != nil {
		t.Fatal(err)
	}
	if f.Channels[0].Schema != filepath.Join(dir, "schemas", "news.json") || len(f.Auth.HMACSecret) != 32 {
		t.Fatalf("schema %q, secret %d bytes", f.Channels[0].Schema, len(f.Auth.HMACSecret))
	}
}
