//go:build faults

package faulttest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

const (
	nodeCount     = 2
	subscribers   = 200 // plus one probe per node
	channelCount  = 8
	connectWithin = 30 * time.Second        // every subscriber live at the start
	warmUp        = time.Second             // publishing before the fault
	tailFor       = 1500 * time.Millisecond // publishing after service is back
	settleWithin  = 10 * time.Second        // for subscribers to reach the last publication once publishing stops
	stopWithin    = 10 * time.Second        // for subscribers to stop
	runWithin     = 2 * time.Minute         // bounds every subscriber's life
)

// The bounds the suite holds the server to.
const (
	// serviceWithin: after a fault ends, a publish succeeds and reaches a
	// subscriber on each node within this.
	serviceWithin = 10 * time.Second
	// A node's /readyz answers 503 within these of its broker going away,
	// and until it is back. The node asks its broker at most once a
	// second, each ask bounded by 2s (docs/operations.md): a killed broker
	// refuses at once, so the cached answer's second and some; a stalled
	// one answers nothing, so that second, the 2s bound, and some.
	unreadyKilled  = 2 * time.Second
	unreadyStalled = 4 * time.Second
)

// cluster is one fault's world: a broker process, two nodes on it, the
// publisher, the subscribers (spread over the nodes, each on one channel)
// and one probe per node (pinned to it, on every channel).
type cluster struct {
	t        *testing.T
	setup    string
	broker   brokerServer
	prefix   string
	nodes    []*node
	channels []string
	ledger   *ledger
	epochs   *epochs
	subs     []*subscriber // probes included
	probes   []*subscriber
	readyz   *readyzWatch
	pub      *publisher
	stopSubs context.CancelFunc
	subsWG   sync.WaitGroup
	res      *result
	expects  []readyzExpect
}

// readyzExpect is what a node's /readyz must answer over a window.
type readyzExpect struct {
	node     int
	from, to time.Time
	ready    bool          // 200 throughout; else 503 from within after from until to
	within   time.Duration // for 503
}

func newCluster(t *testing.T, setup string, broker brokerServer) *cluster {
	c := &cluster{t: t, setup: setup, broker: broker, prefix: "ft" + randomID(),
		ledger: &ledger{}, epochs: newEpochs(), res: &result{name: t.Name()}}
	for i := range nodeCount {
		c.nodes = append(c.nodes, newNode(t, fmt.Sprintf("node%d", i+1), broker.nodeYAML(c.prefix)))
	}
	for i := range channelCount {
		c.channels = append(c.channels, fmt.Sprintf("room:%s-%d", c.prefix, i))
	}
	for i := range subscribers {
		ch := c.channels[(i/nodeCount)%channelCount] // each channel has subscribers on every node
		c.subs = append(c.subs, newSubscriber(c, fmt.Sprintf("sub-%03d", i), i%nodeCount, false, []string{ch}))
	}
	for i := range c.nodes {
		p := newSubscriber(c, fmt.Sprintf("probe-%d", i+1), i, true, c.channels)
		c.probes = append(c.probes, p)
		c.subs = append(c.subs, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), runWithin)
	c.stopSubs = cancel
	t.Cleanup(c.stopSubscribers)
	for _, s := range c.subs {
		c.subsWG.Add(1)
		go func() { defer c.subsWG.Done(); s.run(ctx) }()
	}
	start := time.Now()
	if !poll(connectWithin, 20*time.Millisecond, c.allLive) {
		t.Fatalf("subscribers not all subscribed within %v", connectWithin)
	}
	t.Logf("%d subscribers and %d probes subscribed in %v", subscribers, len(c.probes), time.Since(start).Round(time.Millisecond))
	c.readyz = watchReadyz(c.nodes)
	t.Cleanup(c.readyz.close)
	return c
}

func (c *cluster) allLive() bool {
	for _, s := range c.subs {
		if !s.isLive() {
			return false
		}
	}
	return true
}

// stopSubscribers ends every subscriber and waits for them (bounded).
func (c *cluster) stopSubscribers() {
	c.stopSubs()
	done := make(chan struct{})
	go func() { c.subsWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(stopWithin):
		c.t.Errorf("subscribers still running %v after being stopped", stopWithin)
	}
}

// hold lets a fault last: a duration, not a synchronisation.
func hold(d time.Duration) { time.Sleep(d) }

// expectReady and expectUnready add what /readyz must answer.
func (c *cluster) expectReady(node int, from, to time.Time) {
	c.expects = append(c.expects, readyzExpect{node: node, from: from, to: to, ready: true})
}

func (c *cluster) expectUnready(node int, from, to time.Time, within time.Duration) {
	c.expects = append(c.expects, readyzExpect{node: node, from: from, to: to, within: within})
}

// serviceBack measures, from from on, how long until a publication sent
// after from is acknowledged and delivered to the probe of every node.
func (c *cluster) serviceBack(from time.Time, within time.Duration) (time.Duration, bool) {
	return c.serviceBackOn(from, within, nil)
}

// serviceBackOn is serviceBack counting only the publications to
// channels (nil: any channel).
func (c *cluster) serviceBackOn(from time.Time, within time.Duration, channels map[string]bool) (time.Duration, bool) {
	var took time.Duration
	ok := poll(within, 20*time.Millisecond, func() bool {
		best := time.Duration(-1)
		for _, r := range c.ledger.snapshot() {
			if r.outcome != acked || r.sent.Before(from) || (channels != nil && !channels[r.channel]) {
				continue
			}
			if at, ok := c.reachedProbes(r); ok && (best < 0 || at.Sub(from) < best) {
				best = at.Sub(from)
			}
		}
		took = best
		return best >= 0
	})
	return took, ok
}

// reachedProbes reports when r had reached every probe, if it had.
func (c *cluster) reachedProbes(r record) (time.Time, bool) {
	var last time.Time
	for _, p := range c.probes {
		at, ok := p.deliveredAt(r.channel, r.n)
		if !ok {
			return time.Time{}, false
		}
		if at.After(last) {
			last = at
		}
	}
	return last, true
}

// lastAcked is, per channel, the latest acknowledged position.
func (c *cluster) lastAcked() map[string]position {
	last := map[string]position{}
	for _, r := range c.ledger.snapshot() {
		if r.outcome != acked {
			continue
		}
		if p, ok := last[r.channel]; !ok || c.epochs.cmp(r.pos, p) > 0 {
			last[r.channel] = r.pos
		}
	}
	return last
}

// settle waits until every subscription has reached its channel's last
// acknowledged publication; it returns how many have not.
func (c *cluster) settle() int {
	last := c.lastAcked()
	behind := 0
	poll(settleWithin, 50*time.Millisecond, func() bool {
		behind = 0
		for _, s := range c.subs {
			s.mu.Lock()
			for ch, cs := range s.chans {
				if p, ok := last[ch]; ok && c.epochs.cmp(cs.pos, p) < 0 {
					behind++
				}
			}
			s.mu.Unlock()
		}
		return behind == 0
	})
	return behind
}
