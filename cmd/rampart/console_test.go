package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A console on an admin address other machines reach is served over TLS
// with the main listener's certificate, and its cookie is __Host- and
// Secure.
func TestServeConsoleOverTLS(t *testing.T) {
	dir := t.TempDir()
	bin := buildRampart(t, dir)
	certs := newPKI(t, dir)
	certs.issue(t, 7)
	const key = "console-serve-key-0123456789abcdef"
	keys := filepath.Join(dir, "api-keys")
	if err := os.WriteFile(keys, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := writeConfig(t, dir, "rampart.yaml", fmt.Sprintf(`listen: "127.0.0.1:0"
tls: { cert_file: %q, key_file: %q }
metrics: { listen: "0.0.0.0:0" }
api: { keys_file: %q }
console: { enabled: true }
log: { format: json, level: info }
limits: { shutdown_spread: 10ms }
`, certs.certFile, certs.keyFile, keys))
	p := startProcess(t, bin, "serve", "--config", cfgPath)
	started := p.event(t, "admin_started", map[string]string{"scheme": "https"}, 30*time.Second)
	_, port, err := net.SplitHostPort(fmt.Sprint(started["addr"]))
	if err != nil {
		t.Fatal(err)
	}
	base := "https://127.0.0.1:" + port
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: certs.pool, MinVersion: tls.VersionTLS12}}}
	req, _ := http.NewRequest(http.MethodPost, base+"/console/api/login", strings.NewReader(`{"key":"`+key+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 1 {
		t.Fatalf("login over TLS: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	if ck := resp.Cookies()[0]; ck.Name != "__Host-rampart_console" || !ck.Secure || !ck.HttpOnly {
		t.Fatalf("cookie %+v", ck)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS over TLS")
	}
	// Plain HTTP gets no answer from the admin listener.
	if r, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://127.0.0.1:" + port + "/console/"); err == nil && r.StatusCode == http.StatusOK {
		t.Fatal("the console answered over plain HTTP")
	}
}
