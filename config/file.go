package config

import (
	"net"
	"time"

	"github.com/rampart-rt/rampart/policy"
	"github.com/rampart-rt/rampart/settings"
)

// File is a whole configuration file: the server's settings (package
// settings: their types, defaults and checks), with the keys that say
// where their secrets are read from, plus what the binary needs around the
// server (listener, TLS, metrics listener, logs, broker).
type File struct {
	Listen                 string  `yaml:"listen"`                   // address the server listens on (host:port); default 127.0.0.1:8080
	InsecureAllowPlaintext bool    `yaml:"insecure_allow_plaintext"` // allow ws:// (no TLS) on a non-loopback address; default false
	TLS                    TLS     `yaml:"tls"`
	Metrics                Metrics `yaml:"metrics"`
	Log                    Log     `yaml:"log"`
	Broker                 Broker  `yaml:"broker"`
	IOURing                *bool   `yaml:"io_uring"` // write sockets through io_uring where the kernel allows; default true

	// The server's settings, each as settings.Settings has it but auth,
	// api and hooks, which add the keys naming their secrets.

	Path               string               `yaml:"path"`
	HandshakeTimeout   time.Duration        `yaml:"handshake_timeout"`
	RequireSubprotocol *bool                `yaml:"require_subprotocol"`
	TrustedProxies     []string             `yaml:"trusted_proxies"`
	Origins            settings.Origins     `yaml:"origins"`
	Auth               Auth                 `yaml:"auth"`
	Limits             settings.Limits      `yaml:"limits"`
	Compression        settings.Compression `yaml:"compression"`
	Channels           []policy.Rule        `yaml:"channels"`
	RPC                settings.RPC         `yaml:"rpc"`
	API                API                  `yaml:"api"`
	Hooks              Hooks                `yaml:"hooks"`
	Console            settings.Console     `yaml:"console"`
	MetricsKeys        []string             `yaml:"-"` // read from metrics.keys_env and metrics.keys_file

	compiled *settings.Compiled // the server's settings as Load checked them
}

// Auth is the auth section: the server's token settings, and where the
// binary reads the HMAC secret and the public keys from.
type Auth struct {
	settings.Auth  `yaml:",inline"`
	HMACSecretEnv  string   `yaml:"hmac_secret_env"`  // variable holding the HMAC secret, read when hmac_secret_file is empty; default RAMPART_JWT_SECRET
	HMACSecretFile string   `yaml:"hmac_secret_file"` // file holding the HMAC secret (instead of the variable); relative to this file's directory
	PublicKeyFiles []string `yaml:"public_key_files"` // PEM "PUBLIC KEY" files
}

// API is the api section: the server's HTTP API settings, and where the
// binary reads the API keys from.
type API struct {
	settings.API `yaml:",inline"`
	KeysEnv      string `yaml:"keys_env"`  // variable with comma-separated keys; default RAMPART_API_KEYS
	KeysFile     string `yaml:"keys_file"` // file with one key per line
}

// Hooks is the hooks section: the server's backend hooks, and where the
// binary reads their signing key from.
type Hooks struct {
	settings.Hooks `yaml:",inline"`
	KeyEnv         string `yaml:"key_env"`  // variable holding the signing key; default RAMPART_HOOKS_KEY
	KeyFile        string `yaml:"key_file"` // file holding the signing key (instead of the variable)
	// While rotating the key: where the key being retired is, which signs
	// every request too until it is removed. No default: none.
	PreviousKeyEnv  string `yaml:"previous_key_env"`  // variable holding the key being retired
	PreviousKeyFile string `yaml:"previous_key_file"` // file holding the key being retired (instead of the variable)
}

// Compiled returns the server's settings from the file, with the secrets
// and keys it names, checked and compiled by Load (so that every problem
// had its line): what rampart.ConfigOf turns into the server's Config.
// Later changes to f's fields do not reach it. Nil for a File that Load,
// Parse or ParseFile did not return.
func (f *File) Compiled() *settings.Compiled { return f.compiled }

// serverSettings returns the server's part of f.
func (f *File) serverSettings() settings.Settings {
	return settings.Settings{
		Path:               f.Path,
		HandshakeTimeout:   f.HandshakeTimeout,
		RequireSubprotocol: f.RequireSubprotocol,
		TrustedProxies:     f.TrustedProxies,
		Origins:            f.Origins,
		Auth:               f.Auth.Auth,
		Limits:             f.Limits,
		Compression:        f.Compression,
		Channels:           f.Channels,
		RPC:                f.RPC,
		API:                f.API.API,
		Hooks:              f.Hooks.Hooks,
		Console:            f.Console,
		MetricsKeys:        f.MetricsKeys,
	}
}

