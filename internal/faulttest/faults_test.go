//go:build faults

package faulttest

import (
	"net/http"
	"syscall"
	"testing"
	"time"
)

// setup is a broker topology the faults run against.
type setup struct {
	name  string
	start func(t testing.TB) brokerServer
	// namedOnly: only the faults whose on names it run on it.
	namedOnly bool
}

var setups = []setup{
	{name: "redis", start: newRedis},
	{name: "nats", start: newNATS},
	{name: "redis-sentinel", start: newSentinel, namedOnly: true},
	{name: "redis-cluster", start: newRedisCluster, namedOnly: true},
}

// fault is one way of breaking the cluster. act breaks it, repairs it and
// returns when the fault ended; it adds its own checks (c.res.check) and
// what /readyz must answer meanwhile (c.expectReady, c.expectUnready).
type fault struct {
	name string
	on   []string // the setups it applies to; nil: every one
	// keepsHistory: the broker keeps every stored publication, so a
	// subscriber must recover everything and never be told of a gap.
	keepsHistory bool
	// keepsConnections: no node stops, so no WebSocket connection may
	// close and no subscription may be revoked.
	keepsConnections bool
	act              func(c *cluster) time.Time
}

// faults is the table the suite runs, for every setup it applies to.
var faults = []fault{
	{name: "broker-killed-with-data", keepsHistory: true, keepsConnections: true, act: brokerKilled(false)},
	{name: "broker-killed-empty", keepsConnections: true, act: brokerKilled(true)},
	{name: "broker-stalled", keepsHistory: true, keepsConnections: true, act: brokerStalled},
	{name: "pubsub-dropped", keepsHistory: true, keepsConnections: true, act: pubsubDropped},
	{name: "node-killed", keepsHistory: true, act: nodeKilled},
	{name: "rolling-restart", keepsHistory: true, act: rollingRestart},
	{name: "reload", keepsHistory: true, keepsConnections: true, act: reload},
	{name: "sentinel-failover", on: []string{"redis-sentinel"}, keepsConnections: true, act: primaryKilled},
	{name: "cluster-primary-lost", on: []string{"redis-cluster"}, keepsConnections: true, act: primaryKilled},
}

const (
	brokerDown    = 3 * time.Second  // a killed broker stays down this long
	stallFor      = 5 * time.Second  // SIGSTOP to SIGCONT: outlasts unreadyStalled
	nodeDown      = 2 * time.Second  // a killed node stays down this long
	shutdownBound = 15 * time.Second // SIGTERM to exit: the server waits 10s at most
	reloadWithin  = 5 * time.Second
)

func (f fault) appliesTo(setup setup) bool {
	if f.on == nil {
		return !setup.namedOnly
	}
	for _, s := range f.on {
		if s == setup.name {
			return true
		}
	}
	return false
}

// TestFaults runs every fault against every setup it applies to, one at a
// time (they share two cores and measure times).
func TestFaults(t *testing.T) {
	results.Lock()
	results.list = nil // -count=N: one table per run
	results.Unlock()
	for _, s := range setups {
		t.Run(s.name, func(t *testing.T) {
			for _, f := range faults {
				if f.appliesTo(s) {
					t.Run(f.name, func(t *testing.T) { runFault(t, s, f) })
				}
			}
		})
	}
	t.Logf("faults:\n%s", table())
}

