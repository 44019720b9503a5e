package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The hooks section loads with its key from a file (relative to the
// configuration's directory) or a variable, and the loud
// insecure_allow_http lets plain http reach another host.
func TestHooksSection(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hooks.key"), []byte("file-key-0123456789abcdef0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `hooks:
  key_file: hooks.key
  timeout: 250ms
  insecure_allow_http: true
  connect: { url: "http://backend.internal:9000/connect", on_error: allow }
  notify: { url: "https://app.example.com/events", events: [disconnect], retry_backoff: 1s }
`
	path := filepath.Join(dir, "r.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path, []string{secret})
	if err != nil {
		t.Fatal(err)
	}
	h := f.Compiled().Settings().Hooks
	if string(h.Key) != "file-key-0123456789abcdef0123456789" || h.Timeout != 250*time.Millisecond ||
		h.Connect.OnError != "allow" || h.Subscribe.OnError != "deny" || h.MaxConcurrent != 64 ||
		len(h.Notify.Events) != 1 || h.Notify.RetryBackoff != time.Second || h.Notify.Queue != 10000 {
		t.Fatalf("hooks loaded as %+v", h)
	}
	f, err = Parse("r.yaml", []byte("hooks: { subscribe: { url: \"https://app.example.com/s\" } }\n"),
		[]string{secret, "RAMPART_HOOKS_KEY=env-key-0123456789abcdef0123456789", "RAMPART_HOOKS_TIMEOUT=2s"})
	if err != nil {
		t.Fatal(err)
	}
	if h := f.Compiled().Settings().Hooks; string(h.Key) != "env-key-0123456789abcdef0123456789" || h.Timeout != 2*time.Second {
		t.Fatalf("hooks from the environment: %+v", h)
	}
	if _, err := Parse("r.yaml", []byte("limits: { burst: 5 }\n"), []string{secret}); err != nil {
		t.Fatalf("no hook, no key needed: %v", err)
	}
	// While rotating: the key being retired, from a variable or a file.
	f, err = Parse("r.yaml", []byte("hooks: { previous_key_env: OLD_HOOKS_KEY, subscribe: { url: \"https://app.example.com/s\" } }\n"),
		[]string{secret, "RAMPART_HOOKS_KEY=env-key-0123456789abcdef0123456789", "OLD_HOOKS_KEY=old-key-0123456789abcdef0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	if h := f.Compiled().Settings().Hooks; string(h.PreviousKey) != "old-key-0123456789abcdef0123456789" {
		t.Fatalf("previous key from the environment: %q", h.PreviousKey)
	}
	if err := os.WriteFile(filepath.Join(dir, "old.key"), []byte("old-file-key-0123456789abcdef012345\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rotating := strings.Replace(src, "  key_file: hooks.key\n", "  key_file: hooks.key\n  previous_key_file: old.key\n", 1)
	if err := os.WriteFile(path, []byte(rotating), 0o600); err != nil {
		t.Fatal(err)
	}
	if f, err = Load(path, []string{secret}); err != nil {
		t.Fatal(err)
	}
	if h := f.Compiled().Settings().Hooks; string(h.Key) != "file-key-0123456789abcdef0123456789" || string(h.PreviousKey) != "old-file-key-0123456789abcdef012345" {
		t.Fatalf("keys from files: %q, %q", h.Key, h.PreviousKey)
	}
}
