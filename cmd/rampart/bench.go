package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rampart-rt/rampart/internal/bench"
)

// bench is `rampart bench`, the loopback load generator (package
// internal/bench). It prints one line of JSON on stdout and its progress on
// stderr. Exit 2 for bad flags, 1 when the run fails.
//
//	rampart bench --mode idle --url ws://127.0.0.1:8080/ws --conns 15000 --procs 3 --channel-per-conn --duration 30s
//	rampart bench --mode fanout --url ws://127.0.0.1:8080/ws --subscribers 10000 --procs 2 --rate 10 --size 100 --duration 30s
//	rampart bench --mode ramp --subscribers 10000 --procs 2 --rate 4 --rate-step 2 --rate-max 40 --duration 10s --p99-limit 1s
//	rampart bench --mode handshake --loops 64 --procs 2 --handshakes 200000 --duration 20s
func benchCmd(args []string, stdout, stderr io.Writer) int {
	o, role, exit, ok := parseBenchFlags(args, stdout, stderr)
	if !ok {
		return exit
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintln(stderr, "rampart bench:", err)
		return 2
	}
	var err error
	ctx := context.Background()
	switch {
	case role == "child":
		// Ctrl-C reaches the whole process group; the parent ends its
		// children itself (closing their stdin) once it has their counts.
		signal.Ignore(syscall.SIGINT)
		err = bench.RunChild(ctx, o, os.Stdin, stdout)
	case o.Mode == "idle":
		// An idle run ends early, and reports, on SIGINT or SIGTERM.
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		err = bench.Run(ctx, o, stdout)
	default:
		err = bench.Run(ctx, o, stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "rampart bench:", err)
		return 1
	}
	return 0
}

// benchExtra are bench's flags that are not options as they are.
type benchExtra struct {
	subs                     int
	sources, secretEnv, role string
}

// parseBenchFlags reads the flags into the options, and --role: empty, or
// "child" for a child process of --procs (bench.ChildArgs). When ok is
// false, it has said why and the command exits with exit.
func parseBenchFlags(args []string, stdout, stderr io.Writer) (o bench.Options, role string, exit int, ok bool) {
	fs, opts, x := benchFlags()
	if _, exit, ok := mustLookup("bench").parse(fs, args, stdout, stderr); !ok {
		return o, "", exit, false
	}
	o = *opts
	o.Log = stderr
	if x.subs > 0 {
		o.Conns = x.subs
	}
	o.Secret = []byte(os.Getenv(x.secretEnv))
	var err error
	if o.Sources, err = bench.ParseSources(x.sources); err != nil {
		fmt.Fprintln(stderr, "rampart bench:", err)
		return o, "", 2, false
	}
	return o, x.role, 0, true
}

func benchFlags() (*flag.FlagSet, *bench.Options, *benchExtra) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	o, x := new(bench.Options), new(benchExtra)
	fs.StringVar(&o.URL, "url", "ws://127.0.0.1:8080/ws", "server WebSocket URL (loopback only)")
	fs.StringVar(&o.Mode, "mode", "fanout", "idle, fanout, ramp or handshake")
	fs.StringVar(&o.Label, "label", "", "a name for the run, copied into its JSON line (e.g. which server binary)")
	fs.IntVar(&o.Conns, "conns", 1000, "idle: connections to open")
	fs.IntVar(&x.subs, "subscribers", 0, "fanout, ramp: subscribers (default: --conns)")
	fs.IntVar(&o.First, "first", 0, "index of the first connection, to spread users and sources over several processes")
	fs.StringVar(&o.Channel, "channel", "bench:load", "channel, or prefix with --channels > 1 or --channel-per-conn")
	fs.IntVar(&o.Channels, "channels", 1, "idle: spread connections over this many channels")
	fs.BoolVar(&o.ChannelPerConn, "channel-per-conn", false, "idle: each connection subscribes to a channel of its own")
	fs.IntVar(&o.Users, "users", 100, "distinct users")
	fs.StringVar(&x.sources, "sources", "127.0.0.2-127.0.0.50", "local source addresses: a range A-B or a comma list")
	fs.IntVar(&o.Concurrency, "concurrency", 32, "handshakes in flight per process while opening connections")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "idle: hold time; fanout: publishing time; ramp: per step; handshake: at most")
	fs.IntVar(&o.Rate, "rate", 10, "fanout: publications per second; ramp: the first step's")
	fs.IntVar(&o.RateStep, "rate-step", 2, "ramp: publications per second added at each step")
	fs.IntVar(&o.RateMax, "rate-max", 40, "ramp: the highest rate tried")
	fs.DurationVar(&o.P99Limit, "p99-limit", time.Second, "ramp: a step whose p99 latency is over this fails")
	fs.IntVar(&o.Size, "size", 100, "fanout, ramp: bytes of data per publication")
	fs.IntVar(&o.Loops, "loops", 64, "handshake: concurrent open-and-close loops, over all processes")
	fs.IntVar(&o.Handshakes, "handshakes", 100000, "handshake: at most this many handshakes, over all processes")
	fs.IntVar(&o.Procs, "procs", 1, "processes holding the load (each holds at most 19000 connections)")
	fs.DurationVar(&o.Timeout, "timeout", 0, "hard deadline for the whole run (default: long enough for --duration, plus 3m)")
	fs.DurationVar(&o.Drain, "drain", 10*time.Second, "fanout, ramp: wait for deliveries after the last publish")
	fs.IntVar(&o.ServerPID, "server-pid", 0, "server process id, to report its CPU time (and, idle, its memory)")
	fs.StringVar(&x.role, "role", "", "internal: child, for the child processes of --procs")
	fs.StringVar(&x.secretEnv, "secret-env", "RAMPART_JWT_SECRET", "variable holding the HMAC secret")
	return fs, o, x
}
