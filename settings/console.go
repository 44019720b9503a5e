package settings

import (
	"time"

	"github.com/rampart-rt/rampart/protocol"
)

// Console configures the web admin console, which the admin listener
// (metrics.listen) serves at /console/ when it is enabled. An admin logs
// in with an API key, or with a token carrying AdminRole.
type Console struct {
	Enabled              bool          `yaml:"enabled"`                  // serve /console/ on the admin listener; default false
	SessionTTL           time.Duration `yaml:"session_ttl"`              // a login's lifetime; default 1h, at most 24h
	MaxSessions          int           `yaml:"max_sessions"`             // sessions kept at once (a new login ends the oldest); default 32, at most 1000
	AdminRole            string        `yaml:"admin_role"`               // the token role that may log in; default "rampart-admin"
	LoginsPerIPPerMinute int           `yaml:"logins_per_ip_per_minute"` // login attempts per client address; default 10, at most 600
}

// DefaultAdminRole is the token role that may log in to the console.
const DefaultAdminRole = "rampart-admin"

func (c *Console) defaults() {
	orDefault(&c.SessionTTL, time.Hour)
	orDefault(&c.MaxSessions, 32)
	orDefault(&c.AdminRole, DefaultAdminRole)
	orDefault(&c.LoginsPerIPPerMinute, 10)
}

func (c *Console) check(p *problems) {
	if c.SessionTTL < time.Minute || c.SessionTTL > 24*time.Hour {
		p.add("console.session_ttl", "must be between 1m and 24h")
	}
	if c.MaxSessions < 1 || c.MaxSessions > 1000 {
		p.add("console.max_sessions", "must be between 1 and 1000")
	}
	if !protocol.ValidChannel(c.AdminRole) {
		p.add("console.admin_role", "must be 1 to 128 characters of A-Z a-z 0-9 _ . : @ -")
	}
	if c.LoginsPerIPPerMinute < 1 || c.LoginsPerIPPerMinute > 600 {
		p.add("console.logins_per_ip_per_minute", "must be between 1 and 600")
	}
}
