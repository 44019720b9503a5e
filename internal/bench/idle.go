package bench

import (
	"context"
	"fmt"
	"time"
)

// rssSettle is how often the server's memory is read while connections
// are held; two readings this far apart within 0.5% are stable.
var rssSettle = 3 * time.Second

// runIdle opens cfg.Conns idle subscribed connections (in cfg.Procs
// processes), holds them for cfg.Duration or until ctx ends, then closes
// them. The connections and their processes live on hard, which outlives
// ctx, so that an interrupted run still reports.
func runIdle(ctx, hard context.Context, cfg Options) (*IdleResult, error) {
	probe := serverProbe{cfg.ServerPID}
	rss0, rssOK := probe.rssKiB()
	cpu0, cpuOK := probe.cpu()
	start := time.Now()
	f, err := openFleet(hard, cfg)
	if err != nil {
		return nil, err
	}
	defer f.close()
	open := time.Since(start)
	r := &IdleResult{Opened: cfg.Conns, OpenS: seconds(open), ConnsPerS: perSecond(uint64(cfg.Conns), open)}
	if cpu := probe.since(cpu0, cpuOK); cpu > 0 {
		r.ServerCPUOpenMS, r.ServerCPUUSPerConn = ms(cpu), perUnitUS(cpu, uint64(cfg.Conns))
	}
	fmt.Fprintf(cfg.Log, "idle: %d connections open and subscribed in %s (%.0f/s)\n", cfg.Conns, open.Round(time.Millisecond), r.ConnsPerS)
	held := time.Now()
	rss1, stable := holdWatchingRSS(ctx, cfg.Duration, probe)
	r.HeldS = seconds(time.Since(held))
	if rssOK && rss1 > 0 {
		r.RSSBeforeKiB, r.RSSAfterKiB, r.RSSStable = rss0, rss1, stable
		r.KiBPerConn = float64(rss1-rss0) / float64(cfg.Conns)
	}
	results, err := f.collect(hard, 0)
	if err != nil {
		return nil, err
	}
	for _, g := range results {
		r.ClosedByServer += g.Closed
	}
	fmt.Fprintf(cfg.Log, "idle: held for %s; %d closed meanwhile by the server; server memory %.2f KiB per connection\n",
		time.Since(held).Round(time.Second), r.ClosedByServer, r.KiBPerConn)
	return r, nil
}

// holdWatchingRSS waits for hold or for ctx, reading the server's memory
// every rssSettle. It returns the first reading within 0.5% of the one
// before it, or the last reading if none was.
func holdWatchingRSS(ctx context.Context, hold time.Duration, probe serverProbe) (kib int64, stable bool) {
	end := time.NewTimer(hold)
	defer end.Stop()
	tick := time.NewTicker(rssSettle)
	defer tick.Stop()
	kib, _ = probe.rssKiB()
	for {
		select {
		case <-ctx.Done():
			return kib, stable
		case <-end.C:
			return kib, stable
		case <-tick.C:
		}
		if stable {
			continue
		}
		cur, ok := probe.rssKiB()
		if !ok {
			continue
		}
		diff := max(cur-kib, kib-cur)
		kib, stable = cur, diff*200 < cur
	}
}
