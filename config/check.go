package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/rampart-rt/rampart/auth"
	"github.com/rampart-rt/rampart/hooks"
	"github.com/rampart-rt/rampart/settings"
)

// validate checks the server's settings and the binary's. The server's
// are checked by compiling them, once: what compiled is kept in f for the
// server to run.
func (l *loader) validate(f *File) {
	c, err := settings.Compile(f.serverSettings())
	f.compiled = c
	if err != nil {
		var fe *settings.FieldError
		for _, e := range unjoin(err) {
			switch {
			case errors.As(e, &fe) && fe.Path == "auth.hmac_secret_env":
				l.secretProblem(f, fe.Reason)
			case errors.As(e, &fe) && fe.Path == "hooks.key_env":
				l.hooksKeyProblem(f)
			case errors.As(e, &fe) && fe.Path == "hooks.previous_key_env" && f.Hooks.PreviousKeyFile != "":
				l.add(l.exact("hooks.previous_key_file"), "hooks.previous_key_file", "the file holds %d bytes; the hooks' previous signing key needs at least %d",
					len(f.Hooks.PreviousKey), hooks.MinKeyBytes)
			case errors.As(e, &fe):
				l.add(l.node(fe.Path), fe.Path, "%s", fe.Reason)
			default:
				l.add(nil, "", "%s", e)
			}
		}
	}
	l.validateListen(f)
	if f.API.AdminOnly && f.Metrics.Listen == "" {
		l.add(l.node("api.admin_only"), "api.admin_only", "needs metrics.listen: the API would be served nowhere")
	}
	l.validateConsole(f)
	switch f.Log.Format {
	case "json", "text":
	default:
		l.add(l.node("log.format"), "log.format", "must be json or text, not %q", f.Log.Format)
	}
	switch f.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		l.add(l.node("log.level"), "log.level", "must be debug, info, warn or error, not %q", f.Log.Level)
	}
	switch f.Broker.Type {
	case "memory":
	case "redis":
		if len(f.Broker.Redis.Addrs) == 0 {
			l.add(l.node("broker.redis.addrs"), "broker.redis.addrs", "the redis broker needs at least one address")
		}
	case "nats":
		if f.Broker.NATS.URL == "" {
			l.add(l.node("broker.nats.url"), "broker.nats.url", "the nats broker needs a url")
		}
	default:
		l.add(l.node("broker.type"), "broker.type", "must be memory, redis or nats, not %q", f.Broker.Type)
	}
}

func (l *loader) validateListen(f *File) {
	host, _, err := net.SplitHostPort(f.Listen)
	if err != nil {
		l.add(l.node("listen"), "listen", "not a host:port address: %v", errors.Unwrap(err))
		return
	}
	tls := f.TLS.CertFile != "" || f.TLS.KeyFile != ""
	if tls && (f.TLS.CertFile == "" || f.TLS.KeyFile == "") {
		l.add(l.node("tls"), "tls", "cert_file and key_file go together")
	}
	if f.TLS.MinVersion != "1.2" && f.TLS.MinVersion != "1.3" {
		l.add(l.node("tls.min_version"), "tls.min_version", "must be \"1.2\" or \"1.3\"")
	}
	if !tls && !f.InsecureAllowPlaintext && !Loopback(host) {
		l.add(l.node("listen"), "listen", "plain ws:// on a non-loopback address: configure tls, or set insecure_allow_plaintext: true")
	}
	if f.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(f.Metrics.Listen); err != nil {
			l.add(l.node("metrics.listen"), "metrics.listen", "not a host:port address")
		}
	}
	if f.PublicMetrics() && !f.Metrics.InsecurePublic {
		key, n := "metrics", l.node("metrics")
		if _, ok := l.source("listen"); ok || n == nil {
			key, n = "listen", l.node("listen")
		}
		l.add(n, key, "/metrics would answer anyone on the non-loopback address %s: set metrics.listen (a separate, private listener), "+
			"or a key in %s (metrics.keys_env) or metrics.keys_file, or the loud metrics.insecure_public: true", f.Listen, f.Metrics.KeysEnv)
	}
}

