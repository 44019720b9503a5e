package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Client. Zero values mean the documented defaults; the
// caller's Config is copied, never changed.
type Config struct {
	// URL of the WebSocket endpoint: ws://host:port/ws or wss://.... A ws://
	// URL must name a loopback host unless InsecurePlaintext is set.
	URL string
	// Token returns the token to present. It is called before every
	// connection attempt and when the server asks for a refresh; it must
	// return when ctx is done. Required.
	Token func(ctx context.Context) (string, error)
	// Origin, when set, is sent as the Origin header.
	Origin string
	// TLSConfig is used for wss:// URLs; nil: the system roots. It is cloned.
	TLSConfig *tls.Config
	// InsecurePlaintext allows ws:// to a host that is not loopback: the
	// token then travels in clear text.
	InsecurePlaintext bool
	// Logger receives what the client does on its own (reconnects,
	// refreshes); nil discards. Tokens are never logged.
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the jittered exponential delay between
	// reconnection attempts, and between the attempts of a publish whose
	// outcome is not known; defaults 200ms and 10s.
	MinBackoff, MaxBackoff time.Duration
	// DialTimeout bounds one connection attempt, from the TCP dial to the
	// welcome push; default 10s.
	DialTimeout time.Duration
	// WriteTimeout bounds one network write; default 10s.
	WriteTimeout time.Duration
	// Compression offers permessage-deflate (RFC 7692) without context
	// takeover in either direction; the server accepts it only when its
	// compression.enabled is set. Default false: compression mixes what
	// others choose with what they must not learn in one message, and costs
	// CPU on both ends (the server's docs/security.md). Messages the server
	// sends compressed are inflated within the same size limit as others.
	Compression bool
	// OnState, when set, is told every change of state. Calls never
	// overlap and StateClosed is the last; it must not block, nor call
	// Close.
	OnState func(State)
	// OnRefused, when set, is told of every reconnection attempt the server
	// refused before upgrading: its HTTP status and refusal code (see
	// HandshakeError), before the client decides to try again or to stop.
	// It is called on the client's own goroutine; it must not block, nor
	// call Close. (A refused Dial returns the *HandshakeError instead.)
	OnRefused func(*HandshakeError)
	// OnServerSubscribe, when set, is told of every subscription the
	// server makes for a connection on its own (a server-side
	// subscription: a subscribe push), before any of its publications, on
	// the handlers' goroutine. It returns the handler of the
	// subscription's publications and, as Subscribe takes them, its
	// options (OnRecoveryFailed, OnUnsubscribed). Without it, or with a
	// nil handler, the publications are dropped. Such a subscription ends
	// with its connection (see the package doc).
	OnServerSubscribe func(sub *Subscription) (func(Publication), []SubscribeOption)
}

// RateLimitBackoff is the least the client waits before reconnecting after
// the server closed the connection with 4029 (rate limit abuse): the
// server's rate window is a minute.
const RateLimitBackoff = time.Minute

// incomingQueue bounds the events waiting for the handlers.
const incomingQueue = 1024

// sendQueue is how many outgoing frames of a connection wait for its
// writer; a call blocks (bounded by its context) while it is full.
const sendQueue = 64

