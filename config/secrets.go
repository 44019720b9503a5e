package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rampart-rt/rampart/auth"
)

// resolvePaths makes the file's relative paths relative to dir, the
// configuration file's directory, so that the server finds them whatever
// its working directory.
func (f *File) resolvePaths(dir string) {
	if dir == "" {
		return
	}
	fix := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	fix(&f.TLS.CertFile)
	fix(&f.TLS.KeyFile)
	fix(&f.Auth.HMACSecretFile)
	fix(&f.API.KeysFile)
	fix(&f.Metrics.KeysFile)
	fix(&f.Hooks.KeyFile)
	fix(&f.Hooks.PreviousKeyFile)
	for i := range f.Auth.PublicKeyFiles {
		fix(&f.Auth.PublicKeyFiles[i])
	}
	for i := range f.Channels {
		fix(&f.Channels[i].Schema)
	}
}

// secrets reads the HMAC secret and the public keys the file names.
func (l *loader) secrets(f *File) {
	a := &f.Auth
	hmac := slices.ContainsFunc(a.Algorithms, func(s string) bool { return strings.HasPrefix(s, "HS") }) || len(a.Algorithms) == 0
	switch {
	case a.HMACSecretFile != "":
		b, err := os.ReadFile(a.HMACSecretFile)
		if err != nil {
			l.add(l.node("auth.hmac_secret_file"), "auth.hmac_secret_file", "cannot read the secret file: %s", errors.Unwrap(err))
			break
		}
		a.HMACSecret = []byte(strings.TrimSpace(string(b)))
	case hmac:
		a.HMACSecret = []byte(l.env[a.HMACSecretEnv])
	}
	l.apiKeys(f)
	l.hooksKey(f)
	l.metricsKeys(f)
	if env := f.Broker.Redis.PasswordEnv; env != "" {
		f.Broker.Redis.Password = l.env[env]
	}
	for i, path := range a.PublicKeyFiles {
		key := fmt.Sprintf("auth.public_key_files[%d]", i)
		b, err := os.ReadFile(path)
		if err != nil {
			l.add(l.node(key), key, "cannot read: %s", errors.Unwrap(err))
			continue
		}
		keys, err := auth.ParsePublicKeyPEM(b)
		if err != nil {
			l.add(l.node(key), key, "%s", err)
			continue
		}
		a.PublicKeys = append(a.PublicKeys, keys...)
	}
}

// apiKeys reads the API keys: comma-separated from the variable, and one
// per line from the file (both, so keys can be rotated).
func (l *loader) apiKeys(f *File) {
	f.API.Keys = append(f.API.Keys, splitKeys(l.env[f.API.KeysEnv], ",")...)
	if f.API.KeysFile != "" {
		b, err := os.ReadFile(f.API.KeysFile)
		if err != nil {
			l.add(l.node("api.keys_file"), "api.keys_file", "cannot read: %s", errors.Unwrap(err))
			return
		}
		f.API.Keys = append(f.API.Keys, splitKeys(string(b), "\n")...)
	}
}

// hooksKey reads the hooks' signing key, from the file when one is named,
// else from the variable, when a hook is configured; and the key being
// retired, when hooks.previous_key_env or hooks.previous_key_file names
// one.
func (l *loader) hooksKey(f *File) {
	h := &f.Hooks
	if !h.Enabled() {
		return
	}
	if h.KeyFile != "" {
		b, err := os.ReadFile(h.KeyFile)
		if err != nil {
			l.add(l.node("hooks.key_file"), "hooks.key_file", "cannot read the key file: %s", errors.Unwrap(err))
			return
		}
		h.Key = []byte(strings.TrimSpace(string(b)))
	} else {
		h.Key = []byte(l.env[h.KeyEnv])
	}
	switch {
	case h.PreviousKeyEnv != "" && h.PreviousKeyFile != "":
		l.add(l.node("hooks.previous_key_file"), "hooks.previous_key_file", "give hooks.previous_key_env or hooks.previous_key_file, not both")
	case h.PreviousKeyFile != "":
		b, err := os.ReadFile(h.PreviousKeyFile)
		if err != nil {
			l.add(l.node("hooks.previous_key_file"), "hooks.previous_key_file", "cannot read the key file: %s", errors.Unwrap(err))
			return
		}
		h.PreviousKey = []byte(strings.TrimSpace(string(b)))
	case h.PreviousKeyEnv != "":
		if h.PreviousKey = []byte(l.env[h.PreviousKeyEnv]); len(h.PreviousKey) == 0 {
			l.add(l.node("hooks.previous_key_env"), "hooks.previous_key_env", "%s is not set: name the variable that holds the key being retired, "+
				"or remove hooks.previous_key_env once every backend verifies with the new key", h.PreviousKeyEnv)
		}
	}
}

// metricsKeys reads the keys /metrics asks for, as apiKeys does.
func (l *loader) metricsKeys(f *File) {
	f.MetricsKeys = append(f.MetricsKeys, splitKeys(l.env[f.Metrics.KeysEnv], ",")...)
	if f.Metrics.KeysFile != "" {
		b, err := os.ReadFile(f.Metrics.KeysFile)
		if err != nil {
			l.add(l.node("metrics.keys_file"), "metrics.keys_file", "cannot read: %s", errors.Unwrap(err))
			return
		}
		f.MetricsKeys = append(f.MetricsKeys, splitKeys(string(b), "\n")...)
	}
}

func splitKeys(s, sep string) []string {
	var out []string
	for part := range strings.SplitSeq(s, sep) {
		if k := strings.TrimSpace(part); k != "" && !strings.HasPrefix(k, "#") {
			out = append(out, k)
		}
	}
	return out
}
