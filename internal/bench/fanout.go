package bench

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// fleet is the subscribers of a run: a group in this process, or the
// children of --procs.
type fleet struct {
	cfg   Options
	local *group
	procs children
}

// openFleet opens cfg.Conns subscribers and returns once every one has
// its subscribe reply.
func openFleet(ctx context.Context, cfg Options) (*fleet, error) {
	f := &fleet{cfg: cfg}
	var err error
	if cfg.Procs == 1 {
		f.local, err = openGroup(ctx, cfg)
	} else {
		f.procs, err = startChildren(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// collect waits until every subscriber has offset final (at most
// cfg.Drain) and returns, per process, what they saw since the previous
// collect.
func (f *fleet) collect(ctx context.Context, final uint64) ([]groupResult, error) {
	if f.local != nil {
		f.local.waitFinal(ctx, final, f.cfg.Drain)
		return []groupResult{f.local.delta(final)}, nil
	}
	out := make([]groupResult, len(f.procs))
	err := f.procs.round(strconv.FormatUint(final, 10), func(i int) any { return &out[i] })
	return out, err
}

// close closes every subscriber.
func (f *fleet) close() error {
	if f.local != nil {
		f.local.close()
		return nil
	}
	return f.procs.stop()
}

// runFanout holds cfg.Conns subscribers on one channel, publishes
// cfg.Rate publications a second of cfg.Size bytes for cfg.Duration, and
// measures every delivery.
func runFanout(ctx context.Context, cfg Options) (*StepResult, error) {
	f, pub, err := openFanout(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer f.close()
	defer pub.close()
	r, err := runStep(ctx, cfg, f, pub, cfg.Rate)
	if err != nil {
		return nil, err
	}
	r.summary(cfg.Log, "fanout")
	return &r, nil
}

// runRamp holds cfg.Conns subscribers on one channel and publishes at
// cfg.Rate, then cfg.RateStep more at each step, each step for
// cfg.Duration, up to cfg.RateMax. It stops after the first step that
// fails: a delivery lost, duplicated or skipped, a subscriber closed, a
// publication refused or unanswered, or a p99 latency over cfg.P99Limit.
func runRamp(ctx context.Context, cfg Options) (*RampResult, error) {
	f, pub, err := openFanout(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer f.close()
	defer pub.close()
	out := &RampResult{Steps: []StepResult{}}
	for rate := cfg.Rate; rate <= cfg.RateMax; rate += cfg.RateStep {
		r, err := runStep(ctx, cfg, f, pub, rate)
		if err != nil {
			return nil, err
		}
		r.Failed = stepFailure(r, cfg.P99Limit)
		out.Steps = append(out.Steps, r)
		r.summary(cfg.Log, "ramp")
		if r.Failed != "" {
			fmt.Fprintf(cfg.Log, "ramp: the step at %d/s failed: %s\n", rate, r.Failed)
			break
		}
		best := r
		out.Best = &best
	}
	return out, nil
}

// stepFailure says why a ramp's step failed, or "" if it passed.
func stepFailure(r StepResult, p99Limit time.Duration) string {
	switch {
	case r.Lost > 0 || r.Gaps > 0 || r.Duplicates > 0:
		return fmt.Sprintf("%d lost, %d skipped, %d duplicated", r.Lost, r.Gaps, r.Duplicates)
	case r.Closed > 0:
		return fmt.Sprintf("%d subscribers closed by the server", r.Closed)
	case r.Refused > 0 || r.Unanswered > 0:
		return fmt.Sprintf("%d publications refused, %d unanswered", r.Refused, r.Unanswered)
	case r.P99MS*float64(time.Millisecond) > float64(p99Limit):
		return fmt.Sprintf("p99 %gms over the limit of %s", r.P99MS, p99Limit)
	}
	return ""
}

// openFanout opens the subscribers, then the publisher.
func openFanout(ctx context.Context, cfg Options) (*fleet, *publisher, error) {
	start := time.Now()
	f, err := openFleet(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	pub, err := openPublisher(cfg)
	if err != nil {
		f.close()
		return nil, nil, err
	}
	fmt.Fprintf(cfg.Log, "%s: %d subscribers ready in %s; publishing\n", cfg.Mode, cfg.Conns, time.Since(start).Round(time.Millisecond))
	return f, pub, nil
}

// runStep publishes at rate for cfg.Duration, waits for the deliveries
// and measures them, with the server's CPU time over the step.
func runStep(ctx context.Context, cfg Options, f *fleet, pub *publisher, rate int) (StepResult, error) {
	probe := serverProbe{cfg.ServerPID}
	cpu0, ok := probe.cpu()
	ps, err := pub.step(ctx, rate, cfg.Duration, max(replyTimeout, cfg.Drain))
	if err != nil {
		return StepResult{}, err
	}
	results, err := f.collect(ctx, ps.final)
	if err != nil {
		return StepResult{}, err
	}
	r := stepOf(rate, cfg.Conns, ps, results)
	r.withCPU(probe.since(cpu0, ok))
	return r, nil
}

// publisher is the connection that publishes; it counts the replies.
type publisher struct {
	gws.BuiltinEventHandler
	ws        *gws.Conn
	body, pad string // a publish frame is {"id":N, body, the send time, pad
	next      int    // the next command id
	ok        atomic.Int64
	failed    atomic.Int64
	maxOffset atomic.Uint64
	errText   atomic.Value // string: the first error reply
}

// pubStep is what the publisher did in one step.
type pubStep struct {
	start    time.Time
	sent     int
	ok       int
	failed   int
	final    uint64 // the highest offset the server gave so far
	firstErr string
}

// openPublisher connects the publisher, as user bench-publisher from the
// connection number after the subscribers'.
func openPublisher(cfg Options) (*publisher, error) {
	p := &publisher{next: 2,
		body: `,"action":"publish","channel":` + strconv.Quote(cfg.Channel) + `,"data":{"t":`,
		pad:  `,"p":"` + strings.Repeat("x", cfg.Size-len(`{"t":0000000000000000000,"p":""}`)) + `"}}`}
	pc := cfg
	pc.Conns, pc.First = 1, cfg.First+cfg.Conns
	ws, err := newDialer(pc).dial(pc.First, "bench-publisher", p)
	if err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	p.ws = ws
	return p, nil
}

func (p *publisher) close() { closeAll([]*gws.Conn{p.ws}) }

func (p *publisher) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	b := msg.Bytes()
	if !bytes.HasPrefix(b, []byte(`{"id":`)) {
		return
	}
	off, ok := scanUint(b, `"offset":`)
	if !ok || !bytes.Contains(b, []byte(`"result"`)) {
		p.failed.Add(1)
		p.errText.CompareAndSwap(nil, string(b))
		return
	}
	p.ok.Add(1)
	for cur := p.maxOffset.Load(); off > cur && !p.maxOffset.CompareAndSwap(cur, off); cur = p.maxOffset.Load() {
	}
}

// step sends rate*d publications at an even pace over d, each carrying
// its send time in data.t, then waits for their replies, at most wait.
func (p *publisher) step(ctx context.Context, rate int, d, wait time.Duration) (pubStep, error) {
	ok0, failed0 := p.ok.Load(), p.failed.Load()
	total := max(1, int(float64(rate)*d.Seconds()))
	tick := time.NewTicker(max(time.Second/time.Duration(rate), time.Millisecond))
	defer tick.Stop()
	s := pubStep{start: time.Now(), sent: total}
	for sent := 0; sent < total; {
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-tick.C:
		}
		// Publication i goes at (i+1)/rate: the last at d, so that the
		// deliveries over the time from s.start are the rate asked for.
		due := min(total, int(time.Since(s.start).Seconds()*float64(rate)))
		for ; sent < due; sent++ {
			frame := fmt.Sprintf(`{"id":%d%s%019d%s`, p.next, p.body, time.Now().UnixNano(), p.pad)
			p.next++
			if err := p.ws.WriteMessage(gws.OpcodeText, []byte(frame)); err != nil {
				return s, fmt.Errorf("publisher: %w", err)
			}
		}
	}
	answered := func() int64 { return p.ok.Load() - ok0 + p.failed.Load() - failed0 }
	for deadline := time.Now().Add(wait); answered() < int64(total) && time.Now().Before(deadline); {
		if ctx.Err() != nil {
			return s, ctx.Err()
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.ok, s.failed = int(p.ok.Load()-ok0), int(p.failed.Load()-failed0)
	s.final = p.maxOffset.Load()
	s.firstErr, _ = p.errText.Load().(string)
	return s, nil
}
