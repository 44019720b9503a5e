//go:build faults

package faulttest

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// result is one fault's numbers, summed over every subscription.
type result struct {
	name                 string
	acked, maybe, failed int
	subscriptions        int
	lost, told, mismatch int
	lostSubs             int // subscriptions with a loss
	behind               int // subscriptions that never reached the last publication
	reconnects           int // sessions after the first, over every subscriber
	n                    counts
	service              time.Duration // fault end to service back; -1: not within serviceWithin
	failover             string        // a primary's loss: kill to promotion, kill to service back
	unready              []string      // per node, how long until /readyz first answered 503
	took                 time.Duration
	checks               []check
	examples             []string // the first losses, to start debugging from
}

type check struct {
	name   string
	ok     bool
	detail string
}

func (r *result) check(name string, ok bool, format string, args ...any) {
	r.checks = append(r.checks, check{name: name, ok: ok, detail: fmt.Sprintf(format, args...)})
}

// judge goes over every subscription: each publication acknowledged after
// the subscription's start is delivered, or inside a gap the server told
// about, or lost.
func (c *cluster) judge() {
	recs := c.ledger.snapshot()
	byChannel := map[string][]record{}
	for _, r := range recs {
		switch r.outcome {
		case acked:
			c.res.acked++
			byChannel[r.channel] = append(byChannel[r.channel], r)
		case maybe:
			c.res.maybe++
		default:
			c.res.failed++
		}
	}
	for _, s := range c.subs {
		s.mu.Lock()
		c.res.reconnects += len(s.sessions) - 1
		for _, cs := range s.chans {
			c.judgeSubscription(s.name, cs, byChannel[cs.channel])
		}
		s.mu.Unlock()
	}
}

func (c *cluster) judgeSubscription(who string, cs *chanState, recs []record) {
	r := c.res
	r.subscriptions++
	addCounts(&r.n, cs.n)
	lost := 0
	wrong := map[position]bool{}
	for _, rec := range recs {
		if c.epochs.cmp(rec.pos, cs.start) <= 0 {
			continue // before the subscription began
		}
		n, ok := cs.delivered[rec.pos]
		switch {
		case ok && n != rec.n:
			wrong[rec.pos] = true
		case ok:
		case c.covered(cs.told, rec.pos):
			r.told++
		default:
			lost++
			if len(r.examples) < 5 {
				r.examples = append(r.examples, fmt.Sprintf("%s %s offset %d epoch %s (n=%d, acked %s)",
					who, cs.channel, rec.pos.Offset, rec.pos.Epoch, rec.n, rec.answered.Format("15:04:05.000")))
			}
		}
	}
	// A delivered publication must be the one published there.
	for pos, n := range cs.delivered {
		if rec, ok := c.ledger.get(n); !ok || (rec.outcome == acked && rec.pos != pos) {
			wrong[pos] = true
		}
	}
	r.mismatch += len(wrong)
	r.lost += lost
	if lost > 0 {
		r.lostSubs++
	}
}

func (c *cluster) covered(told []span, p position) bool {
	for _, s := range told {
		if c.epochs.cmp(s.from, p) < 0 && c.epochs.cmp(p, s.to) <= 0 {
			return true
		}
	}
	return false
}

func addCounts(a *counts, b counts) {
	a.Dup += b.Dup
	a.OutOfOrder += b.OutOfOrder
	a.BadRecovery += b.BadRecovery
	a.Gaps += b.Gaps
	a.RecoveredTrue += b.RecoveredTrue
	a.RecoveredFalse += b.RecoveredFalse
	a.NewEpochs += b.NewEpochs
	a.Stray += b.Stray
	a.Unsubscribed += b.Unsubscribed
}

// verdict adds the checks every fault shares.
func (c *cluster) verdict(f fault) {
	r := c.res
	r.check("no loss", r.lost == 0 && r.behind == 0,
		"%d acknowledged publications missing without the subscriber being told, in %d subscriptions; %d subscriptions never reached the last publication",
		r.lost, r.lostSubs, r.behind)
	r.check("no duplicate", r.n.Dup == 0, "%d publications received twice", r.n.Dup)
	r.check("in order", r.n.OutOfOrder == 0, "%d publications out of order", r.n.OutOfOrder)
	r.check("right data", r.mismatch == 0, "%d publications delivered at a position the publisher was not given", r.mismatch)
	r.check("exact recovery", r.n.BadRecovery == 0, "%d replies recovered: true that were not exactly the missed publications", r.n.BadRecovery)
	if f.keepsHistory {
		r.check("not told", r.told == 0 && r.n.RecoveredFalse == 0 && r.n.NewEpochs == 0,
			"the broker kept its data, yet %d publications were only told about (%d recovered: false, %d new epochs)",
			r.told, r.n.RecoveredFalse, r.n.NewEpochs)
	}
	r.check("service back", r.service >= 0, "a publish reached both nodes' probes %s after the fault ended (bound %v)",
		fmtDur(r.service), serviceWithin)
	for _, e := range c.expects {
		c.checkReadyz(e)
	}
}

