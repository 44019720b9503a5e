package redistest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// NodeTimeout is the Redis Cluster node timeout: a primary that does not
// answer for that long is failed over.
const NodeTimeout = DownAfter

// Cluster is a Redis Cluster of three primaries with one replica each.
// Create it with StartCluster.
type Cluster struct {
	// Addrs are every node's address, seeds for a cluster client.
	Addrs []string

	g group

	mu     sync.Mutex          // guards killed
	killed map[string][][2]int // the slot ranges each killed primary served
}

// StartCluster starts six nodes, joins them with
// `redis-cli --cluster create --cluster-replicas 1`, waits until every
// node reports cluster_state:ok and every replica has synced, and stops
// every process when t ends.
func StartCluster(t testing.TB, o Options) *Cluster {
	t.Helper()
	requireRedis(t, true)
	var c *Cluster
	startRetrying(t, func() (*group, error) {
		c = &Cluster{killed: make(map[string][][2]int)}
		return &c.g, c.start(t, o)
	})
	return c
}

func (c *Cluster) start(t testing.TB, o Options) error {
	const n = 6
	ports, err := freePorts(2 * n) // a client port and a cluster bus port per node
	if err != nil {
		return err
	}
	dir := t.TempDir() // before the Cleanup below, so removed after it ran
	t.Cleanup(func() { c.g.stopAll(t) })
	ctx, cancel := context.WithTimeout(t.Context(), startWithin)
	defer cancel()
	var nodes []*server
	for i := range n {
		conf := dataConf + masterAuth(o.Password) + fmt.Sprintf(
			"cluster-enabled yes\ncluster-port %s\ncluster-config-file nodes.conf\ncluster-node-timeout %d\ncluster-replica-validity-factor 0\n",
			ports[n+i], NodeTimeout.Milliseconds())
		srv, err := startServer(filepath.Join(dir, "node-"+ports[i]), ports[i], o.Password, conf)
		if err != nil {
			return err
		}
		c.g.add(srv)
		nodes = append(nodes, srv)
		c.Addrs = append(c.Addrs, srv.addr)
	}
	for _, srv := range nodes {
		if err := srv.ready(ctx); err != nil {
			return err
		}
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	cmd := exec.CommandContext(ctx, "redis-cli", append(args, "--cluster-replicas", "1", "--cluster-yes")...)
	if o.Password != "" {
		cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+o.Password)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	return c.waitOK(ctx, true)
}

// live returns the nodes still running.
func (c *Cluster) live() []*server {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	var out []*server
	for _, s := range c.g.servers {
		if !s.exited() {
			out = append(out, s)
		}
	}
	return out
}

// waitOK waits until every live node reports cluster_state:ok, each slot
// range that a killed primary served is served by a live primary in every
// node's view, and, if synced, every slot has a replica in every node's
// view and every replica's link is up.
func (c *Cluster) waitOK(ctx context.Context, synced bool) error {
	for _, s := range c.live() {
		err := poll(ctx, "cluster node "+s.addr+" ok", func(ctx context.Context) error {
			if s.exited() {
				return errExited
			}
			if err := c.nodeOK(ctx, s, synced); err != nil {
				return err
			}
			f, err := s.info(ctx, "replication")
			if err == nil && synced && f["role"] == "slave" && f["master_link_status"] != "up" {
				err = fmt.Errorf("replica link %q", f["master_link_status"])
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// nodeOK: s reports cluster_state:ok and sees the slots of killed
// primaries served by live ones; with replicas, a replica for each slot.
// (CLUSTER NODES, not CLUSTER SLOTS: the latter leaves out a replica until
// it has some replication offset, on an idle primary up to 10 s.)
func (c *Cluster) nodeOK(ctx context.Context, s *server, replicas bool) error {
	text, err := s.rdb.ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	if f := parseFields(text, ":"); f["cluster_state"] != "ok" || f["cluster_slots_ok"] != "16384" {
		return fmt.Errorf("cluster_state %q, cluster_slots_ok %q", f["cluster_state"], f["cluster_slots_ok"])
	}
	nodes, err := clusterNodes(ctx, s)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if replicas && len(n.ranges) > 0 && len(replicaAddrs(nodes, n.id)) == 0 {
			return fmt.Errorf("%s has no replica yet", n.addr)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for addr, gone := range c.killed {
		for _, r := range gone {
			owner := ownerOf(nodes, r[0])
			if n := c.g.find(owner); n == nil || owner == addr || n.exited() {
				return fmt.Errorf("slot %d (of %s) is served by %q", r[0], addr, owner)
			}
		}
	}
	return nil
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id, addr, flags, primaryID string
	ranges                     [][2]int // the slots it serves, first and last
}

func clusterNodes(ctx context.Context, s *server) ([]clusterNode, error) {
	text, err := s.rdb.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, err
	}
	var out []clusterNode
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		n := clusterNode{id: f[0], addr: addr, flags: f[2], primaryID: f[3]}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue // a slot being migrated
			}
			first, last, _ := strings.Cut(r, "-")
			a, errA := strconv.Atoi(first)
			b, errB := strconv.Atoi(cmp.Or(last, first))
			if errA != nil || errB != nil {
				return nil, fmt.Errorf("redistest: CLUSTER NODES slot range %q", r)
			}
			n.ranges = append(n.ranges, [2]int{a, b})
		}
		out = append(out, n)
	}
	return out, nil
}

// replicaAddrs returns the addresses of the replicas of the node with id
// that are not flagged as failing.
func replicaAddrs(nodes []clusterNode, id string) []string {
	var out []string
	for _, n := range nodes {
		if n.primaryID == id && strings.Contains(n.flags, "slave") && !strings.Contains(n.flags, "fail") {
			out = append(out, n.addr)
		}
	}
	return out
}

// ownerOf returns the address of the primary serving slot, "" if none.
func ownerOf(nodes []clusterNode, slot int) string {
	for _, n := range nodes {
		for _, r := range n.ranges {
			if r[0] <= slot && slot <= r[1] {
				return n.addr
			}
		}
	}
	return ""
}

// nodes returns the cluster's nodes as the first live node that answers
// sees them.
func (c *Cluster) nodes(ctx context.Context) ([]clusterNode, error) {
	var errs []error
	for _, s := range c.live() {
		nodes, err := clusterNodes(ctx, s)
		if err == nil {
			return nodes, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// PrimaryOf returns the address of the primary serving key's slot.
func (c *Cluster) PrimaryOf(t testing.TB, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startWithin)
	defer cancel()
	nodes, err := c.nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slot, err := c.live()[0].rdb.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	addr := ownerOf(nodes, int(slot))
	if addr == "" {
		t.Fatalf("redistest: no primary serves slot %d of %q", slot, key)
	}
	return addr
}

// replicasOf returns the live replicas of primary, as it sees them.
func (c *Cluster) replicasOf(ctx context.Context, primary *server) ([]*server, error) {
	nodes, err := clusterNodes(ctx, primary)
	if err != nil {
		return nil, err
	}
	var out []*server
	for _, n := range nodes {
		if strings.Contains(n.flags, "myself") {
			for _, addr := range replicaAddrs(nodes, n.id) {
				if r := c.g.find(addr); r != nil && !r.exited() {
					out = append(out, r)
				}
			}
		}
	}
	return out, nil
}

// HoldReplication makes primary's replicas miss every write it accepts
// from now on, as when a primary dies before its replication stream went
// out: it closes their links and refuses their SYNC and PSYNC (by ACL),
// so they cannot catch up. The primary is meant to be killed next.
func (c *Cluster) HoldReplication(t testing.TB, primary string) {
	t.Helper()
	p := c.g.find(primary)
	if p == nil || p.exited() {
		t.Fatalf("redistest: no live node %s", primary)
	}
	ctx, cancel := context.WithTimeout(t.Context(), startWithin)
	defer cancel()
	if replicas, err := c.replicasOf(ctx, p); err != nil || len(replicas) == 0 {
		t.Fatalf("redistest: replicas of %s: %v %v", primary, replicas, err)
	}
	holdReplication(t, p)
}

// KillPrimary kills the primary at addr with SIGKILL. The killed node
// stays down; each shard survives one such failover.
func (c *Cluster) KillPrimary(t testing.TB, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startWithin)
	defer cancel()
	nodes, err := c.nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var served [][2]int
	for _, n := range nodes {
		if n.addr == addr {
			served = n.ranges
		}
	}
	p := c.g.find(addr)
	if len(served) == 0 || p == nil || p.exited() {
		t.Fatalf("redistest: %s is not a live primary", addr)
	}
	c.mu.Lock()
	c.killed[addr] = served
	c.mu.Unlock()
	p.kill()
}

// WaitOK waits until every live node reports cluster_state:ok and sees
// the slots of every killed primary served by a live one; it fails t
// after FailoverWithin.
func (c *Cluster) WaitOK(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), FailoverWithin)
	defer cancel()
	if err := c.waitOK(ctx, false); err != nil {
		t.Fatal(err)
	}
}
