// Package rampart is a real-time messaging server that is secure by
// construction: clients hold WebSocket connections, subscribe to channels and
// publish to them, and every connection is authenticated at the handshake,
// authorized per channel, validated, rate limited and bounded.
//
// New returns a *Server, which is an http.Handler; the rampart command wires
// it to a listener, a configuration file, signals and logs.
package rampart

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/broker/memory"
	"github.com/rampart-rt/rampart/internal/console"
	"github.com/rampart-rt/rampart/internal/httpapi"
	"github.com/rampart-rt/rampart/internal/hub"
	"github.com/rampart-rt/rampart/internal/joinleave"
	"github.com/rampart-rt/rampart/internal/metrics"
	"github.com/rampart-rt/rampart/limits"
	"github.com/rampart-rt/rampart/protocol"
)

// Server is a Rampart server. It is an http.Handler serving the WebSocket
// endpoint and the health endpoints. Create it with New.
type Server struct {
	*services
	cfg      Config // as given to New; the parts Reload may change live in state
	state    atomic.Pointer[state]
	ownsBkr  bool
	mux      *http.ServeMux
	gatherer prometheus.Gatherer
	presence broker.Presence
	events   broker.PresenceEvents // nil: the broker carries none
	limiter  Limiter

	joinLeave *joinleave.Coalescer // batches join and leave pushes; nil without events
	reloadMu  sync.Mutex           // serialises Reload

	hookMetrics *metrics.Hooks

	reqPrefix string
	reqSeq    atomic.Uint64

	api      *httpapi.Handler // /api/*: the HTTP adapter over the server-side API
	reg      *registry        // the connections: the only owner of their life
	backends *backends        // what readiness asks
	stop     chan struct{}    // closed by Shutdown
	ctx      context.Context  // canceled by Shutdown: ends a drain in progress
	cancel   context.CancelFunc
	bg       sync.WaitGroup   // background goroutines
	console  *console.Console // the web admin console; nil unless console.enabled

	nodeID   string       // names this node in its control messages (control.go)
	controls chan control // control messages from other nodes, for the control worker
}

// services are what every connection shares with the server, set once by
// New and read-only afterwards. A connection reaches the server's other
// parts only through its methods, and its own life only through the
// registry.
type services struct {
	log     *slog.Logger
	metrics *metrics.Set
	hub     *hub.Hub[*conn]
	broker  broker.Broker
	hooks   backendHooks
}

// New checks and compiles cfg's settings, once (taking from cfg.Compiled
// what is already compiled), and returns a ready server running them. It
// returns every configuration problem at once.
func New(cfg Config) (*Server, error) {
	c, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	cfg.setSettings(c.Settings())
	s := &Server{
		services:  &services{log: cfg.Logger, broker: cfg.Broker},
		cfg:       cfg,
		reg:       newRegistry(),
		stop:      make(chan struct{}),
		nodeID:    newNodeID(),
		controls:  make(chan control, controlQueue),
		reqPrefix: randomHex(4),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.setupMetrics()
	lh := newLimitedHandler(s.log.Handler(), s.metrics.LogsSuppressed.Inc)
	s.log = slog.New(lh)
	s.newConsole(lh)
	s.hooks = s.newHooks()
	st, err := s.newState(cfg, c)
	if err != nil {
		return nil, err
	}
	s.state.Store(st)
	s.limiter = cfg.Limiter
	if s.limiter == nil {
		s.limiter = limits.NewLocal()
	}
	if s.broker == nil {
		s.broker, s.ownsBkr = memory.New(), true
	}
	s.presence, _ = s.broker.(broker.Presence)
	s.backends = newBackends(s.log, s.broker, s.limiter)
	s.hub = hub.New[*conn](hub.Options{Broker: s.broker, Queue: cfg.Limits.SendQueue, Timeout: brokerTimeout,
		Delivered: func(n int, published time.Time) {
			s.metrics.Deliveries.Add(float64(n))
			s.metrics.Latency.Observe(time.Since(published).Seconds())
		}})
	s.startJoinLeave()
	if err := s.checkJoinLeave(cfg.Channels); err != nil {
		s.closeParts()
		return nil, fmt.Errorf("rampart: %w", err)
	}
	if err := s.broker.Run(s.deliver); err != nil {
		s.closeParts()
		return nil, fmt.Errorf("rampart: broker: %w", err)
	}
	s.api = s.apiHandler()
	s.mux = s.routes()
	s.startSenders()
	s.goBackground(s.listenControl)
	s.goBackground(s.sweep)
	s.goBackground(s.refreshPresence)
	if s.console != nil {
		s.goBackground(func() { s.console.Run(s.stop) })
	}
	return s, nil
}

func (s *Server) setupMetrics() {
	reg := s.cfg.Registry
	if reg == nil {
		r := prometheus.NewRegistry()
		// A registry of the server's own also reports the Go runtime and the
		// process (memory, goroutines, open files) for the operator.
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg, s.gatherer = r, r
	} else if g, ok := reg.(prometheus.Gatherer); ok {
		s.gatherer = g
	}
	s.metrics = metrics.New(reg, func() float64 { return float64(s.reg.count()) })
	s.hookMetrics = metrics.NewHooks(reg)
}

func (s *Server) newUpgrader(l Limits, comp Compression, subprotocols []string) *gws.Upgrader {
	return gws.NewUpgrader(&events{s: s}, &gws.ServerOption{
		PermessageDeflate:  deflateOption(comp),
		ReadMaxPayloadSize: l.MaxMessageBytes,
		ReadBufferSize:     readBufferSize,
		WriteBufferSize:    writeBufferSize,
		CheckUtf8Enabled:   true,
		HandshakeTimeout:   l.WriteTimeout,
		SubProtocols:       subprotocols,
		NewSession:         func() gws.SessionStorage { return new(slot) },
		Logger:             gwsLogger{s.log},
		// No Recovery: a panic in an event handler goes on up to the
		// reader's own handler (conn.read), which closes that connection
		// with 1011, logs and counts it.
		// A connection gws fails is closed with Rampart's text for the
		// code, never the library's error text.
		CloseReason: func(code uint16, _ error) []byte {
			if reason, ok := protocol.CloseCodes[code]; ok {
				return []byte(reason)
			}
			return []byte(protocol.CloseCodes[protocol.CloseProtocolError])
		},
	})
}

// Buffer sizes per connection: small, since most connections are idle and
// frames larger than the buffer are read straight into a pooled buffer.
const (
	readBufferSize  = 512
	writeBufferSize = 512
)

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc(s.cfg.Path, s.handleWebSocket)
	if !s.cfg.API.AdminOnly {
		mux.Handle("/api/", s.api)
	}
	if !s.cfg.AdminSeparate {
		s.adminRoutes(mux)
	}
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.cfg.Pages != nil {
		mux.Handle("/", s.pages(s.cfg.Pages))
	} else {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			s.reject(w, r, http.StatusNotFound, "not_found", "no such path")
		})
	}
	return mux
}