func (c *cluster) checkReadyz(e readyzExpect) {
	name := c.nodes[e.node].name
	if e.ready {
		got := c.readyz.between(e.node, e.from, e.to)
		bad := notStatus(got, http.StatusOK)
		c.res.check("readyz 200 on "+name, len(bad) == 0, "%d of %d answers in the %v window were not 200: %s",
			len(bad), len(got), e.to.Sub(e.from).Round(100*time.Millisecond), statuses(bad))
		return
	}
	// Unready: the first 503 within e.within, and from then until the
	// broker is back no 200 (a probe that got no answer in time is not
	// one: a load balancer counts it as failed too).
	first, seen := c.readyz.first(e.node, e.from, http.StatusServiceUnavailable)
	seen = seen && !first.After(e.from.Add(e.within))
	var bad []sample
	for _, s := range c.readyz.between(e.node, e.from.Add(e.within), e.to) {
		if s.status != http.StatusServiceUnavailable && s.status != 0 {
			bad = append(bad, s)
		}
	}
	detail := fmt.Sprintf("no 503 within %v", e.within)
	if seen {
		took := first.Sub(e.from).Round(10 * time.Millisecond)
		detail = fmt.Sprintf("first 503 after %v", took)
		c.res.unready = append(c.res.unready, fmt.Sprintf("%s %v", name, took))
	}
	c.res.check("readyz 503 on "+name, seen && len(bad) == 0,
		"broker gone for %v: %s; %d answers from %v on were neither 503 nor late: %s",
		e.to.Sub(e.from).Round(100*time.Millisecond), detail, len(bad), e.within, statuses(bad))
}

func notStatus(samples []sample, status int) []sample {
	var out []sample
	for _, s := range samples {
		if s.status != status {
			out = append(out, s)
		}
	}
	return out
}

// statuses counts samples by status ("none": no answer within readyzTimeout).
func statuses(samples []sample) string {
	n := map[string]int{}
	for _, s := range samples {
		k := "none"
		if s.status != 0 {
			k = fmt.Sprint(s.status)
		}
		n[k]++
	}
	return fmt.Sprint(n)
}

func fmtDur(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return d.Round(time.Millisecond).String()
}

// summary is one line of numbers for the fault.
func (r *result) summary() string {
	return fmt.Sprintf("publishes acked %d maybe %d failed %d | %d subscriptions: lost %d (in %d), told %d, dup %d, out-of-order %d, "+
		"wrong data %d, bad recovery %d, behind %d | gaps %d, recovered true/false %d/%d, new epochs %d, reconnects %d | service back %s%s",
		r.acked, r.maybe, r.failed, r.subscriptions, r.lost, r.lostSubs, r.told, r.n.Dup, r.n.OutOfOrder,
		r.mismatch, r.n.BadRecovery, r.behind, r.n.Gaps, r.n.RecoveredTrue, r.n.RecoveredFalse, r.n.NewEpochs,
		r.reconnects, fmtDur(r.service), r.readyzSummary()) + r.failoverSummary()
}

func (r *result) failoverSummary() string {
	if r.failover == "" {
		return ""
	}
	return " | " + r.failover
}

func (r *result) readyzSummary() string {
	if len(r.unready) == 0 {
		return ""
	}
	return " | readyz 503 after: " + strings.Join(r.unready, ", ")
}

// results collects every fault's result for the table printed at the end.
var results struct {
	sync.Mutex
	list []*result
}

func table() string {
	results.Lock()
	defer results.Unlock()
	list := append([]*result(nil), results.list...)
	sort.SliceStable(list, func(i, j int) bool { return list[i].name < list[j].name })
	var b strings.Builder
	for _, r := range list {
		var failed []string
		for _, ch := range r.checks {
			if !ch.ok {
				failed = append(failed, ch.name)
			}
		}
		verdict := "PASS"
		if len(failed) > 0 {
			verdict = "FAIL (" + strings.Join(failed, ", ") + ")"
		}
		fmt.Fprintf(&b, "%s [%v] %s\n    %s\n", r.name, r.took.Round(100*time.Millisecond), verdict, r.summary())
	}
	return b.String()
}
