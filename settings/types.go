package settings

import (
	"crypto"
	"net/http"
	"time"
)

// Origins is the allow-list checked against a handshake's Origin header.
type Origins struct {
	Allow        []string `yaml:"allow"`         // exact origins, or https://*.example.com for subdomains
	AllowMissing bool     `yaml:"allow_missing"` // accept a handshake without Origin (non-browser clients); default false
}

// Auth configures token verification. Where the secret and the public keys
// come from (auth.hmac_secret_env, auth.hmac_secret_file,
// auth.public_key_files) is the binary's business: the server is given the
// secret and the keys themselves.
type Auth struct {
	Algorithms    []string      `yaml:"algorithms"`     // signature algorithms accepted (an allow-list); default [HS256]
	JWKSURL       string        `yaml:"jwks_url"`       // fixed JWKS endpoint; never taken from a token
	Issuer        string        `yaml:"issuer"`         // required iss, when set
	Audience      string        `yaml:"audience"`       // required aud, when set
	Leeway        time.Duration `yaml:"leeway"`         // clock skew allowed; default 5s
	RefreshWindow time.Duration `yaml:"refresh_window"` // refresh_required this long before exp; default 60s
	RequireExp    *bool         `yaml:"require_exp"`    // refuse tokens without exp; default true
	Sources       []string      `yaml:"sources"`        // default [header, subprotocol, cookie]; "query" must be listed to be used
	Cookie        Cookie        `yaml:"cookie"`

	HMACSecret []byte             `yaml:"-"` // the HS* secret itself (at least 32 bytes)
	PublicKeys []crypto.PublicKey `yaml:"-"` // keys for RS/PS/ES/EdDSA
}

// Cookie names the cookie that may carry a session token.
type Cookie struct {
	Name string `yaml:"name"` // empty: cookie authentication off
}

// Token sources, the values of auth.sources.
const (
	SourceHeader      = "header"
	SourceSubprotocol = "subprotocol"
	SourceCookie      = "cookie"
	SourceQuery       = "query"
)

func (a *Auth) defaults() {
	if len(a.Algorithms) == 0 {
		a.Algorithms = []string{"HS256"}
	}
	orDefault(&a.Leeway, 5*time.Second)
	orDefault(&a.RefreshWindow, 60*time.Second)
	if a.RequireExp == nil {
		a.RequireExp = boolPtr(true)
	}
	if a.Sources == nil {
		a.Sources = []string{SourceHeader, SourceSubprotocol, SourceCookie}
	}
}

// Limits bounds what clients can make the server do. Every field's default
// is written next to it.
type Limits struct {
	MaxConnections          int           `yaml:"max_connections"`              // open connections on this server; default 10000, capped below the open-file limit
	MaxConnectionsPerIP     int           `yaml:"max_connections_per_ip"`       // open connections from one client IP; default 5
	MaxConnectionsPerUser   int           `yaml:"max_connections_per_user"`     // open connections of one user (the token's sub); default 10
	HandshakesPerIPPerMin   int           `yaml:"handshakes_per_ip_per_minute"` // handshakes one client IP may start per minute; default 60
	MaxMessageBytes         int           `yaml:"max_message_bytes"`            // largest message a client may send, in bytes, after decompression; default 16384
	MessagesPerMinute       int           `yaml:"messages_per_minute"`          // commands per connection per minute (token bucket refill); default 50
	Burst                   int           `yaml:"burst"`                        // token bucket size: commands allowed at once above the rate; default 10
	MaxViolations           int           `yaml:"max_violations"`               // invalid or forbidden messages per minute before close 1008; default 10
	MaxSubscriptions        int           `yaml:"max_subscriptions"`            // channels one connection may subscribe to; default 100
	SendQueue               int           `yaml:"send_queue"`                   // frames buffered per connection; default 256
	PingInterval            time.Duration `yaml:"ping_interval"`                // how often the server pings a connection; default 25s
	PongTimeout             time.Duration `yaml:"pong_timeout"`                 // how long a ping waits for its pong before the connection is dropped; default 10s
	WriteTimeout            time.Duration `yaml:"write_timeout"`                // one network write; default 10s
	ShutdownSpread          time.Duration `yaml:"shutdown_spread"`              // closes with 1001 spread over this; default 1s
	MaxHistoryLimit         int           `yaml:"max_history_limit"`            // most publications one history or recovery returns; default 1000
	RateLimitAbuseThreshold int           `yaml:"rate_limit_abuse_threshold"`   // rate_limited answers in a row before close 4029; default 20
	JoinLeaveWindow         time.Duration `yaml:"join_leave_window"`            // join and leave pushes per channel: at most one of each per window; default 250ms
	JoinLeaveMaxClients     int           `yaml:"join_leave_max_clients"`       // most clients one window's pushes list before presence_changed; default 100
}

