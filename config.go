package rampart

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/policy"
	"github.com/rampart-rt/rampart/settings"
)

// Config configures a Server: its settings, whose types, defaults and
// checks are package settings' (where each one's configuration file key
// is written), and the objects only a program can give. Zero values mean
// the documented defaults; the caller's Config is copied, never changed.
type Config struct {
	Path               string        // WebSocket endpoint; default "/ws"
	HandshakeTimeout   time.Duration // time to read the upgrade request; default 5s
	RequireSubprotocol *bool         // client must offer rampart.v1; default true
	TrustedProxies     []string      // CIDRs whose X-Forwarded-For is believed; default none
	Origins            Origins
	Auth               Auth
	Limits             Limits
	Compression        Compression
	Channels           []policy.Rule
	RPC                RPC
	API                API
	Hooks              Hooks
	Console            Console // the web admin console on the admin listener
	// MetricsKeys are the bearer keys GET /metrics requires (several at
	// once, for rotation; each at least MinAPIKeyLength characters), sent
	// as the API's are: Authorization: Bearer <key>. None: /metrics answers
	// whoever reaches its listener. Reload replaces them.
	MetricsKeys []string

	// Compiled, when set, is an earlier compile of these settings (by
	// settings.Compile, as the rampart command's configuration loader does
	// to report problems with their lines). New, Reload and Validate take
	// each compiled part whose settings this Config leaves unchanged from
	// it instead of compiling it again (see settings.Compiled.Recompile):
	// schema files are then not read again. ConfigOf sets it.
	Compiled *settings.Compiled

	// Broker shares channels between nodes; nil: a new in-memory broker,
	// closed by Shutdown.
	Broker broker.Broker
	// Limiter enforces the connection limits; nil: counted on this node.
	Limiter Limiter
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Registry receives the server's metrics; nil: a registry of the
	// server's own (never the global one). When it is also a
	// prometheus.Gatherer, /metrics serves it.
	Registry prometheus.Registerer
	// AdminSeparate keeps /metrics and /admin/* off the main handler: they
	// are served only by AdminHandler (on the admin listener).
	AdminSeparate bool
	// Pages, when set, serves every path other than the WebSocket, API and
	// operations endpoints (the demo page), with a strict
	// Content-Security-Policy and the security headers added.
	Pages http.Handler
	// ConnectSources are added to the pages' CSP connect-src next to 'self'
	// (the ws:// and wss:// origins clients connect to).
	ConnectSources []string
	// IOURing lets a few senders write many connections' frames with one
	// system call through Linux's io_uring (see sender.go); where the
	// kernel refuses it, and for TLS connections, every burst is written by
	// a goroutine of its own, as with false. Default true; fixed at New.
	IOURing *bool
}

// The settings' types, defined in package settings.
type (
	// Origins is the allow-list checked against a handshake's Origin header.
	Origins = settings.Origins
	// Auth configures token verification.
	Auth = settings.Auth
	// Cookie names the cookie that may carry a session token.
	Cookie = settings.Cookie
	// Limits bounds what clients can make the server do.
	Limits = settings.Limits
	// Compression configures permessage-deflate; off by default.
	Compression = settings.Compression
	// RPC forwards rpc commands to the application's backend.
	RPC = settings.RPC
	// API configures the server-side HTTP API for the application's backend.
	API = settings.API
	// Console configures the web admin console.
	Console = settings.Console
	// FieldError is one problem with a setting; Path is its key as written
	// in the configuration file ("limits.max_message_bytes").
	FieldError = settings.FieldError
)

// Token sources, the values of Auth.Sources.
const (
	SourceHeader      = settings.SourceHeader
	SourceSubprotocol = settings.SourceSubprotocol
	SourceCookie      = settings.SourceCookie
	SourceQuery       = settings.SourceQuery
)

// MinAPIKeyLength is the shortest API or metrics key accepted.
const MinAPIKeyLength = settings.MinAPIKeyLength

// ConfigOf returns a Config that runs c: its settings are c's, with the
// defaults filled in, and Compiled is c, so that New compiles nothing
// again unless the caller changes a compiled setting first. The objects
// only a program can give (Broker, Logger, ...) are left to the caller.
// ConfigOf(nil) is the zero Config.
func ConfigOf(c *settings.Compiled) Config {
	if c == nil {
		return Config{}
	}
	cfg := Config{Compiled: c}
	cfg.setSettings(c.Settings())
	return cfg
}

// Validate checks c, compiling its settings as New does, and returns every
// problem at once, each a *FieldError.
func (c Config) Validate() error {
	_, err := c.compile()
	return err
}

// compile checks and compiles c's settings, taking from c.Compiled what is
// unchanged.
func (c Config) compile() (*settings.Compiled, error) {
	if c.Compiled != nil {
		return c.Compiled.Recompile(c.serverSettings())
	}
	return settings.Compile(c.serverSettings())
}

// serverSettings returns c's settings.
func (c Config) serverSettings() settings.Settings {
	return settings.Settings{
		Path:               c.Path,
		HandshakeTimeout:   c.HandshakeTimeout,
		RequireSubprotocol: c.RequireSubprotocol,
		TrustedProxies:     c.TrustedProxies,
		Origins:            c.Origins,
		Auth:               c.Auth,
		Limits:             c.Limits,
		Compression:        c.Compression,
		Channels:           c.Channels,
		RPC:                c.RPC,
		API:                c.API,
		Hooks:              c.Hooks,
		Console:            c.Console,
		MetricsKeys:        c.MetricsKeys,
	}
}

// setSettings replaces c's settings with s.
func (c *Config) setSettings(s settings.Settings) {
	c.Path, c.HandshakeTimeout, c.RequireSubprotocol = s.Path, s.HandshakeTimeout, s.RequireSubprotocol
	c.TrustedProxies, c.Origins, c.Auth, c.Limits = s.TrustedProxies, s.Origins, s.Auth, s.Limits
	c.Channels, c.RPC, c.API, c.MetricsKeys = s.Channels, s.RPC, s.API, s.MetricsKeys
	c.Hooks = s.Hooks
	c.Console = s.Console
	c.Compression = s.Compression
}

func boolPtr(b bool) *bool { return &b }
