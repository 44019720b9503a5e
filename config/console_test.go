package config

import (
	"strings"
	"testing"
)

// The console is served on the admin listener only, and on an address
// other machines reach only over TLS; its values are checked with their
// lines.
func TestConsoleChecks(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"needs the admin listener", "console:\n  enabled: true\n",
			"c.yaml:2: console.enabled: needs metrics.listen: the console is served only on the admin listener"},
		{"public without tls", "metrics:\n  listen: 0.0.0.0:9090\nconsole:\n  enabled: true\n",
			"c.yaml:4: console.enabled: metrics.listen 0.0.0.0:9090 is not loopback: the console needs tls there"},
		{"session too long", "metrics: { listen: 127.0.0.1:9090 }\nconsole:\n  enabled: true\n  session_ttl: 48h\n",
			"c.yaml:4: console.session_ttl: must be between 1m and 24h"},
		{"no sessions", "metrics: { listen: 127.0.0.1:9090 }\nconsole:\n  max_sessions: -1\n",
			"c.yaml:3: console.max_sessions: must be between 1 and 1000"},
		{"bad role", "console:\n  admin_role: \"a b\"\n",
			"c.yaml:2: console.admin_role: must be 1 to 128 characters"},
		{"login budget", "console:\n  logins_per_ip_per_minute: 100000\n",
			"c.yaml:2: console.logins_per_ip_per_minute: must be between 1 and 600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tt.src), []string{secret})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v\nwant a line starting %s", err, tt.want)
			}
		})
	}
	f, err := Parse("c.yaml", []byte("metrics: { listen: 127.0.0.1:9090 }\nconsole: { enabled: true }\n"), []string{secret})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Compiled().Settings().Console.Enabled || f.AdminTLS() {
		t.Fatal("a loopback console: enabled, plain HTTP")
	}
	f.Metrics.Listen = "10.0.0.5:9090"
	if f.AdminTLS() {
		t.Fatal("no tls configured: the admin listener cannot serve it")
	}
	f.TLS.CertFile = "cert.pem"
	if !f.AdminTLS() {
		t.Fatal("a console on a non-loopback admin listener is served over TLS")
	}
	if c := f.Compiled().Settings().Console; c.SessionTTL.String() != "1h0m0s" || c.MaxSessions != 32 || c.AdminRole != "rampart-admin" || c.LoginsPerIPPerMinute != 10 {
		t.Fatalf("defaults %+v", c)
	}
}
