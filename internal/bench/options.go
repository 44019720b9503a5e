package bench

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-rt/rampart/internal/devtoken"
)

// Bounds on what one bench process does.
const (
	MaxConns     = 19000 // per process: one process holds at most 20000 files
	maxDuration  = time.Hour
	maxRate      = 100000
	maxProcs     = 16
	dialTimeout  = 10 * time.Second
	replyTimeout = 10 * time.Second
)

// Options is one run. The command line of `rampart bench` sets every field;
// Validate says which are out of range, naming the flag.
type Options struct {
	URL         string        // the server's WebSocket URL; loopback only
	Mode        string        // "idle" or "fanout"
	Conns       int           // idle connections or fanout subscribers
	First       int           // index of the first connection (spreads users and sources over processes)
	Channel     string        // channel name, or prefix with Channels > 1
	Channels    int           // idle: connection i subscribes to Channel.(i mod Channels)
	Users       int           // connection i is user bench-(i mod Users)
	Sources     []netip.Addr  // local addresses, used in turn (ParseSources)
	Concurrency int           // handshakes in flight, at most 1000
	Duration    time.Duration // idle: hold time; fanout: publishing time
	Rate        int           // fanout: publications per second
	Size        int           // fanout: bytes of data per publication, 32 to 65536
	Procs       int           // fanout: subscriber processes, 1 to 16
	Timeout     time.Duration // hard deadline for the whole run; zero means Duration + 3m
	Drain       time.Duration // fanout: wait for deliveries after the last publish
	ServerPID   int           // when set, the server's CPU time is reported
	Secret      []byte        // HMAC secret the tokens are minted with, at least 32 bytes
	Log         io.Writer     // progress lines and the subscriber processes' stderr; nil discards
}

// withDefaults returns a copy of o with Timeout and Log filled in.
func (o Options) withDefaults() Options {
	if o.Timeout == 0 {
		o.Timeout = o.Duration + 3*time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// Validate returns every problem with o at once.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := checkLoopbackURL(o.URL); err != nil {
		errs = append(errs, err)
	}
	if o.Mode != "idle" && o.Mode != "fanout" {
		bad("--mode must be idle or fanout")
	}
	if o.Conns < 1 || o.Conns > MaxConns*max(1, o.Procs) || (o.Procs <= 1 && o.Conns > MaxConns) {
		bad("--conns/--subscribers must be between 1 and %d per process", MaxConns)
	}
	if o.Procs < 1 || o.Procs > maxProcs {
		bad("--procs must be between 1 and %d", maxProcs)
	}
	if o.Duration <= 0 || o.Duration > maxDuration || o.Timeout <= 0 || o.Timeout > maxDuration+10*time.Minute {
		bad("--duration and --timeout must be positive and at most %s", maxDuration)
	}
	if o.Rate < 1 || o.Rate > maxRate || o.Size < 32 || o.Size > 1<<16 {
		bad("--rate must be 1..%d and --size 32..65536", maxRate)
	}
	if o.Users < 1 || o.Channels < 1 || o.Concurrency < 1 || o.Concurrency > 1000 || o.First < 0 {
		bad("--users, --channels and --concurrency (at most 1000) must be positive, --first not negative")
	}
	if len(o.Secret) < devtoken.MinSecretBytes {
		bad("the HMAC secret (RAMPART_JWT_SECRET) must be at least 32 bytes")
	}
	if len(o.Sources) == 0 {
		bad("--sources: no source address")
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

// ParseSources reads "127.0.0.2-127.0.0.50" or "127.0.0.2,127.0.0.3", at
// most 256 addresses; every address must be loopback.
func ParseSources(s string) ([]netip.Addr, error) {
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

// childSecretEnv carries the secret to a subscriber process, which reads
// it with --secret-env.
const childSecretEnv = "RAMPART_BENCH_SECRET"

// ChildArgs is the command line (after the program's name) of a subscriber
// process of --procs holding o.Conns subscribers from o.First: the same
// binary, `bench --role subscribers`, with the secret in the environment
// variable RAMPART_BENCH_SECRET. The command line in cmd/rampart parses it
// back into o.
func ChildArgs(o Options) []string {
	o = o.withDefaults()
	sources := make([]string, len(o.Sources))
	for i, a := range o.Sources {
		sources[i] = a.String()
	}
	return []string{"bench", "--role", "subscribers", "--mode", "fanout",
		"--url", o.URL, "--subscribers", strconv.Itoa(o.Conns), "--first", strconv.Itoa(o.First),
		"--channel", o.Channel, "--users", strconv.Itoa(o.Users), "--sources", strings.Join(sources, ","),
		"--concurrency", strconv.Itoa(o.Concurrency), "--duration", o.Duration.String(),
		"--timeout", o.Timeout.String(), "--drain", o.Drain.String(), "--secret-env", childSecretEnv}
}
