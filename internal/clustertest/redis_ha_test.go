package clustertest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/internal/redistest"
)

// serviceWithin bounds how long after a Redis primary dies publishes must
// succeed again through the nodes: the failover (2 to 4 s with the
// timeouts redistest sets), then the nodes' clients finding the new
// primary.
const serviceWithin = 10 * time.Second

// TestRedisSentinelFailover: two nodes on Redis Sentinel deliver across
// nodes and recover with since; then the primary is killed under
// subscribers on both nodes and a publisher: publishes answer
// "unavailable" until a replica is promoted, then succeed again, and no
// subscriber gets an offset twice or loses a publication without seeing
// the gap or the new epoch.
func TestRedisSentinelFailover(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t, redistest.Options{})
	prefix := "rt" + randomID()
	brokerYAML := fmt.Sprintf("{type: redis, redis: {addrs: %s, master_name: %s, prefix: %s}}", yamlList(s.Addrs), s.MasterName, prefix)
	nodes := startNodes(t, 2, configYAML(brokerYAML, roomy))
	var old string
	testFailover(t, nodes, func() { old = s.KillPrimary(t) }, func() { s.WaitPromoted(t, old) })
}

// TestRedisClusterFailover: as TestRedisSentinelFailover, on Redis
// Cluster, killing the primary that holds the channel's keys.
func TestRedisClusterFailover(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, redistest.Options{})
	prefix := "rt" + randomID()
	brokerYAML := fmt.Sprintf("{type: redis, redis: {addrs: %s, cluster: true, prefix: %s}}", yamlList(c.Addrs), prefix)
	nodes := startNodes(t, 2, configYAML(brokerYAML, roomy))
	key := prefix + ":{" + failoverChannel + "}:top" // the channel's position
	testFailover(t, nodes, func() { c.KillPrimary(t, c.PrimaryOf(t, key)) }, func() { c.WaitOK(t) })
}

