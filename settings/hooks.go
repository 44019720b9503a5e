package settings

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"github.com/rampart-rt/rampart/policy"
)

// Hooks configures the calls Rampart makes to the application's backend:
// connect, subscribe and publish decide (allow, deny, enrich, replace);
// notify reports connects and disconnects. Each is off while its url is
// empty. Where the signing key comes from (hooks.key_env, hooks.key_file)
// is the binary's business: the server is given the key itself.
type Hooks struct {
	Timeout          time.Duration `yaml:"timeout"`            // per call; default 1s
	MaxConcurrent    int           `yaml:"max_concurrent"`     // connect, subscribe and publish calls in flight per node; default 64
	MaxResponseBytes int           `yaml:"max_response_bytes"` // largest reply read; default 65536
	// InsecureAllowHTTP allows http:// URLs on hosts other than loopback:
	// the requests, their signatures and the users' data then cross the
	// network in clear. Default false: http only to 127.0.0.0/8, ::1 and
	// localhost.
	InsecureAllowHTTP bool   `yaml:"insecure_allow_http"`
	Connect           Hook   `yaml:"connect"`
	Subscribe         Hook   `yaml:"subscribe"`
	Publish           Hook   `yaml:"publish"`
	Notify            Notify `yaml:"notify"`

	// Key signs every request (HMAC-SHA256, at least 32 bytes).
	Key []byte `yaml:"-"`
	// PreviousKey, while the key is being rotated, signs every request as
	// well, as a second v1 value of the signature header, so that each
	// backend may verify with either key until it has moved to Key; empty:
	// none. At least 32 bytes when set.
	PreviousKey []byte `yaml:"-"`
	// HTTPClient makes the calls (a custom transport for a private CA);
	// nil: the caller's own. Redirects are never followed, whatever its
	// CheckRedirect says.
	HTTPClient *http.Client `yaml:"-"`
}

// Hook is one deciding hook.
type Hook struct {
	URL string `yaml:"url"` // the backend's endpoint; empty: the hook is off
	// OnError is what a failed call (error, timeout, non-2xx, invalid reply,
	// too many calls in flight) decides: deny (default: fail closed, the
	// client gets unavailable) or allow (fail open: the backend's check is
	// skipped while it is down).
	OnError string `yaml:"on_error"`
	// Channels, for the subscribe and publish hooks: the hook is asked only
	// about channels matching one of these globs (* matches one or more
	// characters); empty: every channel. The connect hook has none.
	Channels []string `yaml:"channels"`
}

// Asks reports whether the hook is asked about channel: it is on, and
// channel matches one of its globs, if it has any.
func (h *Hook) Asks(channel string) bool {
	if h.URL == "" {
		return false
	}
	if len(h.Channels) == 0 {
		return true
	}
	for _, p := range h.Channels {
		if policy.Glob(p, channel) {
			return true
		}
	}
	return false
}

// Notify configures the connect and disconnect notifications: sent in
// the background, retried with backoff, at least once per event while
// the queue has room.
type Notify struct {
	URL          string        `yaml:"url"`           // empty: no notifications
	Events       []string      `yaml:"events"`        // default [connect, disconnect]
	Queue        int           `yaml:"queue"`         // notifications waiting per node; default 10000; past it they are dropped and counted
	MaxAttempts  int           `yaml:"max_attempts"`  // tries per notification; default 5
	RetryBackoff time.Duration `yaml:"retry_backoff"` // wait before the first retry, doubling up to 30s; default 500ms
	Workers      int           `yaml:"workers"`       // notifications sent at once; default 2
}

// The values of on_error.
const (
	OnErrorDeny  = "deny"
	OnErrorAllow = "allow"
)

// Enabled reports whether any hook is configured.
func (h *Hooks) Enabled() bool {
	return h.Connect.URL != "" || h.Subscribe.URL != "" || h.Publish.URL != "" || h.Notify.URL != ""
}

