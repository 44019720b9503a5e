package bench

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-rt/rampart/internal/devtoken"
)

// Bounds on what one bench process does.
const (
	MaxConns      = 19000 // per process: one process holds at most 20000 files
	maxDuration   = time.Hour
	maxRate       = 100000
	maxProcs      = 16
	maxLoops      = 1000
	maxSteps      = 100
	maxHandshakes = 10_000_000
	dialTimeout   = 10 * time.Second
	replyTimeout  = 10 * time.Second
)

// The modes of a run.
const (
	ModeIdle      = "idle"      // hold idle subscribed connections
	ModeFanout    = "fanout"    // one publisher, Conns subscribers, one rate
	ModeRamp      = "ramp"      // fanout at rising rates until one fails
	ModeHandshake = "handshake" // Loops connections opened and closed in loops
)

var modes = []string{ModeIdle, ModeFanout, ModeRamp, ModeHandshake}

// Modes returns the values --mode takes.
func Modes() []string { return slices.Clone(modes) }

// Options is one run. The command line of `rampart bench` sets every field;
// Validate says which are out of range, naming the flag.
type Options struct {
	URL            string        // the server's WebSocket URL; loopback only
	Mode           string        // one of ModeIdle, ModeFanout, ModeRamp, ModeHandshake
	Label          string        // copied into the report, e.g. which server binary ran
	Conns          int           // idle connections or subscribers, over all processes
	First          int           // index of the first connection (spreads users and sources over processes)
	Channel        string        // channel name, or prefix with Channels > 1 or ChannelPerConn
	Channels       int           // idle: connection i subscribes to Channel.(i mod Channels)
	ChannelPerConn bool          // idle: connection i subscribes to Channel.i, a channel of its own
	Users          int           // connection i is user bench-(i mod Users)
	Sources        []netip.Addr  // local addresses, used in turn (ParseSources)
	Concurrency    int           // handshakes in flight per process while opening, at most 1000
	Duration       time.Duration // idle: hold time; fanout: publishing time; ramp: per step; handshake: at most this long
	Rate           int           // fanout: publications per second; ramp: the first step's
	RateStep       int           // ramp: added to the rate at each step
	RateMax        int           // ramp: the last step's rate at most
	P99Limit       time.Duration // ramp: a step whose p99 latency is over this fails
	Size           int           // fanout, ramp: bytes of data per publication, 32 to 65536
	Loops          int           // handshake: concurrent open-and-close loops, over all processes
	Handshakes     int           // handshake: at most this many handshakes, over all processes
	Procs          int           // processes holding the load: this one, or 2 to 16 children
	Timeout        time.Duration // hard deadline for the whole run; zero: long enough for Duration (see withDefaults)
	Drain          time.Duration // fanout, ramp: wait for deliveries after the last publish
	ServerPID      int           // when set, the server's CPU time (and, idle, memory) is reported
	Secret         []byte        // HMAC secret the tokens are minted with, at least 32 bytes
	Log            io.Writer     // progress lines and the child processes' stderr; nil discards
}

// withDefaults returns a copy of o with Timeout and Log filled in.
func (o Options) withDefaults() Options {
	if o.Timeout == 0 {
		o.Timeout = o.Duration + 3*time.Minute
		if o.Mode == ModeRamp {
			o.Timeout = time.Duration(o.steps())*(o.Duration+o.Drain+replyTimeout) + 3*time.Minute
		}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// steps is the number of steps of a ramp.
func (o Options) steps() int {
	if o.RateStep < 1 || o.RateMax < o.Rate {
		return 1
	}
	return (o.RateMax-o.Rate)/o.RateStep + 1
}

// Validate returns every problem with o at once.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := checkLoopbackURL(o.URL); err != nil {
		errs = append(errs, err)
	}
	if !slices.Contains(modes, o.Mode) {
		bad("--mode must be one of %s", strings.Join(modes, ", "))
	}
	if o.Conns < 1 || o.Conns > MaxConns*max(1, o.Procs) || (o.Procs <= 1 && o.Conns > MaxConns) {
		bad("--conns/--subscribers must be between 1 and %d per process", MaxConns)
	}
	if o.Procs < 1 || o.Procs > maxProcs {
		bad("--procs must be between 1 and %d", maxProcs)
	}
	if o.Duration <= 0 || o.Duration > maxDuration || o.Timeout <= 0 || o.Timeout > 3*maxDuration {
		bad("--duration and --timeout must be positive and at most %s", maxDuration)
	}
	if o.Rate < 1 || o.Rate > maxRate || o.Size < 32 || o.Size > 1<<16 {
		bad("--rate must be 1..%d and --size 32..65536", maxRate)
	}
	if o.Mode == ModeRamp {
		errs = append(errs, o.validateRamp())
	}
	if o.Mode == ModeHandshake && (o.Loops < o.Procs || o.Loops > maxLoops || o.Handshakes < 1 || o.Handshakes > maxHandshakes) {
		bad("--loops must be between --procs and %d, --handshakes between 1 and %d", maxLoops, maxHandshakes)
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

func (o Options) validateRamp() error {
	if o.RateStep < 1 || o.RateMax < o.Rate || o.RateMax > maxRate || o.steps() > maxSteps {
		return fmt.Errorf("--rate-step must be positive and --rate-max between --rate and %d, at most %d steps", maxRate, maxSteps)
	}
	if o.P99Limit <= 0 {
		return errors.New("--p99-limit must be positive")
	}
	return nil
}

// channelOf names the channel connection i subscribes to.
func (o Options) channelOf(i int) string {
	switch {
	case o.Mode != ModeIdle || (o.Channels == 1 && !o.ChannelPerConn):
		return o.Channel
	case o.ChannelPerConn:
		return o.Channel + "." + strconv.Itoa(i)
	}
	return o.Channel + "." + strconv.Itoa(i%o.Channels)
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

// childSecretEnv carries the secret to a child process, which reads it
// with --secret-env.
const childSecretEnv = "RAMPART_BENCH_SECRET"

// ChildArgs is the command line (after the program's name) of a child
// process of --procs holding o.Conns subscribers from o.First (idle,
// fanout, ramp) or running o.Loops loops of at most o.Handshakes
// handshakes (handshake): the same binary, `bench --role child`, with the
// secret in the environment variable RAMPART_BENCH_SECRET. The command
// line in cmd/rampart parses it back into o.
func ChildArgs(o Options) []string {
	o = o.withDefaults()
	sources := make([]string, len(o.Sources))
	for i, a := range o.Sources {
		sources[i] = a.String()
	}
	mode := o.Mode
	if mode == ModeRamp {
		mode = ModeFanout // a ramp's subscribers are a fanout's: each step is one round
	}
	return []string{"bench", "--role", "child", "--mode", mode,
		"--url", o.URL, "--conns", strconv.Itoa(o.Conns), "--first", strconv.Itoa(o.First),
		"--channel", o.Channel, "--channels", strconv.Itoa(o.Channels),
		"--channel-per-conn=" + strconv.FormatBool(o.ChannelPerConn),
		"--users", strconv.Itoa(o.Users), "--sources", strings.Join(sources, ","),
		"--concurrency", strconv.Itoa(o.Concurrency), "--duration", o.Duration.String(),
		"--loops", strconv.Itoa(o.Loops), "--handshakes", strconv.Itoa(o.Handshakes),
		"--timeout", o.Timeout.String(), "--drain", o.Drain.String(), "--secret-env", childSecretEnv}
}