func yamlList(addrs []string) string {
	q := make([]string, len(addrs))
	for i, a := range addrs {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

const failoverChannel = "room:failover"

// testFailover runs the scenario on two nodes sharing a broker; kill
// kills the Redis primary holding the channel's keys, wait returns once
// the topology has failed over.
func testFailover(t *testing.T, nodes []*node, kill, wait func()) {
	const ch = failoverChannel
	subs := []*conn{dial(t, nodes[0], "sub1"), dial(t, nodes[1], "sub2")}
	for _, c := range subs {
		c.subscribe(ch, nil)
	}
	pub := dial(t, nodes[0], "pub")
	for i := 1; i <= 5; i++ {
		pub.publish(ch, i)
	}
	var before subscribeResult
	for i, c := range subs {
		got := c.waitPubs(5)
		checkPubs(t, "before the failover, on "+nodes[i].name, got, 1, 5, got[0].Epoch)
		before = subscribeResult{Offset: 5, Epoch: got[0].Epoch}
	}
	late := dial(t, nodes[1], "late")
	res := late.subscribe(ch, &subscribeResult{Offset: 2, Epoch: before.Epoch})
	if !res.Recovered || res.Offset != 5 {
		t.Fatalf("subscribe since 2 on %s: recovered %v at %d, want recovered at 5", nodes[1].name, res.Recovered, res.Offset)
	}
	checkPubs(t, "recovered across nodes", res.Publications, 3, 5, before.Epoch)

	killed := time.Now()
	kill()
	acked := publishThrough(t, pub, ch, 6, killed)
	wait()

	// Publish until both subscribers hear the channel again: a node's
	// pub/sub connection may come back after the first publishes.
	next := acked.next
	eventually(t, "both subscribers hear publications after the failover", func() bool {
		if off, ok := tryPublish(pub, ch, next); ok {
			acked.offsets[next] = off
		}
		next++
		for _, c := range subs {
			c.call("ping", nil, nil) // collects the pushes that came meanwhile
			if len(c.pubs) == 0 || dataN(t, c.pubs[len(c.pubs)-1]) < 6 {
				return false
			}
		}
		return true
	})
	var after publication
	for i, c := range subs {
		checkFailover(t, nodes[i].name, c.pubs, acked.offsets)
		after = c.pubs[len(c.pubs)-1]
		t.Logf("subscriber on %s received (epoch/offset=data): %s", nodes[i].name, describe(t, c.pubs))
	}
	if after.Epoch == before.Epoch {
		t.Logf("after the failover the channel went on in epoch %q", after.Epoch)
	} else {
		t.Logf("after the failover the channel started epoch %q at offset 1 (was %q)", after.Epoch, before.Epoch)
	}
	checkRecovery(t, dial(t, nodes[1], "again"), ch, before, after)
}

// acks is what a publisher was told: the offset of each publication, by
// the number in its data; how many publishes were refused; the next
// number to publish.
type acks struct {
	offsets map[int]uint64
	failed  int
	next    int
}

// publishThrough publishes {"n": from}, {"n": from+1}, ... on ch until one
// succeeds after the primary died at since, then two more; every refusal
// must be "unavailable". It fails t after serviceWithin.
func publishThrough(t *testing.T, pub *conn, ch string, from int, since time.Time) acks {
	t.Helper()
	a := acks{offsets: map[int]uint64{}}
	n := from
	var back time.Duration
	for ok := 0; ok < 3; n++ {
		if off, good := tryPublish(pub, ch, n); good {
			a.offsets[n] = off
			if ok++; ok == 1 {
				back = time.Since(since)
			}
			continue
		}
		a.failed++
		if time.Since(since) > serviceWithin {
			t.Fatalf("publishes still refused %v after the Redis primary died", serviceWithin)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("Redis primary killed: publishes succeeded again after %v (%d refused with unavailable before)",
		back.Round(time.Millisecond), a.failed)
	a.next = n
	return a
}

// tryPublish publishes {"n": n}; a refusal other than "unavailable" fails
// the test.
func tryPublish(pub *conn, ch string, n int) (uint64, bool) {
	pub.t.Helper()
	var res struct{ Offset uint64 }
	code := pub.tryCall("publish", map[string]any{"channel": ch, "data": map[string]int{"n": n}}, &res)
	switch code {
	case "":
		return res.Offset, true
	case "unavailable":
		return 0, false
	}
	pub.t.Fatalf("publish during the failover: error %q, want unavailable", code)
	return 0, false
}

func dataN(t *testing.T, p publication) int {
	t.Helper()
	var d struct{ N int }
	if err := json.Unmarshal(p.Data, &d); err != nil {
		t.Fatalf("publication data %s: %v", p.Data, err)
	}
	return d.N
}

// checkFailover fails unless what a subscriber received holds each
// (epoch, offset) once, in increasing order within an epoch, each at the
// offset its publisher was told; and unless every acknowledged
// publication it did not receive falls in a gap it can see: the offsets
// around it are not consecutive, or their epochs differ.
func checkFailover(t *testing.T, where string, got []publication, offsets map[int]uint64) {
	t.Helper()
	top := map[string]uint64{}
	at := map[int]int{} // data number -> index in got
	for i, p := range got {
		if p.Offset <= top[p.Epoch] {
			t.Fatalf("%s: offset %d of epoch %q after %d: %s", where, p.Offset, p.Epoch, top[p.Epoch], describe(t, got))
		}
		top[p.Epoch] = p.Offset
		n := dataN(t, p)
		at[n] = i
		if off, ok := offsets[n]; ok && off != p.Offset {
			t.Fatalf("%s: publication %d delivered at offset %d, its publisher was told %d: %s", where, n, p.Offset, off, describe(t, got))
		}
	}
	for n := range offsets {
		if _, ok := at[n]; ok {
			continue
		}
		prev, next := -1, -1
		for i, p := range got {
			if m := dataN(t, p); m < n {
				prev = i
			} else if next < 0 {
				next = i
			}
		}
		if prev < 0 || next < 0 {
			continue // before the first or after the last received: not ours to judge
		}
		if got[prev].Epoch == got[next].Epoch && got[next].Offset == got[prev].Offset+1 {
			t.Fatalf("%s: publication %d (offset %d) lost without a gap: %s", where, n, offsets[n], describe(t, got))
		}
	}
}

func describe(t *testing.T, got []publication) string {
	var b strings.Builder
	for _, p := range got {
		fmt.Fprintf(&b, "%s/%d=n%d ", p.Epoch, p.Offset, dataN(t, p))
	}
	return b.String()
}

// checkRecovery: a subscriber that was at before recovers on another node
// as the protocol says: from another epoch, recovered false with the
// current position; in the same epoch, exactly what followed.
func checkRecovery(t *testing.T, c *conn, ch string, before subscribeResult, after publication) {
	t.Helper()
	res := c.subscribe(ch, &before)
	switch {
	case after.Epoch != before.Epoch && (res.Recovered || res.Epoch != after.Epoch || res.Offset < after.Offset):
		t.Fatalf("subscribe since %d/%q after a new epoch: recovered %v at %d/%q, want not recovered at %d/%q or later",
			before.Offset, before.Epoch, res.Recovered, res.Offset, res.Epoch, after.Offset, after.Epoch)
	case after.Epoch == before.Epoch && (!res.Recovered || res.Offset < after.Offset):
		t.Fatalf("subscribe since %d in the same epoch: recovered %v at %d, want recovered up to %d", before.Offset, res.Recovered, res.Offset, after.Offset)
	}
}