func runFault(t *testing.T, s setup, f fault) {
	began := time.Now()
	c := newCluster(t, s.name, s.start(t))
	c.pub = startPublisher(c)
	hold(warmUp)
	if _, ok := c.serviceBack(began, serviceWithin); !ok {
		t.Fatalf("before the fault, no publication reached both probes within %v", serviceWithin)
	}
	ended := f.act(c)
	var ok bool
	if c.res.service, ok = c.serviceBack(ended, serviceWithin); !ok {
		c.res.service = -1
	}
	for i := range c.nodes {
		c.readyAgain(i, ended)
	}
	hold(tailFor)
	if err := c.pub.finish(); err != nil {
		c.res.check("publisher stopped", false, "%v", err)
	}
	c.res.behind = c.settle()
	c.readyz.close()
	c.stopSubscribers()
	c.judge()
	c.verdict(f)
	if f.keepsConnections {
		c.res.check("connections kept", c.res.reconnects == 0 && c.res.n.Unsubscribed == 0,
			"%d reconnects, %d subscriptions revoked", c.res.reconnects, c.res.n.Unsubscribed)
	}
	c.res.took = time.Since(began)
	results.Lock()
	results.list = append(results.list, c.res)
	results.Unlock()
	t.Logf("%s", c.res.summary())
	for _, ex := range c.res.examples {
		t.Logf("lost: %s", ex)
	}
	for _, ch := range c.res.checks {
		if !ch.ok {
			t.Errorf("%s: %s", ch.name, ch.detail)
		}
	}
}

// readyAgain checks that node i answers /readyz 200 within serviceWithin
// of from.
func (c *cluster) readyAgain(i int, from time.Time) {
	nd := c.nodes[i]
	var at time.Time
	ok := poll(serviceWithin, 20*time.Millisecond, func() bool {
		var seen bool
		at, seen = c.readyz.first(i, from, http.StatusOK)
		return seen
	})
	c.res.check("readyz back on "+nd.name, ok, "200 again %s after the fault ended", fmtDur(durIf(ok, at.Sub(from))))
}

func durIf(ok bool, d time.Duration) time.Duration {
	if !ok {
		return -1
	}
	return d
}

// brokerKilled: SIGKILL, down for brokerDown, then started again with its
// data or with an empty store (the channels must start new epochs).
func brokerKilled(empty bool) func(c *cluster) time.Time {
	return func(c *cluster) time.Time {
		t0 := time.Now()
		c.broker.signal(c.t, syscall.SIGKILL)
		hold(brokerDown)
		t1 := time.Now()
		for i := range c.nodes {
			c.expectUnready(i, t0, t1, unreadyKilled)
		}
		c.broker.start(c.t, empty)
		return time.Now()
	}
}

// brokerStalled: SIGSTOP, then SIGCONT after stallFor. Connections stay
// open; nothing answers.
func brokerStalled(c *cluster) time.Time {
	t0 := time.Now()
	c.broker.signal(c.t, syscall.SIGSTOP)
	hold(stallFor)
	t1 := time.Now()
	c.broker.signal(c.t, syscall.SIGCONT)
	for i := range c.nodes {
		c.expectUnready(i, t0, t1, unreadyStalled)
	}
	return time.Now()
}

// pubsubDropped: the broker closes the connections the nodes receive
// publications on; they reconnect by themselves.
func pubsubDropped(c *cluster) time.Time {
	c.broker.dropPubSub(c.t)
	return time.Now()
}

// nodeKilled: SIGKILL of node1; its subscribers reconnect to node2 and
// recover there. node1 starts again after nodeDown.
func nodeKilled(c *cluster) time.Time {
	var moving []*subscriber
	for _, s := range c.subscribersOn(0) {
		if !s.pinned { // a probe waits for its node
			moving = append(moving, s)
		}
	}
	t0 := time.Now()
	c.nodes[0].signal(c.t, syscall.SIGKILL)
	hold(nodeDown)
	t1 := time.Now()
	c.expectReady(1, t0, t1)
	moved, slowest := c.movedTo(moving, 1, t0)
	c.res.check("subscribers moved", moved == len(moving),
		"%d of %d subscribers of node1 reconnected to node2 within %v (the last after %s)",
		moved, len(moving), nodeDown, fmtDur(slowest))
	c.nodes[0].start(c.t)
	return time.Now()
}

// rollingRestart: SIGTERM to node1, started again once it exited, then
// the same for node2.
func rollingRestart(c *cluster) time.Time {
	for i := range c.nodes {
		c.terminate(i)
		c.nodes[i].start(c.t)
	}
	return time.Now()
}

