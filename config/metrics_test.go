package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A listener that is not loopback serves /metrics only with a separate
// metrics listener, a key, or the loud insecure_public; otherwise the
// configuration is refused, naming the keys that would fix it.
func TestPublicListenerProtectsMetrics(t *testing.T) {
	dir := t.TempDir()
	keysFile := filepath.Join(dir, "metrics-keys")
	if err := os.WriteFile(keysFile, []byte("# scraper\nmetrics-key-0123456789abcdef-01\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const public = "listen: \"0.0.0.0:8080\"\ninsecure_allow_plaintext: true\n"
	key := "RAMPART_METRICS_KEYS=metrics-key-0123456789abcdef-01"
	tests := []struct {
		name, src string
		env       []string
		flags     []Flag
		want      string // "": accepted
	}{
		{"public, nothing", public, nil, nil,
			"c.yaml:1: listen: /metrics would answer anyone on the non-loopback address 0.0.0.0:8080: set metrics.listen"},
		{"public, empty metrics section", public + "metrics: { listen: \"\" }\n", nil, nil,
			"c.yaml:3: metrics: /metrics would answer anyone"},
		{"public with tls, nothing", "listen: \"[::]:443\"\ntls: { cert_file: c.pem, key_file: k.pem }\n", nil, nil,
			"c.yaml:1: listen: /metrics would answer anyone on the non-loopback address [::]:443"},
		{"public from the environment", "", []string{"RAMPART_LISTEN=0.0.0.0:8080", "RAMPART_INSECURE_ALLOW_PLAINTEXT=true"}, nil,
			"RAMPART_LISTEN: listen: /metrics would answer anyone"},
		{"public from a flag", "insecure_allow_plaintext: true\n", nil, []Flag{{Name: "--listen", Key: "listen", Value: ":8080"}},
			"--listen: listen: /metrics would answer anyone on the non-loopback address :8080"},
		{"public, a key too short", public, []string{"RAMPART_METRICS_KEYS=short"}, nil,
			"c.yaml: metrics.keys_env: key 1 is shorter than 24 characters"},
		{"public, separate listener", public + "metrics: { listen: \"127.0.0.1:9090\" }\n", nil, nil, ""},
		{"public, a key in the variable", public, []string{key}, nil, ""},
		{"public, a key in a variable the file names", public + "metrics: { keys_env: SCRAPE_KEYS }\n",
			[]string{"SCRAPE_KEYS=metrics-key-0123456789abcdef-01"}, nil, ""},
		{"public, a key file", public + "metrics: { keys_file: " + keysFile + " }\n", nil, nil, ""},
		{"public, loudly open", public + "metrics: { insecure_public: true }\n", nil, nil, ""},
		{"loopback", "listen: \"127.0.0.1:8080\"\n", nil, nil, ""},
		{"loopback by name", "listen: \"localhost:8080\"\n", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("c.yaml", []byte(tt.src), append([]string{secret}, tt.env...), tt.flags...)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tt.src == public+"metrics: { insecure_public: true }\n" && !f.PublicMetrics() {
					t.Fatal("PublicMetrics is false for an open /metrics on a public listener")
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			found := false
			for line := range strings.Lines(err.Error()) {
				found = found || strings.HasPrefix(line, tt.want)
			}
			if !found {
				t.Fatalf("no line starts with %q in:\n%s", tt.want, err)
			}
			if tt.want != "" && strings.Contains(tt.want, "would answer anyone") {
				for _, k := range []string{"metrics.listen", "metrics.keys_env", "metrics.keys_file", "metrics.insecure_public"} {
					if !strings.Contains(err.Error(), k) {
						t.Errorf("the message does not name %s: %v", k, err)
					}
				}
			}
		})
	}
}

// The keys are read from the variable and the file, every one of them.
func TestMetricsKeysAreRead(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keys"), []byte("metrics-key-0123456789abcdef-02\n\n# old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "rampart.yaml")
	if err := os.WriteFile(path, []byte("metrics: { keys_file: keys }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path, []string{secret, "RAMPART_METRICS_KEYS=metrics-key-0123456789abcdef-01, "})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.MetricsKeys, " ") != "metrics-key-0123456789abcdef-01 metrics-key-0123456789abcdef-02" {
		t.Fatalf("keys %q", f.MetricsKeys)
	}
}
