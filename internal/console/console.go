package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"github.com/rampart-rt/rampart/protocol"
	"github.com/rampart-rt/rampart/settings"
)

// Reserved channels: only a connection the console admitted may subscribe
// to them, nobody may publish into them, and the HTTP API does not reach
// them. Every node publishes its stats and its new events there.
const (
	ChannelPrefix  = "rampart.console:"
	StatsChannel   = ChannelPrefix + "stats"
	EventsChannel  = ChannelPrefix + "events"
	ringSize       = 1000
	statsInterval  = time.Second
	eventsInterval = 250 * time.Millisecond
)

// Reserved reports whether channel is one of the console's.
func Reserved(channel string) bool {
	return len(channel) >= len(ChannelPrefix) && channel[:len(ChannelPrefix)] == ChannelPrefix
}

// Totals are a node's counters since it started.
type Totals struct {
	Handshakes float64 `json:"handshakes"` // accepted and refused
	Messages   float64 `json:"messages"`   // commands run
	Deliveries float64 `json:"deliveries"` // publications queued to subscribers
}

// Channel is one of a node's busiest channels.
type Channel struct {
	Channel      string `json:"channel"`
	Subscribers  int    `json:"subscribers"`
	Publications uint64 `json:"publications"` // delivered to this node since it first heard the channel
}

// Identity is who a console socket is for.
type Identity struct {
	Admin   string
	Role    string
	Expires time.Time
}

// Server is what the console needs of the Rampart server.
type Server interface {
	Connections() int
	Draining() bool
	Totals() Totals
	TopChannels(n int) []Channel
	Presence(ctx context.Context, channel string) ([]protocol.PresenceEntry, error)
	Disconnect(ctx context.Context, t protocol.Target, code uint16, reason string) (int, error)
	Drain(ctx context.Context, window time.Duration)
	// PublishConsole publishes data on a reserved channel, to every node.
	PublishConsole(ctx context.Context, channel string, data []byte) error
	// ServeSocket admits the console's WebSocket for id, as a Rampart
	// connection that may subscribe to the reserved channels.
	ServeSocket(w http.ResponseWriter, r *http.Request, id Identity)
}

// Options configure a Console. The functions are asked on every request,
// so a reload's keys and settings apply at once.
type Options struct {
	Node      string // this node's name in the console
	Server    Server
	Settings  func() settings.Console
	KeyValid  func(key string) bool // an admin API key
	Verify    func(ctx context.Context, token string) (subject string, roles []string, err error)
	AllowTry  func(ctx context.Context, ip string, perMinute int) (ok bool, retryAfter time.Duration)
	ClientIP  func(*http.Request) string
	RequestID func() string
	WithID    func(ctx context.Context, id string) context.Context // carries the request id into the server's audit lines
	Log       *slog.Logger
	Now       func() time.Time // nil: time.Now
}

// Console serves the console and keeps its events and sessions.
type Console struct {
	o        Options
	ring     *Ring
	sessions *sessions
}

// New returns a console; Run publishes the node's stats.
func New(o Options) *Console {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	c := &Console{o: o, ring: NewRing(ringSize), sessions: newSessions(o.Now)}
	c.o.Log = slog.New(c.Tap(o.Log.Handler()))
	return c
}

// observe records a log line's security event.
func (c *Console) observe(event string, attrs map[string]string) {
	if e, ok := classify(event, attrs); ok {
		e.Time, e.Node = c.o.Now(), c.o.Node
		c.ring.Add(e)
	}
}

// Events returns the ring (for the server's tests and the API).
func (c *Console) Events() *Ring { return c.ring }

// keyAdmin names the admin of an API key by a fingerprint that does not
// reveal it.
func keyAdmin(key string) string {
	h := sha256.Sum256([]byte(key))
	return "key:" + hex.EncodeToString(h[:4])
}
