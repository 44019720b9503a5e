package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// rampart bench: a load generator for loopback servers only. Every loop is
// bounded by a count and by --timeout, after which everything stops.
//
//	rampart bench --mode idle --url ws://127.0.0.1:8080/ws --conns 5000 --duration 60s
//	rampart bench --mode fanout --url ws://127.0.0.1:8080/ws --subscribers 10000 --procs 2 --rate 10 --size 100 --duration 30s
//
// Tokens are minted from RAMPART_JWT_SECRET, as `rampart token` does, for
// users bench-0 .. bench-(users-1) with the role "bench".

// Bounds on what one bench process does.
const (
	maxBenchConns    = 19000 // one process holds at most 20000 files
	maxBenchDuration = time.Hour
	maxBenchRate     = 100000
	dialTimeout      = 10 * time.Second
	replyTimeout     = 10 * time.Second
)

type benchConfig struct {
	URL         string
	Mode        string        // idle or fanout
	Conns       int           // idle connections or fanout subscribers
	First       int           // index of the first connection (spreads users and sources over processes)
	Channel     string        // channel name, or prefix with Channels > 1
	Channels    int           // idle: connection i subscribes to Channel.(i mod Channels)
	Users       int           // connection i is user bench-(i mod Users)
	Sources     []netip.Addr  // local addresses, used in turn
	Concurrency int           // handshakes in flight
	Duration    time.Duration // idle: hold time; fanout: publishing time
	Rate        int           // fanout: publications per second
	Size        int           // fanout: bytes of data per publication
	Procs       int           // fanout: subscriber processes
	Timeout     time.Duration // hard deadline for the whole run
	Drain       time.Duration // fanout: wait for deliveries after the last publish
	ServerPID   int           // when set, the server's CPU time is reported
	Role        string        // "" or "subscribers" (a child of --procs)
	Secret      []byte
}

func bench(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseBenchFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "rampart bench:", err)
		}
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	switch {
	case cfg.Role == "subscribers":
		err = runSubscriberChild(ctx, cfg, os.Stdin, stdout)
	case cfg.Mode == "idle":
		err = runIdle(ctx, cfg, stdout)
	default:
		var r *fanoutReport
		if r, err = runFanout(ctx, cfg, stderr); err == nil {
			r.print(stdout)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "rampart bench:", err)
		return 1
	}
	return 0
}

func parseBenchFlags(args []string, stderr io.Writer) (benchConfig, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c benchConfig
	var sources, secretEnv string
	fs.StringVar(&c.URL, "url", "ws://127.0.0.1:8080/ws", "server WebSocket URL (loopback only)")
	fs.StringVar(&c.Mode, "mode", "fanout", "idle or fanout")
	fs.IntVar(&c.Conns, "conns", 1000, "idle: connections to open")
	subs := fs.Int("subscribers", 0, "fanout: subscribers (default: --conns)")
	fs.IntVar(&c.First, "first", 0, "index of the first connection, to spread users and sources over several processes")
	fs.StringVar(&c.Channel, "channel", "bench:load", "channel, or prefix when --channels > 1")
	fs.IntVar(&c.Channels, "channels", 1, "idle: spread connections over this many channels")
	fs.IntVar(&c.Users, "users", 100, "distinct users")
	fs.StringVar(&sources, "sources", "127.0.0.2-127.0.0.50", "local source addresses: a range A-B or a comma list")
	fs.IntVar(&c.Concurrency, "concurrency", 32, "handshakes in flight")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "idle: hold time; fanout: publishing time")
	fs.IntVar(&c.Rate, "rate", 10, "fanout: publications per second")
	fs.IntVar(&c.Size, "size", 100, "fanout: bytes of data per publication")
	fs.IntVar(&c.Procs, "procs", 1, "fanout: subscriber processes (each holds at most 19000 connections)")
	fs.DurationVar(&c.Timeout, "timeout", 0, "hard deadline for the whole run (default: duration + 3m)")
	fs.DurationVar(&c.Drain, "drain", 10*time.Second, "fanout: wait for deliveries after the last publish")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "server process id, to report its CPU time")
	fs.StringVar(&c.Role, "role", "", "internal: subscribers, for the child processes of --procs")
	fs.StringVar(&secretEnv, "secret-env", "RAMPART_JWT_SECRET", "variable holding the HMAC secret")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if *subs > 0 {
		c.Conns = *subs
	}
	if c.Timeout == 0 {
		c.Timeout = c.Duration + 3*time.Minute
	}
	c.Secret = []byte(os.Getenv(secretEnv))
	var err error
	if c.Sources, err = parseSources(sources); err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c *benchConfig) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := checkLoopbackURL(c.URL); err != nil {
		errs = append(errs, err)
	}
	if c.Mode != "idle" && c.Mode != "fanout" {
		bad("--mode must be idle or fanout")
	}
	if c.Conns < 1 || c.Conns > maxBenchConns*max(1, c.Procs) || (c.Procs <= 1 && c.Conns > maxBenchConns) {
		bad("--conns/--subscribers must be between 1 and %d per process", maxBenchConns)
	}
	if c.Procs < 1 || c.Procs > 16 {
		bad("--procs must be between 1 and 16")
	}
	if c.Duration <= 0 || c.Duration > maxBenchDuration || c.Timeout <= 0 || c.Timeout > maxBenchDuration+10*time.Minute {
		bad("--duration and --timeout must be positive and at most %s", maxBenchDuration)
	}
	if c.Rate < 1 || c.Rate > maxBenchRate || c.Size < 32 || c.Size > 1<<16 {
		bad("--rate must be 1..%d and --size 32..65536", maxBenchRate)
	}
	if c.Users < 1 || c.Channels < 1 || c.Concurrency < 1 || c.Concurrency > 1000 || c.First < 0 {
		bad("--users, --channels and --concurrency (at most 1000) must be positive, --first not negative")
	}
	if len(c.Secret) < 32 {
		bad("the HMAC secret (RAMPART_JWT_SECRET) must be at least 32 bytes")
	}
	return errors.Join(errs...)
}

