package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/config"
	"github.com/rampart-rt/rampart/internal/tlsconf"
)

// fdReserve is kept free of connections below the open-file limit: for
// the listener, logs, broker connections and files.
const fdReserve = 100

// shutdownWait bounds how long a graceful shutdown waits for clients.
const shutdownWait = 10 * time.Second

// drainWindow spreads the closes of a drain started by SIGUSR1.
const drainWindow = 30 * time.Second

// serveOptions are serve's flags.
type serveOptions struct {
	path, listen, devState string
	dev                    bool
}

func serveFlags() (*flag.FlagSet, *serveOptions) {
	o := new(serveOptions)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&o.path, "config", "", "configuration file")
	fs.BoolVar(&o.dev, "dev", false, "loopback dev server with a printed token and a demo page; its secret is kept across restarts")
	fs.StringVar(&o.devState, "dev-state", "", "where --dev keeps its secret (default $XDG_STATE_HOME/rampart, else ~/.local/state/rampart)")
	fs.StringVar(&o.listen, "listen", "", "listen address (overrides the file and RAMPART_LISTEN; checked as they are)")
	return fs, o
}

func serve(args []string, stdout, stderr io.Writer) int {
	fs, o := serveFlags()
	if _, exit, ok := mustLookup("serve").parse(fs, args, stdout, stderr); !ok {
		return exit
	}
	if o.dev == (o.path != "") {
		fmt.Fprintln(stderr, "rampart serve: give exactly one of --config FILE or --dev")
		return 2
	}
	if o.devState != "" && !o.dev {
		fmt.Fprintln(stderr, "rampart serve: --dev-state goes with --dev")
		return 2
	}
	var (
		f     *config.File
		d     *devMode
		err   error
		flags []config.Flag // settings the command line overrides, checked with the rest
	)
	if o.listen != "" {
		flags = append(flags, config.Flag{Name: "--listen", Key: "listen", Value: o.listen})
	}
	if o.dev {
		d, f, err = newDevMode(flags, o.devState)
	} else {
		f, err = config.Load(o.path, os.Environ(), flags...)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	lw := newLogWriter(stderr)
	defer lw.Close()
	log := newLogger(f.Log, lw)
	src := source{path: o.path, flags: flags}
	if err := run1(f, d, src, log, stdout); err != nil {
		log.Error("server stopped", "event", "server_error", "error", err.Error())
		return 1
	}
	return 0
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// source is where the configuration comes from: the file (none in dev
// mode) and the flags that override it; a reload reads both again.
type source struct {
	path  string
	flags []config.Flag
}

// run1 runs one server until a signal stops it.
func run1(f *config.File, d *devMode, src source, log *slog.Logger, stdout io.Writer) error {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	// Signals are caught from the start: a SIGTERM that comes as soon as
	// the start is logged still shuts down gracefully.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	ln, err := listen(f.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close() // a no-op once Serve has closed it
	scheme, tlsCfg, certs, err := setupTLS(ctx, f, log)
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	srv, cleanup, err := buildServer(ctx, f, d, addr, log)
	if err != nil {
		return err
	}
	defer cleanup() // after the shutdown in waitForSignal released every count
	hs := srv.HTTPServer()
	if d != nil {
		hs.Handler = d.handler(srv)
	}
	hs.TLSConfig = tlsCfg
	var served net.Listener = ln
	if tlsCfg != nil {
		served = tls.NewListener(ln, tlsCfg)
	}
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(served) }()
	admin, err := serveAdmin(f, srv, tlsCfg, log, errc)
	if err != nil {
		_ = hs.Close()
		return err
	}
	log.Info("server listening", "event", "server_started", "addr", addr, "scheme", scheme, "version", versionString())
	if f.PublicMetrics() {
		log.Warn("/metrics answers anyone who reaches the public listener (metrics.insecure_public: true)",
			"event", "metrics_insecure_public", "addr", addr)
	}
	if d != nil {
		d.announce(stdout, scheme, addr)
	}
	rl := &reloader{path: src.path, flags: src.flags, file: f, srv: srv, certs: certs, addr: addr, log: log}
	if src.path != "" {
		go rl.watch(ctx, reloadInterval)
	}
	return waitForSignal(sigs, hs, admin, srv, rl, errc, log)
}

// buildServer connects the broker and the connection limiter the file
// names and creates the server on them. cleanup closes them, in reverse.
func buildServer(ctx context.Context, f *config.File, d *devMode, addr string, log *slog.Logger) (*rampart.Server, func(), error) {
	cfg := serverConfig(f, addr, log)
	cfg.AdminSeparate = f.Metrics.Listen != ""
	cfg.IOURing = f.IOURing
	if d != nil {
		d.configure(&cfg, addr)
	}
	var closers []func()
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	bkr, err := newBroker(ctx, f.Broker, log)
	if err != nil {
		return nil, nil, err
	}
	if bkr != nil {
		cfg.Broker = bkr
		closers = append(closers, func() { _ = bkr.Close() })
	}
	lim, closeLim, err := newLimiter(ctx, f.Broker)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	cfg.Limiter = lim
	closers = append(closers, closeLim)
	srv, err := rampart.New(cfg)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return srv, cleanup, nil
}

// serverConfig is the file's server part, with what only the binary knows.
// It carries the settings as the loader compiled them, so that the server
// runs what was checked without compiling it again.
func serverConfig(f *config.File, addr string, log *slog.Logger) rampart.Config {
	cfg := rampart.ConfigOf(f.Compiled())
	cfg.Logger = log
	cfg.Limits.MaxConnections = capConnections(cfg.Limits.MaxConnections, log)
	cfg.ConnectSources = []string{"ws://" + addr, "wss://" + addr}
	return cfg
}

// serveAdmin starts the admin listener (metrics.listen), if configured:
// over TLS when the console is served on an address other machines reach.
func serveAdmin(f *config.File, srv *rampart.Server, tlsCfg *tls.Config, log *slog.Logger, errc chan error) (*http.Server, error) {
	if f.Metrics.Listen == "" {
		return nil, nil
	}
	ln, err := listen(f.Metrics.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	hs := &http.Server{
		Handler:           srv.AdminHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if f.AdminTLS() && tlsCfg != nil {
		ln, scheme = tls.NewListener(ln, tlsCfg), "https"
	}
	go func() { errc <- hs.Serve(ln) }()
	log.Info("admin listening", "event", "admin_started", "addr", ln.Addr().String(), "scheme", scheme)
	return hs, nil
}

func setupTLS(ctx context.Context, f *config.File, log *slog.Logger) (string, *tls.Config, *tlsconf.Reloader, error) {
	if f.TLS.CertFile == "" {
		return "http", nil, nil, nil
	}
	r, err := tlsconf.New(f.TLS.CertFile, f.TLS.KeyFile, f.TLS.MinVersion, log)
	if err != nil {
		return "", nil, nil, fmt.Errorf("tls: %w", err)
	}
	go r.Watch(ctx, tlsconf.DefaultInterval)
	return "https", r.TLSConfig(), r, nil
}

// capConnections keeps max_connections below the process's open-file
// limit, so the server refuses extra clients with 503 instead of failing
// accept with EMFILE.
func capConnections(max int, log *slog.Logger) int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return max
	}
	if limit := int(rl.Cur) - fdReserve; limit > 0 && max > limit {
		log.Warn("max_connections capped by the open-file limit", "event", "config_capped",
			"configured", max, "capped_to", limit, "open_file_limit", rl.Cur)
		return limit
	}
	return max
}

// waitForSignal serves until SIGTERM or SIGINT, then shuts down gracefully:
// refuse new connections (503, /readyz 503: the listeners stay open), close
// every connection with 1001, wait (bounded), close the listeners, exit.
// SIGHUP reloads the configuration; SIGUSR1 drains.
func waitForSignal(sigs <-chan os.Signal, hs, admin *http.Server, srv *rampart.Server, rl *reloader, errc chan error, log *slog.Logger) error {
wait:
	for {
		select {
		case err := <-errc:
			return err
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				rl.reload("signal")
			case syscall.SIGUSR1:
				go srv.Drain(context.Background(), drainWindow)
			default:
				log.Info("shutting down", "event", "server_stopping", "signal", sig.String(), "connections", srv.Connections())
				break wait
			}
		}
	}
	// The listeners stay open while the connections close: probes get
	// /readyz 503 and new clients a 503, not "connection refused", until
	// the WebSocket connections are gone; only then do the listeners close.
	ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	err := srv.Shutdown(ctx)
	_ = hs.Shutdown(ctx)
	if admin != nil {
		_ = admin.Shutdown(ctx)
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	log.Info("server stopped", "event", "server_stopped")
	return nil
}

// listen listens on addr without TCP keepalive: a WebSocket's own pings
// find a dead peer within ping_interval + pong_timeout, HTTP requests
// have their timeouts, and the four setsockopt calls keepalive costs on
// every accepted connection were a tenth of a handshake's system calls.
func listen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(context.Background(), "tcp", addr)
}