func (c Config) withDefaults() Config {
	dur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	dur(&c.MinBackoff, 200*time.Millisecond)
	dur(&c.MaxBackoff, 10*time.Second)
	dur(&c.DialTimeout, 10*time.Second)
	dur(&c.WriteTimeout, 10*time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.TLSConfig != nil {
		c.TLSConfig = c.TLSConfig.Clone()
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || u.Host == "":
		errs = append(errs, errors.New("client: URL must be ws://host/path or wss://host/path"))
	case u.Scheme == "ws" && !c.InsecurePlaintext && !isLoopback(u.Hostname()):
		errs = append(errs, errors.New("client: ws:// to a host that is not loopback sends the token in clear text; use wss:// or set InsecurePlaintext"))
	case u.Scheme != "ws" && u.Scheme != "wss":
		errs = append(errs, errors.New("client: URL scheme must be ws or wss"))
	}
	if c.Token == nil {
		errs = append(errs, errors.New("client: Token is required"))
	}
	if c.MinBackoff > c.MaxBackoff {
		errs = append(errs, errors.New("client: MinBackoff is larger than MaxBackoff"))
	}
	return errors.Join(errs...)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// State is where a Client stands.
type State int

// The states, in the order a Client usually goes through them.
const (
	StateConnecting   State = iota // dialing
	StateConnected                 // welcome received, commands flow
	StateDisconnected              // the connection dropped; a reconnect follows
	StateClosed                    // Close was called, or the client gave up; final
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateDisconnected:
		return "disconnected"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Welcome is what the server said about a connection when it opened.
type Welcome struct {
	Client            string    // this connection's id, new at every reconnect
	User              string    // the token's subject
	ExpiresAt         time.Time // the token's expiry, moved by each refresh; zero if it has none
	MaxMessageBytes   int       // largest frame the server accepts
	MessagesPerMinute int       // the server's rate limit for this connection
	// PingInterval and PongTimeout are what the server announced: it pings
	// a connection it has not heard from for PingInterval and drops it when
	// no pong comes within PongTimeout. The client counts a connection on
	// which it has received nothing for their sum plus a few seconds as
	// lost, and reconnects. Zero when the server announced none (then the
	// client waits for TCP to notice).
	PingInterval, PongTimeout time.Duration
}

// Client is a connection to a Rampart server that reconnects on its own.
// Its methods are safe for concurrent use. Create it with Dial; Close it.
type Client struct {
	cfg Config
	log *slog.Logger
	ids atomic.Uint64 // command ids, never reused

	ctx     context.Context // done when Close is called
	cancel  context.CancelFunc
	wg      sync.WaitGroup // every goroutine of the client and its connections
	events  chan func()    // to the dispatcher, which runs handlers in order
	refresh chan struct{}  // refresh_required seen; to the supervisor

	stateMu sync.Mutex // serializes OnState calls; guards final
	final   bool       // StateClosed was reported

	mu      sync.Mutex // guards the fields below; taken before session.mu and Subscription.mu
	sess    *session   // the open connection; nil while reconnecting
	ready   chan struct{}
	subs    map[string]*Subscription
	welcome Welcome
	err     error         // why the client stopped; nil while running
	done    chan struct{} // closed when the client stops
}

// Dial connects to the server, reads its welcome and returns a Client that
// keeps the connection up until Close. The token is sent in the
// Authorization header and rampart.v1 is offered as the subprotocol. A
// refused handshake returns a *HandshakeError; Dial itself does not retry.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Client{
		cfg:     cfg,
		log:     cfg.Logger,
		events:  make(chan func(), incomingQueue),
		refresh: make(chan struct{}, 1),
		ready:   make(chan struct{}),
		subs:    make(map[string]*Subscription),
		done:    make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.setState(StateConnecting)
	s, err := c.connect(ctx)
	if err != nil {
		c.cancel()
		c.wg.Wait()
		return nil, err
	}
	c.goroutine(c.dispatch)
	c.goroutine(func() { c.supervise(s) })
	return c, nil
}

func (c *Client) goroutine(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// setState tells OnState, one call at a time; nothing after StateClosed.
func (c *Client) setState(s State) {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if c.final || c.cfg.OnState == nil {
		return
	}
	c.final = s == StateClosed
	c.cfg.OnState(s)
}

// connect opens one connection and makes it the current one.
func (c *Client) connect(ctx context.Context) (*session, error) {
	s, w, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		return nil, ErrClosed // the session ends with the context
	}
	c.sess, c.welcome = s, w
	close(c.ready)
	c.mu.Unlock()
	c.setState(StateConnected)
	return s, nil
}

// Welcome returns what the server said when the current (or last)
// connection opened.
func (c *Client) Welcome() Welcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.welcome
}

// Done is closed when the client stops: after Close, or when it gave up
// reconnecting. OnState has been told StateClosed by then.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err says why the client stopped: nil while it runs, ErrClosed after
// Close, or an error wrapping ErrClosed and the *CloseError or
// *HandshakeError that made it give up.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close sends close 1000, stops reconnecting and waits for every goroutine
// of the client to end. Handlers not yet run are dropped. It is safe to
// call more than once, but not from a handler or OnState (it would wait
// for itself).
func (c *Client) Close() error {
	c.stop(ErrClosed)
	c.wg.Wait()
	return nil
}

// stop ends the client with err (wrapping ErrClosed); the first call wins.
func (c *Client) stop(err error) {
	c.mu.Lock()
	first := c.err == nil
	if first {
		c.err = err
	}
	c.mu.Unlock()
	if first {
		c.cancel() // the writer sends close 1000
		c.setState(StateClosed)
		close(c.done) // after StateClosed, so that whoever waits on Done has seen it
	}
}

// current waits until a connection is open, ctx is done or the client
// stops.
func (c *Client) current(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		s, ready, err := c.sess, c.ready, c.err
		c.mu.Unlock()
		switch {
		case err != nil:
			return nil, err
		case s != nil:
			return s, nil
		}
		select {
		case <-ready:
		case <-c.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// ended forgets s as the current connection.
func (c *Client) ended(s *session) {
	c.mu.Lock()
	if c.sess == s {
		c.sess = nil
		c.ready = make(chan struct{})
	}
	c.mu.Unlock()
}

// dispatch runs handlers, one at a time, in the order they were queued.
func (c *Client) dispatch() {
	for {
		select {
		case f := <-c.events:
			f()
		case <-c.ctx.Done():
			return
		}
	}
}

// enqueue hands f to the dispatcher; it blocks while the queue is full.
func (c *Client) enqueue(f func()) {
	select {
	case c.events <- f:
	case <-c.ctx.Done():
	}
}
