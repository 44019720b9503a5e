package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Failover timing given to the sentinels: a primary that does not answer
// for DownAfter is down; a failover that stalls is retried after twice
// failoverTimeout.
const (
	DownAfter       = time.Second
	failoverTimeout = 2 * time.Second
)

// dataConf is the configuration of every data node: no persistence, and
// a replica's first sync without waiting for more replicas.
const dataConf = "save \"\"\nappendonly no\nrepl-diskless-sync yes\nrepl-diskless-sync-delay 0\n"

// Sentinel is a primary, a replica and three sentinels monitoring them
// under MasterName (quorum 2). Create it with StartSentinel.
type Sentinel struct {
	// MasterName is the name the sentinels monitor the primary under.
	MasterName string
	// Addrs are the sentinels' addresses (host:port).
	Addrs []string

	o         Options
	g         group
	sentinels []*server

	mu   sync.Mutex // guards data
	data []*server  // the primary and the replicas, dead or alive
}

// StartSentinel starts the topology, waits until the replica has synced
// and every sentinel knows the primary, the replica and the two other
// sentinels, and stops every process when t ends.
func StartSentinel(t testing.TB, o Options) *Sentinel {
	t.Helper()
	requireRedis(t, false)
	var s *Sentinel
	startRetrying(t, func() (*group, error) {
		s = &Sentinel{MasterName: "rampart", o: o}
		return &s.g, s.start(t)
	})
	return s
}

func (s *Sentinel) start(t testing.TB) error {
	ports, err := freePorts(5)
	if err != nil {
		return err
	}
	dir := t.TempDir() // before the Cleanup below, so removed after it ran
	t.Cleanup(func() { s.g.stopAll(t) })
	ctx, cancel := context.WithTimeout(t.Context(), startWithin)
	defer cancel()
	if err := s.startData(ctx, dir, ports[0], ports[1]); err != nil {
		return err
	}
	return s.startSentinels(ctx, dir, ports[0], ports[1], ports[2:])
}

func (s *Sentinel) startData(ctx context.Context, dir, primaryPort, replicaPort string) error {
	for i, port := range []string{primaryPort, replicaPort} {
		conf := dataConf + masterAuth(s.o.Password)
		if i == 1 {
			conf += "replicaof 127.0.0.1 " + primaryPort + "\n"
		}
		srv, err := startServer(filepath.Join(dir, "data-"+port), port, s.o.Password, conf)
		if err != nil {
			return err
		}
		s.g.add(srv)
		s.data = append(s.data, srv)
	}
	for _, srv := range s.data {
		if err := srv.ready(ctx); err != nil {
			return err
		}
	}
	return waitSynced(ctx, s.data[1])
}

// masterAuth is the configuration a replica needs to authenticate to its
// primary.
func masterAuth(password string) string {
	if password == "" {
		return ""
	}
	return fmt.Sprintf("masterauth %q\n", password)
}

// waitSynced waits until replica reports its link to the primary up.
func waitSynced(ctx context.Context, replica *server) error {
	return poll(ctx, "replica "+replica.addr+" in sync", func(ctx context.Context) error {
		if replica.exited() {
			return errExited
		}
		f, err := replica.info(ctx, "replication")
		if err == nil && f["master_link_status"] != "up" {
			err = fmt.Errorf("master_link_status %q", f["master_link_status"])
		}
		return err
	})
}

func (s *Sentinel) startSentinels(ctx context.Context, dir, primaryPort, replicaPort string, ports []string) error {
	ids := make([]string, len(ports))
	for i := range ids {
		var b [20]byte
		_, _ = rand.Read(b[:])
		ids[i] = hex.EncodeToString(b[:])
	}
	for i, port := range ports {
		var conf strings.Builder
		fmt.Fprintf(&conf, "sentinel myid %s\n", ids[i])
		fmt.Fprintf(&conf, "sentinel monitor %s 127.0.0.1 %s 2\n", s.MasterName, primaryPort)
		fmt.Fprintf(&conf, "sentinel down-after-milliseconds %s %d\n", s.MasterName, DownAfter.Milliseconds())
		fmt.Fprintf(&conf, "sentinel failover-timeout %s %d\n", s.MasterName, failoverTimeout.Milliseconds())
		fmt.Fprintf(&conf, "sentinel parallel-syncs %s 1\n", s.MasterName)
		if s.o.Password != "" {
			fmt.Fprintf(&conf, "sentinel auth-pass %s %q\n", s.MasterName, s.o.Password)
		}
		fmt.Fprintf(&conf, "sentinel known-replica %s 127.0.0.1 %s\n", s.MasterName, replicaPort)
		for j, other := range ports {
			if j != i { // known at once, instead of after the 2 s hello messages
				fmt.Fprintf(&conf, "sentinel known-sentinel %s 127.0.0.1 %s %s\n", s.MasterName, other, ids[j])
			}
		}
		srv, err := startServer(filepath.Join(dir, "sentinel-"+port), port, s.o.Password, conf.String(), "--sentinel")
		if err != nil {
			return err
		}
		s.g.add(srv)
		s.sentinels = append(s.sentinels, srv)
		s.Addrs = append(s.Addrs, srv.addr)
	}
	primary := "127.0.0.1:" + primaryPort
	for _, sn := range s.sentinels {
		if err := poll(ctx, "sentinel "+sn.addr+" ready", func(ctx context.Context) error {
			if sn.exited() {
				return errExited
			}
			return s.sentinelReady(ctx, sn, primary)
		}); err != nil {
			return err
		}
	}
	return nil
}