func (l *Limits) defaults() {
	orDefault(&l.MaxConnections, 10000)
	orDefault(&l.MaxConnectionsPerIP, 5)
	orDefault(&l.MaxConnectionsPerUser, 10)
	orDefault(&l.HandshakesPerIPPerMin, 60)
	orDefault(&l.MaxMessageBytes, 16384)
	orDefault(&l.MessagesPerMinute, 50)
	orDefault(&l.Burst, 10)
	orDefault(&l.MaxViolations, 10)
	orDefault(&l.MaxSubscriptions, 100)
	orDefault(&l.SendQueue, 256)
	orDefault(&l.PingInterval, 25*time.Second)
	orDefault(&l.PongTimeout, 10*time.Second)
	orDefault(&l.WriteTimeout, 10*time.Second)
	orDefault(&l.ShutdownSpread, time.Second)
	orDefault(&l.MaxHistoryLimit, 1000)
	orDefault(&l.RateLimitAbuseThreshold, 20)
	orDefault(&l.JoinLeaveWindow, 250*time.Millisecond)
	orDefault(&l.JoinLeaveMaxClients, 100)
}

// Compression configures permessage-deflate (RFC 7692), off by default:
// a compressed message mixes what an attacker chooses with what it must
// not learn (docs/security.md), and costs CPU and memory. When on, it is
// negotiated only without context takeover in either direction: every
// message is compressed on its own.
type Compression struct {
	Enabled        bool `yaml:"enabled"`         // accept permessage-deflate from clients that offer it; default false
	ThresholdBytes int  `yaml:"threshold_bytes"` // messages shorter than this (bytes) are sent uncompressed; default 512
}

func (c *Compression) defaults() {
	orDefault(&c.ThresholdBytes, 512)
}

// RPC forwards rpc commands to the application's backend.
type RPC struct {
	URL              string              `yaml:"url"`                // backend endpoint (http or https); empty: rpc off
	Methods          map[string][]string `yaml:"methods"`            // method -> roles allowed to call it ("*": any user)
	Timeout          time.Duration       `yaml:"timeout"`            // per call; default 5s
	MaxResponseBytes int                 `yaml:"max_response_bytes"` // largest backend answer accepted, in bytes; default 65536
	MaxConcurrent    int                 `yaml:"max_concurrent"`     // calls in flight per connection; default 4

	// HTTPClient makes the calls; nil: a client with no redirects.
	HTTPClient *http.Client `yaml:"-"`
}

func (r *RPC) defaults() {
	orDefault(&r.Timeout, 5*time.Second)
	orDefault(&r.MaxResponseBytes, 64<<10)
	orDefault(&r.MaxConcurrent, 4)
	if r.HTTPClient == nil {
		r.HTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
}

// API configures the server-side HTTP API for the application's backend.
// Where the keys come from (api.keys_env, api.keys_file) is the binary's
// business: the server is given the keys themselves.
type API struct {
	MaxBodyBytes int  `yaml:"max_body_bytes"` // request body limit; default 65536
	AdminOnly    bool `yaml:"admin_only"`     // serve /api only on the admin listener (metrics.listen)

	// Keys are the accepted API keys (several at once, for rotation; each
	// at least MinAPIKeyLength characters). The server keeps only their
	// SHA-256 hashes. None: the API answers 401.
	Keys []string `yaml:"-"`
}

// MinAPIKeyLength is the shortest API or metrics key accepted.
const MinAPIKeyLength = 24

func (a *API) defaults() {
	orDefault(&a.MaxBodyBytes, 64<<10)
}