// terminate sends SIGTERM to node i and checks the graceful shutdown:
// /readyz answers 503 before the node stops answering (so a load
// balancer stops sending clients first), every connection is closed with
// 1001, the process exits 0.
func (c *cluster) terminate(i int) {
	nd := c.nodes[i]
	on := c.subscribersOn(i)
	t0 := time.Now()
	nd.signal(c.t, syscall.SIGTERM)
	saw503, answered := false, 0
	poll(shutdownBound, 10*time.Millisecond, func() bool {
		st := nd.readyz(200 * time.Millisecond)
		if st != 0 {
			answered++
		}
		saw503 = saw503 || st == http.StatusServiceUnavailable
		return st == 0 || !nd.p.running()
	})
	code, err := nd.p.wait(shutdownBound)
	t1 := time.Now()
	c.res.check("readyz 503 after SIGTERM on "+nd.name, saw503,
		"%d /readyz answers after SIGTERM, none 503, before the node stopped answering", answered)
	c.res.check("exit 0 after SIGTERM on "+nd.name, err == nil && code == 0, "exit %d (%v) after %v",
		code, err, t1.Sub(t0).Round(10*time.Millisecond))
	ends := c.endings(on, i, t0)
	c.res.check("close 1001 on "+nd.name, ends["close 1001"] == len(on),
		"%d connections on %s at SIGTERM ended: %v", len(on), nd.name, ends)
	c.expectReady((i+1)%len(c.nodes), t0, t1)
}

// reload writes a changed, compatible configuration and sends SIGHUP to
// each node in turn.
func reload(c *cluster) time.Time {
	for _, nd := range c.nodes {
		before := nd.eventCount("config_reloaded")
		failed := nd.eventCount("config_reload_failed") + nd.eventCount("config_restart_needed")
		nd.writeConfig(c.t, nodeConfig(nd.port, c.broker.nodeYAML(c.prefix), true))
		t0 := time.Now()
		nd.signal(c.t, syscall.SIGHUP)
		ok := poll(reloadWithin, 20*time.Millisecond, func() bool { return nd.eventCount("config_reloaded") > before })
		bad := nd.eventCount("config_reload_failed") + nd.eventCount("config_restart_needed") - failed
		c.res.check("reloaded "+nd.name, ok && bad == 0, "config_reloaded logged: %v (within %v), failures logged: %d",
			ok, reloadWithin, bad)
		for i := range c.nodes {
			c.expectReady(i, t0, time.Now())
		}
	}
	return time.Now()
}

// subscribersOn lists the subscribers whose session is on node i.
func (c *cluster) subscribersOn(i int) []*subscriber {
	var on []*subscriber
	for _, s := range c.subs {
		s.mu.Lock()
		if s.node == i {
			on = append(on, s)
		}
		s.mu.Unlock()
	}
	return on
}

// movedTo counts the subscribers that had a session on node to started
// after t0, and the longest it took.
func (c *cluster) movedTo(subs []*subscriber, to int, t0 time.Time) (int, time.Duration) {
	moved, slowest := 0, time.Duration(0)
	for _, s := range subs {
		s.mu.Lock()
		for _, ss := range s.sessions {
			if ss.node == to && ss.start.After(t0) {
				moved++
				slowest = max(slowest, ss.start.Sub(t0))
				break
			}
		}
		s.mu.Unlock()
	}
	return moved, slowest
}

// endings counts how the sessions on node i that were open at t0 ended.
func (c *cluster) endings(subs []*subscriber, i int, t0 time.Time) map[string]int {
	ends := map[string]int{}
	for _, s := range subs {
		s.mu.Lock()
		how := "still open"
		for _, ss := range s.sessions {
			if ss.node == i && ss.start.Before(t0) && !ss.end.IsZero() && ss.end.After(t0) {
				how = ss.how
			}
		}
		s.mu.Unlock()
		ends[how]++
	}
	return ends
}
