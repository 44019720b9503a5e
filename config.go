package rampart

import (
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/internal/clientip"
	"github.com/rampart-rt/rampart/internal/origin"
	"github.com/rampart-rt/rampart/policy"
)

// Config configures a Server. Zero values mean the documented defaults; the
// caller's Config is copied, never changed. The yaml names are the keys of
// the configuration file.
type Config struct {
	Path               string        `yaml:"path"`                // WebSocket endpoint; default "/ws"
	HandshakeTimeout   time.Duration `yaml:"handshake_timeout"`   // time to read the upgrade request; default 5s
	RequireSubprotocol *bool         `yaml:"require_subprotocol"` // client must offer rampart.v1; default true
	TrustedProxies     []string      `yaml:"trusted_proxies"`     // CIDRs whose X-Forwarded-For is believed; default none
	Origins            Origins       `yaml:"origins"`
	Auth               Auth          `yaml:"auth"`
	Limits             Limits        `yaml:"limits"`
	Channels           []policy.Rule `yaml:"channels"`
	RPC                RPC           `yaml:"rpc"`
	API                API           `yaml:"api"`

	// Broker shares channels between nodes; nil: a new in-memory broker,
	// closed by Shutdown.
	Broker broker.Broker `yaml:"-"`
	// Limiter enforces the connection limits; nil: counted on this node.
	Limiter Limiter `yaml:"-"`
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger `yaml:"-"`
	// MetricsKeys are the bearer keys GET /metrics requires (several at
	// once, for rotation; each at least MinAPIKeyLength characters), sent
	// as the API's are: Authorization: Bearer <key>. None: /metrics answers
	// whoever reaches its listener. Reload replaces them.
	MetricsKeys []string `yaml:"-"`
	// Registry receives the server's metrics; nil: a registry of the
	// server's own (never the global one). When it is also a
	// prometheus.Gatherer, /metrics serves it.
	Registry prometheus.Registerer `yaml:"-"`
	// AdminSeparate keeps /metrics and /admin/* off the main handler: they
	// are served only by AdminHandler (on the admin listener).
	AdminSeparate bool `yaml:"-"`
	// Pages, when set, serves every path other than the WebSocket, API and
	// operations endpoints (the demo page), with a strict
	// Content-Security-Policy and the security headers added.
	Pages http.Handler `yaml:"-"`
	// ConnectSources are added to the pages' CSP connect-src next to 'self'
	// (the ws:// and wss:// origins clients connect to).
	ConnectSources []string `yaml:"-"`
}

// Origins is the allow-list checked against a handshake's Origin header.
type Origins struct {
	Allow        []string `yaml:"allow"`         // exact origins, or https://*.example.com for subdomains
	AllowMissing bool     `yaml:"allow_missing"` // accept a handshake without Origin (non-browser clients); default false
}

// Auth configures token verification.
type Auth struct {
	Algorithms     []string      `yaml:"algorithms"`       // allow-list; default [HS256]
	HMACSecretEnv  string        `yaml:"hmac_secret_env"`  // read by the binary, not the library
	HMACSecretFile string        `yaml:"hmac_secret_file"` // read by the binary, not the library
	PublicKeyFiles []string      `yaml:"public_key_files"` // PEM "PUBLIC KEY" files, read by the binary
	JWKSURL        string        `yaml:"jwks_url"`         // fixed JWKS endpoint; never taken from a token
	Issuer         string        `yaml:"issuer"`           // required iss, when set
	Audience       string        `yaml:"audience"`         // required aud, when set
	Leeway         time.Duration `yaml:"leeway"`           // clock skew allowed; default 5s
	RefreshWindow  time.Duration `yaml:"refresh_window"`   // refresh_required this long before exp; default 60s
	RequireExp     *bool         `yaml:"require_exp"`      // default true
	Sources        []string      `yaml:"sources"`          // default [header, subprotocol, cookie]; "query" must be listed to be used
	Cookie         Cookie        `yaml:"cookie"`

	HMACSecret []byte             `yaml:"-"` // the HS* secret itself (at least 32 bytes)
	PublicKeys []crypto.PublicKey `yaml:"-"` // keys for RS/PS/ES/EdDSA
}

// Cookie names the cookie that may carry a session token.
type Cookie struct {
	Name string `yaml:"name"` // empty: cookie authentication off
}