func (h *Hooks) defaults() {
	orDefault(&h.Timeout, time.Second)
	orDefault(&h.MaxConcurrent, 64)
	orDefault(&h.MaxResponseBytes, 64<<10)
	for _, k := range []*Hook{&h.Connect, &h.Subscribe, &h.Publish} {
		orDefault(&k.OnError, OnErrorDeny)
	}
	n := &h.Notify
	if n.Events == nil {
		n.Events = []string{"connect", "disconnect"}
	}
	orDefault(&n.Queue, 10000)
	orDefault(&n.MaxAttempts, 5)
	orDefault(&n.RetryBackoff, 500*time.Millisecond)
	orDefault(&n.Workers, 2)
}

func (h *Hooks) clone() {
	h.Key = slices.Clone(h.Key)
	h.PreviousKey = slices.Clone(h.PreviousKey)
	h.Notify.Events = slices.Clone(h.Notify.Events)
	h.Subscribe.Channels = slices.Clone(h.Subscribe.Channels)
	h.Publish.Channels = slices.Clone(h.Publish.Channels)
	h.Connect.Channels = slices.Clone(h.Connect.Channels)
}

// minHookKeyBytes is hooks.MinKeyBytes (settings does not import hooks).
const minHookKeyBytes = 32

func (h *Hooks) check(p *problems) {
	for _, k := range []struct {
		name string
		hook *Hook
	}{{"connect", &h.Connect}, {"subscribe", &h.Subscribe}, {"publish", &h.Publish}} {
		h.checkURL(p, "hooks."+k.name+".url", k.hook.URL)
		if k.hook.OnError != OnErrorDeny && k.hook.OnError != OnErrorAllow {
			p.add("hooks."+k.name+".on_error", "must be deny or allow, not %q", k.hook.OnError)
		}
		if k.name == "connect" && len(k.hook.Channels) > 0 {
			p.add("hooks.connect.channels", "the connect hook is asked about connections, not channels: remove it")
		}
		for i, g := range k.hook.Channels {
			if err := policy.CheckGlob(g); err != nil {
				p.add(fmt.Sprintf("hooks.%s.channels[%d]", k.name, i), "%v", err)
			}
		}
	}
	h.checkURL(p, "hooks.notify.url", h.Notify.URL)
	for _, e := range h.Notify.Events {
		if e != "connect" && e != "disconnect" {
			p.add("hooks.notify.events", "unknown event %q (allowed: connect disconnect)", e)
		}
	}
	if h.Timeout < 10*time.Millisecond || h.Timeout > time.Minute {
		p.add("hooks.timeout", "must be between 10ms and 1m, not %s", h.Timeout)
	}
	n := &h.Notify
	ints := []struct {
		path     string
		v, lo, h int
	}{
		{"hooks.max_concurrent", h.MaxConcurrent, 1, 1 << 16},
		{"hooks.max_response_bytes", h.MaxResponseBytes, 64, 16 << 20},
		{"hooks.notify.queue", n.Queue, 1, 1 << 20},
		{"hooks.notify.max_attempts", n.MaxAttempts, 1, 100},
		{"hooks.notify.workers", n.Workers, 1, 64},
	}
	for _, f := range ints {
		if f.v < f.lo || f.v > f.h {
			p.add(f.path, "must be between %d and %d, not %d", f.lo, f.h, f.v)
		}
	}
	if n.RetryBackoff < time.Millisecond || n.RetryBackoff > time.Minute {
		p.add("hooks.notify.retry_backoff", "must be between 1ms and 1m, not %s", n.RetryBackoff)
	}
	if h.Enabled() && len(h.Key) < minHookKeyBytes {
		p.add("hooks.key_env", "the hooks' signing key needs at least %d bytes, not %d", minHookKeyBytes, len(h.Key))
	}
	if n := len(h.PreviousKey); h.Enabled() && n > 0 && n < minHookKeyBytes {
		p.add("hooks.previous_key_env", "the hooks' previous signing key needs at least %d bytes, not %d", minHookKeyBytes, n)
	}
}

// checkURL accepts an https URL, or an http one to a loopback host (any
// host with insecure_allow_http), without credentials or fragment.
func (h *Hooks) checkURL(p *problems, path, raw string) {
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		p.add(path, "must be an http or https URL without credentials or fragment")
		return
	}
	if u.Scheme == "http" && !h.InsecureAllowHTTP && !loopbackHost(u.Hostname()) {
		p.add(path, "plain http to the non-loopback host %q: use https, or set the loud hooks.insecure_allow_http: true", u.Hostname())
	}
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