// pages wraps the page handler with a strict Content-Security-Policy: only
// the server's own scripts, styles and images, connections to itself and
// the configured WebSocket origins, never framed, no inline code.
func (s *Server) pages(h http.Handler) http.Handler {
	connect := append([]string{"'self'"}, s.cfg.ConnectSources...)
	csp := "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
		"connect-src " + strings.Join(connect, " ") + "; " +
		"frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Del("Cache-Control")
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer s.containHTTP(w, r)
	setSecurityHeaders(w.Header())
	if r.TLS != nil {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
	}
	s.mux.ServeHTTP(w, r)
}

func setSecurityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
}

// Connections returns the number of WebSocket connections: open, or
// admitted and still in their handshake.
func (s *Server) Connections() int { return s.reg.count() }

// Shutdown stops accepting connections, closes every open one with 1001
// (spread over limits.shutdown_spread so clients do not all reconnect at
// once), waits for them until ctx is done, then drops the rest. It is safe to
// call more than once. It does not close the listener: stop the http.Server
// first.
func (s *Server) Shutdown(ctx context.Context) error {
	first := s.reg.shutdown()
	if first {
		s.cancel()
		close(s.stop)
		s.reg.closeAll(ctx, s.st().cfg.Limits.ShutdownSpread, protocol.CloseGoingAway, protocol.CloseCodes[protocol.CloseGoingAway])
	}
	err := s.reg.wait(ctx)
	if first {
		s.bg.Wait()
		s.hooks.Close(ctx) // delivers the notifications queued, the disconnects above among them
		s.closeParts()
	}
	return err
}

func (s *Server) closeParts() {
	if s.joinLeave != nil {
		s.joinLeave.Close()
	}
	if s.ownsBkr {
		_ = s.broker.Close()
	}
	_ = s.st().verifier.Close()
}

// goBackground runs f on a goroutine that Shutdown waits for; after
// Shutdown began it does nothing.
func (s *Server) goBackground(f func()) {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	if s.reg.shut {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		f()
	}()
}

// sweep runs the per-connection clocks once a second: keepalive pings,
// dead-peer detection and token expiry.
func (s *Server) sweep() {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			for _, c := range s.reg.snapshot() {
				c.tickContained(now)
			}
		}
	}
}

var sweepInterval = 250 * time.Millisecond

func (s *Server) newRequestID() string {
	return s.reqPrefix + "-" + strconv.FormatUint(s.reqSeq.Add(1), 36)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type gwsLogger struct{ log *slog.Logger }

func (l gwsLogger) Error(v ...any) {
	l.log.Error("websocket library error", "detail", fmt.Sprint(v...))
}

// MaxHeaderBytes bounds an HTTP request's header block; a larger one is
// answered 431 before any handler runs.
const MaxHeaderBytes = 8 << 10

// HTTPServer returns an http.Server serving s with the timeouts a
// WebSocket endpoint needs: the request header must arrive within
// handshake_timeout (a client that dribbles its bytes is cut off), headers
// are capped at MaxHeaderBytes (431), and HTTP/2 is off (an upgrade needs
// HTTP/1.1). Upgraded connections are not affected by its timeouts.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.HandshakeTimeout,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    MaxHeaderBytes - 4096, // net/http allows 4096 bytes more than this
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}