// sentinelReady: sn names primary, has the replica's INFO (its link to
// the primary is "ok") and talks to the two other sentinels.
func (s *Sentinel) sentinelReady(ctx context.Context, sn *server, primary string) error {
	if got, err := s.masterAddr(ctx, sn); err != nil || got != primary {
		return fmt.Errorf("names primary %q (%v), want %s", got, err, primary)
	}
	replicas, err := sentinelList(ctx, sn, "REPLICAS", s.MasterName)
	if err != nil {
		return err
	}
	if len(replicas) != 1 || replicas[0]["master-link-status"] != "ok" || strings.Contains(replicas[0]["flags"], "down") {
		return fmt.Errorf("replicas %v", replicas)
	}
	others, err := sentinelList(ctx, sn, "SENTINELS", s.MasterName)
	if err != nil {
		return err
	}
	for _, o := range others {
		if strings.Contains(o["flags"], "down") || strings.Contains(o["flags"], "disconnected") {
			return fmt.Errorf("sentinels %v", others)
		}
	}
	if len(others) != len(s.sentinels)-1 {
		return fmt.Errorf("knows %d other sentinels", len(others))
	}
	return nil
}

// masterAddr asks sentinel sn for the primary's address.
func (s *Sentinel) masterAddr(ctx context.Context, sn *server) (string, error) {
	v, err := sn.rdb.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName).StringSlice()
	if err != nil {
		return "", err
	}
	if len(v) != 2 {
		return "", fmt.Errorf("sentinel %s: master address %v", sn.addr, v)
	}
	return net.JoinHostPort(v[0], v[1]), nil
}

// sentinelList runs SENTINEL <sub> <name> and returns its entries as maps.
func sentinelList(ctx context.Context, sn *server, sub, name string) ([]map[string]string, error) {
	v, err := sn.rdb.Do(ctx, "SENTINEL", sub, name).Slice()
	if err != nil {
		return nil, err
	}
	out := make([]map[string]string, 0, len(v))
	for _, e := range v {
		fields, _ := e.([]any)
		m := make(map[string]string, len(fields)/2)
		for i := 0; i+1 < len(fields); i += 2 {
			k, _ := fields[i].(string)
			m[k], _ = fields[i+1].(string)
		}
		out = append(out, m)
	}
	return out, nil
}

// Primary returns the primary's address as the first sentinel that
// answers names it.
func (s *Sentinel) Primary(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startWithin)
	defer cancel()
	var addr string
	err := poll(ctx, "a sentinel naming the primary", func(ctx context.Context) error {
		var errs []error
		for _, sn := range s.sentinels {
			a, err := s.masterAddr(ctx, sn)
			if err == nil {
				addr = a
				return nil
			}
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// HoldReplication makes the replicas miss every write the primary accepts
// from now on, as when a primary dies before its replication stream went
// out: it closes their links and refuses their SYNC and PSYNC (by ACL),
// so they cannot catch up. The primary is meant to be killed next.
func (s *Sentinel) HoldReplication(t testing.TB) {
	t.Helper()
	p := s.find(s.Primary(t))
	if p == nil {
		t.Fatal("redistest: the primary the sentinels name is not running")
	}
	holdReplication(t, p)
}

// holdReplication closes the replicas' links on primary and keeps them
// from syncing again: they can no longer run SYNC or PSYNC there.
func holdReplication(t testing.TB, primary *server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startWithin)
	defer cancel()
	for _, cmd := range [][]any{
		{"ACL", "SETUSER", "default", "-sync", "-psync"},
		{"CLIENT", "KILL", "TYPE", "replica"},
	} {
		if err := primary.rdb.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("redistest: holding replication on %s: %v: %v", primary.addr, cmd, err)
		}
	}
}

func (s *Sentinel) find(addr string) *server {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.data {
		if d.addr == addr && !d.exited() {
			return d
		}
	}
	return nil
}

// KillPrimary kills the current primary with SIGKILL and returns its
// address. The topology survives one such failover: the killed node stays
// down.
func (s *Sentinel) KillPrimary(t testing.TB) string {
	t.Helper()
	addr := s.Primary(t)
	p := s.find(addr)
	if p == nil {
		t.Fatalf("redistest: the sentinels name %s, which is not running", addr)
	}
	p.kill()
	return addr
}

// WaitPromoted waits until every sentinel names a primary other than old
// and that server answers as a primary; it returns the new primary's
// address. It fails t after FailoverWithin.
func (s *Sentinel) WaitPromoted(t testing.TB, old string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), FailoverWithin)
	defer cancel()
	var addr string
	err := poll(ctx, "a replica promoted in place of "+old, func(ctx context.Context) error {
		addr = ""
		for _, sn := range s.sentinels {
			a, err := s.masterAddr(ctx, sn)
			if err != nil {
				return err
			}
			if a == old || (addr != "" && a != addr) {
				return fmt.Errorf("sentinel %s names %s", sn.addr, a)
			}
			addr = a
		}
		d := s.find(addr)
		if d == nil {
			return fmt.Errorf("the sentinels name %s, which is not running", addr)
		}
		f, err := d.info(ctx, "replication")
		if err == nil && f["role"] != "master" {
			err = fmt.Errorf("%s has role %q", addr, f["role"])
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