// Limits bounds what clients can make the server do. Every field's default
// is written next to it.
type Limits struct {
	MaxConnections          int           `yaml:"max_connections"`              // default 10000, capped below the open-file limit
	MaxConnectionsPerIP     int           `yaml:"max_connections_per_ip"`       // default 5
	MaxConnectionsPerUser   int           `yaml:"max_connections_per_user"`     // default 10
	HandshakesPerIPPerMin   int           `yaml:"handshakes_per_ip_per_minute"` // default 60
	MaxMessageBytes         int           `yaml:"max_message_bytes"`            // default 16384, after decompression
	MessagesPerMinute       int           `yaml:"messages_per_minute"`          // per connection; default 50
	Burst                   int           `yaml:"burst"`                        // token bucket size; default 10
	MaxViolations           int           `yaml:"max_violations"`               // per minute before close 1008; default 10
	MaxSubscriptions        int           `yaml:"max_subscriptions"`            // per connection; default 100
	SendQueue               int           `yaml:"send_queue"`                   // frames buffered per connection; default 256
	PingInterval            time.Duration `yaml:"ping_interval"`                // default 25s
	PongTimeout             time.Duration `yaml:"pong_timeout"`                 // default 10s
	WriteTimeout            time.Duration `yaml:"write_timeout"`                // one network write; default 10s
	ShutdownSpread          time.Duration `yaml:"shutdown_spread"`              // closes with 1001 spread over this; default 1s
	MaxHistoryLimit         int           `yaml:"max_history_limit"`            // most publications one history or recovery returns; default 1000
	RateLimitAbuseThreshold int           `yaml:"rate_limit_abuse_threshold"`   // rate_limited answers in a row before close 4029; default 20
}

// Token sources.
const (
	SourceHeader      = "header"
	SourceSubprotocol = "subprotocol"
	SourceCookie      = "cookie"
	SourceQuery       = "query"
)

func boolPtr(b bool) *bool { return &b }

// withDefaults returns a copy of c with every zero value replaced.
func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	dur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Path == "" {
		c.Path = "/ws"
	}
	dur(&c.HandshakeTimeout, 5*time.Second)
	if c.RequireSubprotocol == nil {
		c.RequireSubprotocol = boolPtr(true)
	}
	a := &c.Auth
	if len(a.Algorithms) == 0 {
		a.Algorithms = []string{"HS256"}
	}
	dur(&a.Leeway, 5*time.Second)
	dur(&a.RefreshWindow, 60*time.Second)
	if a.RequireExp == nil {
		a.RequireExp = boolPtr(true)
	}
	if a.Sources == nil {
		a.Sources = []string{SourceHeader, SourceSubprotocol, SourceCookie}
	}
	l := &c.Limits
	def(&l.MaxConnections, 10000)
	def(&l.MaxConnectionsPerIP, 5)
	def(&l.MaxConnectionsPerUser, 10)
	def(&l.HandshakesPerIPPerMin, 60)
	def(&l.MaxMessageBytes, 16384)
	def(&l.MessagesPerMinute, 50)
	def(&l.Burst, 10)
	def(&l.MaxViolations, 10)
	def(&l.MaxSubscriptions, 100)
	def(&l.SendQueue, 256)
	dur(&l.PingInterval, 25*time.Second)
	dur(&l.PongTimeout, 10*time.Second)
	dur(&l.WriteTimeout, 10*time.Second)
	dur(&l.ShutdownSpread, time.Second)
	def(&l.MaxHistoryLimit, 1000)
	def(&l.RateLimitAbuseThreshold, 20)
	c.RPC.defaults()
	c.API.defaults()
	c.TrustedProxies = append([]string(nil), c.TrustedProxies...)
	c.Channels = append([]policy.Rule(nil), c.Channels...)
	return c
}

// FieldError is one problem with a configuration value. Path is the key as
// written in the file ("limits.max_message_bytes").
type FieldError struct {
	Path   string
	Reason string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Reason }

// Validate checks c (after defaults) and returns every problem at once, each
// a *FieldError.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Reason: fmt.Sprintf(format, args...)})
	}
	if !strings.HasPrefix(c.Path, "/") {
		bad("path", "must start with /")
	}
	if c.HandshakeTimeout < 0 || c.HandshakeTimeout > time.Minute {
		bad("handshake_timeout", "must be between 0 and 1m")
	}
	if _, err := origin.New(c.Origins.Allow); err != nil {
		for _, e := range unjoin(err) {
			bad("origins.allow", "%s", e)
		}
	}
	if _, err := clientip.New(c.TrustedProxies); err != nil {
		for _, e := range unjoin(err) {
			bad("trusted_proxies", "%s", e)
		}
	}
	c.Auth.validate(bad)
	if err := authConfig(c.Auth, nil).Validate(); err != nil {
		for _, e := range unjoin(err) {
			if path, reason, ok := authProblem(e.Error()); ok {
				bad(path, "%s", reason)
			}
		}
	}
	c.Limits.validate(bad)
	c.RPC.validate(bad)
	c.API.validate(bad)
	for i, k := range c.MetricsKeys {
		if len(k) < MinAPIKeyLength {
			bad("metrics.keys_env", "key %d is shorter than %d characters", i+1, MinAPIKeyLength)
		}
	}
	if _, err := compileProcessors(c.Channels); err != nil {
		for _, e := range unjoin(err) {
			var fe *FieldError
			if errors.As(e, &fe) {
				errs = append(errs, fe)
			}
		}
	}
	if _, err := policy.Compile(c.Channels); err != nil {
		for _, e := range unjoin(err) {
			path, reason, _ := strings.Cut(e.Error(), ": ")
			bad(path, "%s", reason)
		}
	}
	return errors.Join(errs...)
}

