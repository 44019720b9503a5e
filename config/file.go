package config

import (
	"net"
	"time"

	"github.com/rampart-rt/rampart"
)

// File is a whole configuration file: the server's settings plus what the
// binary needs around it (listener, TLS, logs, broker).
type File struct {
	Listen                 string  `yaml:"listen"`                   // default 127.0.0.1:8080
	InsecureAllowPlaintext bool    `yaml:"insecure_allow_plaintext"` // ws:// on a non-loopback address
	TLS                    TLS     `yaml:"tls"`
	Metrics                Metrics `yaml:"metrics"`
	Log                    Log     `yaml:"log"`
	Broker                 Broker  `yaml:"broker"`

	rampart.Config `yaml:",inline"`
}

// TLS configures wss.
type TLS struct {
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
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
	DB          int           `yaml:"db"`
	Prefix      string        `yaml:"prefix"`       // key prefix; default "rampart"
	DialTimeout time.Duration `yaml:"dial_timeout"` // default 2s

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
	if f.TLS.MinVersion == "" {
		f.TLS.MinVersion = "1.2"
	}
	if f.Auth.HMACSecretEnv == "" && f.Auth.HMACSecretFile == "" {
		f.Auth.HMACSecretEnv = "RAMPART_JWT_SECRET"
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
