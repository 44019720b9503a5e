package settings

import (
	"bytes"
	"slices"
	"time"

	"github.com/rampart-rt/rampart/policy"
)

// Settings are the server's settings: what the configuration file decides
// about the server itself, not about the process around it (listener, TLS,
// logs, broker). Zero values mean the documented defaults. The yaml names
// are the keys of the configuration file.
type Settings struct {
	Path               string        `yaml:"path"`                // WebSocket endpoint; default "/ws"
	HandshakeTimeout   time.Duration `yaml:"handshake_timeout"`   // time to read the upgrade request; default 5s
	RequireSubprotocol *bool         `yaml:"require_subprotocol"` // client must offer rampart.v1; default true
	TrustedProxies     []string      `yaml:"trusted_proxies"`     // CIDRs whose X-Forwarded-For is believed; default none
	Origins            Origins       `yaml:"origins"`
	Auth               Auth          `yaml:"auth"`
	Limits             Limits        `yaml:"limits"`
	Compression        Compression   `yaml:"compression"`
	Channels           []policy.Rule `yaml:"channels"` // channel rules, first match wins; a channel no rule matches is denied
	RPC                RPC           `yaml:"rpc"`
	API                API           `yaml:"api"`
	Hooks              Hooks         `yaml:"hooks"`
	Console            Console       `yaml:"console"`

	// MetricsKeys are the bearer keys GET /metrics requires (several at
	// once, for rotation; each at least MinAPIKeyLength characters). None:
	// /metrics answers whoever reaches its listener. The binary reads them
	// from metrics.keys_env and metrics.keys_file.
	MetricsKeys []string `yaml:"-"`
}

// FieldError is one problem with a setting. Path is the key as written in
// the configuration file ("limits.max_message_bytes", "channels[2].schema");
// a problem with a secret or keys names the key the binary reads them from
// (auth.hmac_secret_env, auth.public_key_files, api.keys_env,
// metrics.keys_env, hooks.key_env).
type FieldError struct {
	Path   string
	Reason string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Reason }

// withDefaults returns s with every zero value replaced by its default.
func (s Settings) withDefaults() Settings {
	if s.Path == "" {
		s.Path = "/ws"
	}
	orDefault(&s.HandshakeTimeout, 5*time.Second)
	if s.RequireSubprotocol == nil {
		s.RequireSubprotocol = boolPtr(true)
	}
	s.Auth.defaults()
	s.Limits.defaults()
	s.Compression.defaults()
	s.RPC.defaults()
	s.API.defaults()
	s.Hooks.defaults()
	s.Console.defaults()
	return s
}

// clone returns s sharing no slice, map or pointer the caller could change
// later (the HTTP client and the public keys themselves excepted), so that
// a Compiled's settings stay those it was compiled from. Nil stays nil: an
// empty list is not a missing one (auth.sources).
func (s Settings) clone() Settings {
	s.RequireSubprotocol = clonePtr(s.RequireSubprotocol)
	s.TrustedProxies = slices.Clone(s.TrustedProxies)
	s.Origins.Allow = slices.Clone(s.Origins.Allow)
	a := &s.Auth
	a.Algorithms, a.Sources = slices.Clone(a.Algorithms), slices.Clone(a.Sources)
	a.HMACSecret, a.PublicKeys = bytes.Clone(a.HMACSecret), slices.Clone(a.PublicKeys)
	a.RequireExp = clonePtr(a.RequireExp)
	s.Channels = slices.Clone(s.Channels)
	for i := range s.Channels {
		r := &s.Channels[i]
		r.Subscribe, r.Publish = slices.Clone(r.Subscribe), slices.Clone(r.Publish)
	}
	if s.RPC.Methods != nil {
		m := make(map[string][]string, len(s.RPC.Methods))
		for k, roles := range s.RPC.Methods {
			m[k] = slices.Clone(roles)
		}
		s.RPC.Methods = m
	}
	s.API.Keys, s.MetricsKeys = slices.Clone(s.API.Keys), slices.Clone(s.MetricsKeys)
	s.Hooks.clone()
	return s
}

func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

func boolPtr(b bool) *bool { return &b }

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
