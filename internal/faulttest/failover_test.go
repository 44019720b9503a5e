//go:build faults

package faulttest

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/internal/redistest"
)

// primaryLoser is a replicated broker topology that can lose a primary
// and fail over by itself. Its other faults (restarting, stalling,
// dropping connections) are not the suite's on it: only the faults that
// name its setup run there.
type primaryLoser interface {
	// killPrimary kills with SIGKILL the primary holding the keys of
	// channels (under prefix) and returns the channels it held.
	killPrimary(t testing.TB, prefix string, channels []string) map[string]bool
	// waitFailedOver returns once a replica serves in its place.
	waitFailedOver(t testing.TB)
}

// sentinelBroker is Redis Sentinel: a primary, a replica, three sentinels
// (redistest.StartSentinel); the nodes find the primary by master_name.
type sentinelBroker struct {
	notRestartable
	s   *redistest.Sentinel
	old string
}

func newSentinel(t testing.TB) brokerServer {
	return &sentinelBroker{s: redistest.StartSentinel(t, redistest.Options{})}
}

func (b *sentinelBroker) nodeYAML(prefix string) string {
	return fmt.Sprintf("{type: redis, redis: {addrs: %s, master_name: %s, prefix: %s}}", yamlList(b.s.Addrs), b.s.MasterName, prefix)
}

// killPrimary: the one primary holds every channel.
func (b *sentinelBroker) killPrimary(t testing.TB, _ string, channels []string) map[string]bool {
	b.old = b.s.KillPrimary(t)
	held := map[string]bool{}
	for _, ch := range channels {
		held[ch] = true
	}
	return held
}

func (b *sentinelBroker) waitFailedOver(t testing.TB) { b.s.WaitPromoted(t, b.old) }

// clusterBroker is Redis Cluster: three primaries with a replica each
// (redistest.StartCluster); the nodes connect with cluster: true.
type clusterBroker struct {
	notRestartable
	c *redistest.Cluster
}

func newRedisCluster(t testing.TB) brokerServer {
	return &clusterBroker{c: redistest.StartCluster(t, redistest.Options{})}
}

func (b *clusterBroker) nodeYAML(prefix string) string {
	return fmt.Sprintf("{type: redis, redis: {addrs: %s, cluster: true, prefix: %s}}", yamlList(b.c.Addrs), prefix)
}

// killPrimary kills the primary serving the first channel's slot; the
// channels whose slots it also serves are lost with it.
func (b *clusterBroker) killPrimary(t testing.TB, prefix string, channels []string) map[string]bool {
	key := func(ch string) string { return prefix + ":{" + ch + "}:top" } // a channel's position
	primary := b.c.PrimaryOf(t, key(channels[0]))
	held := map[string]bool{}
	for _, ch := range channels {
		if b.c.PrimaryOf(t, key(ch)) == primary {
			held[ch] = true
		}
	}
	b.c.KillPrimary(t, primary)
	return held
}

func (b *clusterBroker) waitFailedOver(t testing.TB) { b.c.WaitOK(t) }

// notRestartable is the part of brokerServer a replicated topology does
// not offer to the suite.
type notRestartable struct{}

func (notRestartable) start(t testing.TB, _ bool) {
	t.Helper()
	t.Fatal("a replicated topology is not restarted by the suite")
}

func (notRestartable) signal(t testing.TB, _ syscall.Signal) {
	t.Helper()
	t.Fatal("a replicated topology is not signalled by the suite")
}

func (notRestartable) dropPubSub(t testing.TB) {
	t.Helper()
	t.Fatal("a replicated topology's connections are not dropped by the suite")
}

func yamlList(addrs []string) string {
	q := make([]string, len(addrs))
	for i, a := range addrs {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// primaryKilled: SIGKILL to the primary holding the channels (Sentinel:
// the primary; Cluster: the one serving the first channel's slot), which
// stays down; the fault ends once a replica serves in its place. The
// replica may lack the primary's last writes, so the broker starts new
// epochs: subscribers are told, not owed. Besides service after the
// promotion, it checks service on the lost primary's channels from the
// kill on, within serviceWithin.
func primaryKilled(c *cluster) time.Time {
	b, ok := c.broker.(primaryLoser)
	if !ok {
		c.t.Fatalf("setup %s cannot lose a primary", c.setup)
	}
	held := b.killPrimary(c.t, c.prefix, c.channels)
	t0 := time.Now() // the primary has exited: what is acknowledged from now on, its replica stored
	b.waitFailedOver(c.t)
	t1 := time.Now()
	took, ok := c.serviceBackOn(t0, serviceWithin, held)
	ok = ok && took <= serviceWithin
	c.res.check("service back after the kill", ok,
		"a publish to the lost primary's channels reached both probes %s after the kill (promoted after %s; bound %v)",
		fmtDur(durIf(ok, took)), fmtDur(t1.Sub(t0)), serviceWithin)
	c.res.failover = fmt.Sprintf("primary of %d/%d channels killed: failed over after %s, service back %s after the kill",
		len(held), len(c.channels), fmtDur(t1.Sub(t0)), fmtDur(durIf(ok, took)))
	return t1
}
