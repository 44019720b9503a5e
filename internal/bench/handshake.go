package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// loopResult is what the handshake loops of one process did; a child
// process sends it as JSON.
type loopResult struct {
	Handshakes int            `json:"handshakes"`
	Errors     int            `json:"errors"`
	FirstError string         `json:"first_error,omitempty"`
	ElapsedNS  int64          `json:"elapsed_ns"`
	Buckets    map[int]uint64 `json:"buckets"` // dial to welcome
}

// runHandshakes runs cfg.Loops loops (in cfg.Procs processes), each
// opening a connection with a fresh token, waiting for its welcome and
// closing it, again and again, until cfg.Handshakes are done or
// cfg.Duration has passed.
func runHandshakes(ctx context.Context, cfg Options) (*HandshakeResult, error) {
	var cs children
	if cfg.Procs > 1 {
		var err error
		if cs, err = startChildren(ctx, cfg); err != nil {
			return nil, err
		}
		defer cs.stop()
	}
	fmt.Fprintf(cfg.Log, "handshake: %d loops in %d process(es), at most %d handshakes or %s\n", cfg.Loops, cfg.Procs, cfg.Handshakes, cfg.Duration)
	probe := serverProbe{cfg.ServerPID}
	cpu0, cpuOK := probe.cpu()
	var results []loopResult
	if cs == nil {
		results = []loopResult{runLoops(ctx, cfg)}
	} else {
		results = make([]loopResult, len(cs))
		if err := cs.round("go", func(i int) any { return &results[i] }); err != nil {
			return nil, err
		}
	}
	cpu := probe.since(cpu0, cpuOK)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := handshakesOf(results)
	if cpu > 0 {
		r.ServerCPUMS, r.ServerCPUUSPerHandshake = ms(cpu), perUnitUS(cpu, uint64(r.Handshakes))
	}
	fmt.Fprintf(cfg.Log, "handshake: %d in %.1fs, %.0f/s, %d errors; dial to welcome p50 %.1fms p99 %.1fms; server CPU %.0f µs per handshake\n",
		r.Handshakes, r.ElapsedS, r.PerS, r.Errors, r.P50MS, r.P99MS, r.ServerCPUUSPerHandshake)
	return r, nil
}

// handshakesOf merges the processes' loops; they ran side by side, so
// the longest of them is the run's time.
func handshakesOf(results []loopResult) *HandshakeResult {
	r := &HandshakeResult{}
	hist := new(histogram)
	var elapsed time.Duration
	for _, l := range results {
		r.Handshakes += l.Handshakes
		r.Errors += l.Errors
		if r.FirstError == "" {
			r.FirstError = l.FirstError
		}
		elapsed = max(elapsed, time.Duration(l.ElapsedNS))
		hist.merge(l.Buckets)
	}
	r.ElapsedS, r.PerS = seconds(elapsed), perSecond(uint64(r.Handshakes), elapsed)
	r.P50MS, r.P99MS, r.MaxMS = ms(hist.quantile(0.5)), ms(hist.quantile(0.99)), ms(hist.quantile(1))
	return r
}

// runLoops runs this process's cfg.Loops loops until cfg.Handshakes are
// done, cfg.Duration has passed or ctx ends. A handshake under way then
// is finished and counted.
func runLoops(ctx context.Context, cfg Options) loopResult {
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	d := newDialer(cfg)
	hist := new(histogram)
	var next, done, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.Loops {
		wg.Go(func() {
			for ctx.Err() == nil {
				k := int(next.Add(1)) - 1
				if k >= cfg.Handshakes {
					return
				}
				t0 := time.Now()
				switch err := d.handshake(ctx, cfg.First+k); {
				case err == nil:
					hist.record(time.Since(t0))
					done.Add(1)
				case ctx.Err() == nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}
	wg.Wait()
	r := loopResult{Handshakes: int(done.Load()), Errors: int(failed.Load()), ElapsedNS: int64(time.Since(start)), Buckets: hist.sparse()}
	r.FirstError, _ = firstErr.Load().(string)
	return r
}

// handshake opens connection k as user bench-(k mod Users) with a token
// minted for it, waits for the welcome push and closes the connection.
func (d *dialer) handshake(ctx context.Context, k int) error {
	tok, err := d.mint("bench-" + strconv.Itoa(k%d.cfg.Users))
	if err != nil {
		return err
	}
	w := &welcomer{got: make(chan struct{}), done: make(chan struct{})}
	ws, err := d.dialToken(k, tok, w)
	if err != nil {
		return err
	}
	wait := time.NewTimer(replyTimeout)
	defer wait.Stop()
	select {
	case <-w.got:
	case <-w.done:
		err = errors.New("closed before the welcome")
	case <-wait.C:
		err = fmt.Errorf("no welcome within %s", replyTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	ws.WriteClose(1000, nil) // closes the socket too: the reader ends
	<-w.done
	return err
}

// welcomer is a handshake loop's connection: it waits for the welcome.
type welcomer struct {
	gws.BuiltinEventHandler
	once sync.Once
	got  chan struct{} // closed on the welcome
	done chan struct{} // closed when the reader ends
}

var welcomePrefix = []byte(`{"push":"welcome",`)

func (w *welcomer) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	if bytes.HasPrefix(msg.Bytes(), welcomePrefix) {
		w.once.Do(func() { close(w.got) })
	}
}

func (w *welcomer) OnClose(*gws.Conn, error) { close(w.done) }