// validateConsole: the console is served on the admin listener only, and
// on an address other machines reach only over TLS.
func (l *loader) validateConsole(f *File) {
	if !f.Console.Enabled {
		return
	}
	if f.Metrics.Listen == "" {
		l.add(l.node("console.enabled"), "console.enabled", "needs metrics.listen: the console is served only on the admin listener")
		return
	}
	host, _, err := net.SplitHostPort(f.Metrics.Listen)
	if err == nil && !Loopback(host) && f.TLS.CertFile == "" {
		l.add(l.node("console.enabled"), "console.enabled",
			"metrics.listen %s is not loopback: the console needs tls there (cert_file and key_file), or a loopback metrics.listen", f.Metrics.Listen)
	}
}

// AdminTLS reports whether the admin listener serves TLS: when the console
// is on and the listener is reachable from other machines.
func (f *File) AdminTLS() bool {
	host, _, err := net.SplitHostPort(f.Metrics.Listen)
	return f.Console.Enabled && f.TLS.CertFile != "" && err == nil && !Loopback(host)
}

// secretProblem reports the HMAC secret's problem under the key that
// names where it comes from, and names the variable or the file to fix.
func (l *loader) secretProblem(f *File, reason string) {
	a := f.Auth
	if a.HMACSecretFile != "" {
		key := "auth.hmac_secret_file"
		if len(a.HMACSecret) < auth.MinHMACSecretBytes {
			reason = fmt.Sprintf("the file holds %d bytes; the HMAC secret needs at least %d", len(a.HMACSecret), auth.MinHMACSecretBytes)
		}
		l.add(l.exact(key), key, "%s", reason)
		return
	}
	key := "auth.hmac_secret_env"
	switch n := len(a.HMACSecret); {
	case n == 0:
		reason = fmt.Sprintf("%s is not set: put the HMAC secret (at least %d bytes) in it, or name a file holding it in auth.hmac_secret_file",
			a.HMACSecretEnv, auth.MinHMACSecretBytes)
	case n < auth.MinHMACSecretBytes:
		reason = fmt.Sprintf("%s holds %d bytes; the HMAC secret needs at least %d", a.HMACSecretEnv, n, auth.MinHMACSecretBytes)
	default:
		reason = strings.ReplaceAll(reason, "the HMAC secret", "the HMAC secret in "+a.HMACSecretEnv)
	}
	l.add(l.exact(key), key, "%s", reason)
}

// hooksKeyProblem reports a missing or short hooks key under the key that
// names where it comes from, naming the variable or the file to fix.
func (l *loader) hooksKeyProblem(f *File) {
	h := f.Hooks
	if h.KeyFile != "" {
		l.add(l.exact("hooks.key_file"), "hooks.key_file", "the file holds %d bytes; the hooks' signing key needs at least %d",
			len(h.Key), hooks.MinKeyBytes)
		return
	}
	if len(h.Key) == 0 {
		l.add(l.exact("hooks.key_env"), "hooks.key_env", "%s is not set: a hook is configured, and its requests are signed with the key "+
			"(at least %d bytes) in that variable, or in a file named by hooks.key_file", h.KeyEnv, hooks.MinKeyBytes)
		return
	}
	l.add(l.exact("hooks.key_env"), "hooks.key_env", "%s holds %d bytes; the hooks' signing key needs at least %d", h.KeyEnv, len(h.Key), hooks.MinKeyBytes)
}

// exact finds the node of a key path only if the file has that very key
// (a path without list indexes).
func (l *loader) exact(path string) *yaml.Node {
	n := l.root
	for part := range strings.SplitSeq(path, ".") {
		if n = lookup(n, part); n == nil {
			return nil
		}
	}
	return n
}

// Loopback reports whether host (a listen address's host part) only
// accepts connections from this machine.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