// checkLoopbackURL refuses any target that is not a loopback address.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		return fmt.Errorf("--url %q: want ws://HOST:PORT/PATH", raw)
	}
	if h := u.Hostname(); h != "localhost" {
		if ip, err := netip.ParseAddr(h); err != nil || !ip.IsLoopback() {
			return fmt.Errorf("--url %q: the target must be a loopback address", raw)
		}
	}
	return nil
}

// parseSources reads "127.0.0.2-127.0.0.50" or "127.0.0.2,127.0.0.3";
// every address must be loopback.
func parseSources(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := netip.ParseAddr(lo)
		b := a
		if err == nil && isRange {
			b, err = netip.ParseAddr(hi)
		}
		if err != nil || !a.IsLoopback() || !b.IsLoopback() || b.Less(a) {
			return nil, fmt.Errorf("--sources %q: want loopback addresses A-B or A,B", s)
		}
		for ip := a; ip.Compare(b) <= 0 && len(out) < 256; ip = ip.Next() {
			out = append(out, ip)
		}
	}
	return out, nil
}

// dialer opens authenticated connections, spreading them over users and
// source addresses; tokens are minted once per user.
type dialer struct {
	cfg    benchConfig
	mu     sync.Mutex
	tokens map[string]string
}

func newDialer(cfg benchConfig) *dialer {
	return &dialer{cfg: cfg, tokens: make(map[string]string)}
}

func (d *dialer) token(user string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.tokens[user]; ok {
		return t, nil
	}
	t, err := mint(d.cfg.Secret, claims{sub: user, roles: []string{"bench"}, ttl: d.cfg.Timeout + 10*time.Minute})
	d.tokens[user] = t
	return t, err
}

// dial connects connection number i as user and starts its reader.
func (d *dialer) dial(i int, user string, h gws.Event) (*gws.Conn, error) {
	tok, err := d.token(user)
	if err != nil {
		return nil, err
	}
	src := d.cfg.Sources[i%len(d.cfg.Sources)]
	ws, resp, err := gws.NewClient(h, &gws.ClientOption{
		Addr:               d.cfg.URL,
		RequestHeader:      http.Header{"Authorization": {"Bearer " + tok}, "Sec-Websocket-Protocol": {"rampart.v1"}},
		HandshakeTimeout:   dialTimeout,
		ReadBufferSize:     4096,
		ReadMaxPayloadSize: 1 << 20,
		CheckUtf8Enabled:   false,
		NewDialer: func() (gws.Dialer, error) {
			return &net.Dialer{Timeout: dialTimeout, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}, nil
		},
	})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("handshake from %s: %s", src, resp.Status)
		}
		return nil, fmt.Errorf("dial from %s: %w", src, err)
	}
	go ws.ReadLoop()
	return ws, nil
}

// openAll opens n subscribers with cfg.Concurrency handshakes in flight;
// open(i) dials and subscribes connection i. It stops at the first error
// or when ctx ends.
func openAll(ctx context.Context, n, concurrency int, open func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, concurrency)
	for range min(concurrency, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := open(i); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	return ctx.Err()
}

func subscribeFrame(channel string) []byte {
	return []byte(`{"id":1,"action":"subscribe","channel":` + strconv.Quote(channel) + `}`)
}

// closeAll sends close 1000 to every connection and closes its socket.
func closeAll(conns []*gws.Conn) {
	for _, ws := range conns {
		if ws != nil {
			_ = ws.SetDeadline(time.Now().Add(time.Second))
			ws.WriteClose(1000, nil)
		}
	}
}

// procCPU returns the user plus system CPU time of process pid, read from
// /proc/PID/stat (clock ticks of 10ms).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state); utime is field 14
	if len(f) < 13 {
		return 0, errors.New("unreadable /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unreadable /proc stat")
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}