var knownAlgorithms = map[string]bool{
	"HS256": true, "HS384": true, "HS512": true, "RS256": true, "PS256": true, "ES256": true, "EdDSA": true,
}

func (a *Auth) validate(bad func(path, format string, args ...any)) {
	for _, alg := range a.Algorithms {
		if !knownAlgorithms[alg] {
			bad("auth.algorithms", "unknown algorithm %q (allowed: HS256 HS384 HS512 RS256 PS256 ES256 EdDSA)", alg)
		}
	}
	if a.Leeway < 0 || a.Leeway > 5*time.Minute {
		bad("auth.leeway", "must be between 0 and 5m")
	}
	if a.RefreshWindow < 0 {
		bad("auth.refresh_window", "must not be negative")
	}
	for _, s := range a.Sources {
		switch s {
		case SourceHeader, SourceSubprotocol, SourceCookie, SourceQuery:
		default:
			bad("auth.sources", "unknown source %q (allowed: header subprotocol cookie query)", s)
		}
	}
}

func (l *Limits) validate(bad func(path, format string, args ...any)) {
	ints := []struct {
		path     string
		v, lo, h int
	}{
		{"limits.max_connections", l.MaxConnections, 1, 1 << 20},
		{"limits.max_connections_per_ip", l.MaxConnectionsPerIP, 1, 1 << 20},
		{"limits.max_connections_per_user", l.MaxConnectionsPerUser, 1, 1 << 20},
		{"limits.handshakes_per_ip_per_minute", l.HandshakesPerIPPerMin, 1, 1 << 20},
		{"limits.max_message_bytes", l.MaxMessageBytes, 128, 16 << 20},
		{"limits.messages_per_minute", l.MessagesPerMinute, 1, 1 << 20},
		{"limits.burst", l.Burst, 1, 1 << 20},
		{"limits.max_violations", l.MaxViolations, 1, 1 << 20},
		{"limits.max_subscriptions", l.MaxSubscriptions, 1, 4096},
		{"limits.send_queue", l.SendQueue, 1, 1 << 16},
		{"limits.max_history_limit", l.MaxHistoryLimit, 1, 1 << 20},
		{"limits.rate_limit_abuse_threshold", l.RateLimitAbuseThreshold, 1, 1 << 20},
	}
	for _, f := range ints {
		if f.v < f.lo || f.v > f.h {
			bad(f.path, "must be between %d and %d, not %d", f.lo, f.h, f.v)
		}
	}
	durs := []struct {
		path    string
		v, lo   time.Duration
		hi      time.Duration
		allowed string
	}{
		{"limits.ping_interval", l.PingInterval, time.Second, time.Hour, "1s and 1h"},
		{"limits.pong_timeout", l.PongTimeout, time.Second, time.Hour, "1s and 1h"},
		{"limits.write_timeout", l.WriteTimeout, 100 * time.Millisecond, time.Minute, "100ms and 1m"},
		{"limits.shutdown_spread", l.ShutdownSpread, time.Millisecond, 10 * time.Minute, "1ms and 10m"},
	}
	for _, d := range durs {
		if d.v < d.lo || d.v > d.hi {
			bad(d.path, "must be between %s, not %s", d.allowed, d.v)
		}
	}
}

// authNames translates the token verifier's setting names into the keys of
// the configuration file, so that its messages name what the operator
// wrote. The first name found in a message gives the problem's path.
var authNames = []struct{ name, path, words string }{
	{"HMACSecret", "auth.hmac_secret_env", "the HMAC secret"},
	{"JWKSURL", "auth.jwks_url", "auth.jwks_url"},
	{"PublicKeys", "auth.public_key_files", "public key"},
	{"Issuer", "auth.issuer", "auth.issuer"},
	{"Algorithms", "auth.algorithms", "auth.algorithms"},
}

// keyIndex is the verifier's "PublicKeys[0]".
var keyIndex = regexp.MustCompile(`PublicKeys\[(\d+)\]`)

// authProblem turns one of the verifier's messages into a key path and a
// reason; ok is false for problems Auth.validate already reported (an
// unknown algorithm, a negative leeway).
func authProblem(msg string) (path, reason string, ok bool) {
	reason = strings.TrimPrefix(msg, "auth: ")
	if strings.HasSuffix(reason, "is not supported") || strings.HasPrefix(reason, "Leeway ") {
		return "", "", false
	}
	reason = keyIndex.ReplaceAllStringFunc(reason, func(m string) string {
		n, _ := strconv.Atoi(keyIndex.FindStringSubmatch(m)[1])
		return "public key " + strconv.Itoa(n+1)
	})
	path = "auth"
	if strings.HasPrefix(reason, "algorithm ") {
		path = "auth.algorithms" // allowed, but nothing can verify it
	}
	for _, n := range authNames {
		if strings.Contains(reason, n.name) || (n.name == "PublicKeys" && strings.Contains(reason, "public key ")) {
			if path == "auth" {
				path = n.path
			}
			reason = strings.ReplaceAll(reason, n.name, n.words)
		}
	}
	return path, reason, true
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