// TLS configures wss.
type TLS struct {
	CertFile   string `yaml:"cert_file"`   // PEM certificate chain; with key_file, the listener speaks wss
	KeyFile    string `yaml:"key_file"`    // PEM private key of cert_file
	MinVersion string `yaml:"min_version"` // "1.2" (default) or "1.3"
}

// Metrics configures the Prometheus endpoint. On a main listener that is
// not loopback, /metrics needs one of: its own listener, a key, or the
// loud insecure_public.
type Metrics struct {
	Listen         string `yaml:"listen"`          // empty: /metrics on the main listener
	KeysEnv        string `yaml:"keys_env"`        // variable with comma-separated keys; default RAMPART_METRICS_KEYS
	KeysFile       string `yaml:"keys_file"`       // file with one key per line
	InsecurePublic bool   `yaml:"insecure_public"` // serve /metrics without a key on a public listener; default false
}

// Log configures logging.
type Log struct {
	Format string `yaml:"format"` // json (default) or text
	Level  string `yaml:"level"`  // debug, info (default), warn, error
}

// Broker selects how nodes share channels.
type Broker struct {
	Type  string `yaml:"type"` // memory (default), redis or nats
	Redis Redis  `yaml:"redis"`
	NATS  NATS   `yaml:"nats"`
}

// Redis configures the Redis broker.
type Redis struct {
	Addrs       []string      `yaml:"addrs"`        // host:port; several for Cluster or Sentinel
	MasterName  string        `yaml:"master_name"`  // Sentinel master; empty: not Sentinel
	Cluster     bool          `yaml:"cluster"`      // Redis Cluster
	PasswordEnv string        `yaml:"password_env"` // variable holding the password
	DB          int           `yaml:"db"`           // database number; default 0
	Prefix      string        `yaml:"prefix"`       // key prefix; default "rampart"
	DialTimeout time.Duration `yaml:"dial_timeout"` // bound on connecting to Redis; default 2s

	Password string `yaml:"-"` // read from password_env
}

// NATS configures the NATS broker.
type NATS struct {
	URL    string `yaml:"url"`    // nats://host:port
	Prefix string `yaml:"prefix"` // subject prefix; default "rampart"
}

func (f *File) defaults() {
	if f.Listen == "" {
		f.Listen = "127.0.0.1:8080"
	}
	if f.Log.Format == "" {
		f.Log.Format = "json"
	}
	if f.Log.Level == "" {
		f.Log.Level = "info"
	}
	if f.Broker.Type == "" {
		f.Broker.Type = "memory"
	}
	if f.IOURing == nil {
		on := true
		f.IOURing = &on
	}
	if f.Broker.Redis.Prefix == "" {
		f.Broker.Redis.Prefix = "rampart"
	}
	if f.Broker.Redis.DialTimeout == 0 {
		f.Broker.Redis.DialTimeout = 2 * time.Second
	}
	if f.Broker.NATS.Prefix == "" {
		f.Broker.NATS.Prefix = "rampart"
	}
	if f.TLS.MinVersion == "" {
		f.TLS.MinVersion = "1.2"
	}
	if f.Auth.HMACSecretEnv == "" && f.Auth.HMACSecretFile == "" {
		f.Auth.HMACSecretEnv = "RAMPART_JWT_SECRET"
	}
	if f.Hooks.KeyEnv == "" && f.Hooks.KeyFile == "" {
		f.Hooks.KeyEnv = "RAMPART_HOOKS_KEY"
	}
	if f.API.KeysEnv == "" {
		f.API.KeysEnv = "RAMPART_API_KEYS"
	}
	if f.Metrics.KeysEnv == "" {
		f.Metrics.KeysEnv = "RAMPART_METRICS_KEYS"
	}
}

// PublicMetrics reports whether /metrics is served on a non-loopback main
// listener without a key: what insecure_public has to allow.
func (f *File) PublicMetrics() bool {
	host, _, err := net.SplitHostPort(f.Listen)
	return err == nil && !Loopback(host) && f.Metrics.Listen == "" && len(f.MetricsKeys) == 0
}
