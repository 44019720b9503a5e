//go:build faults

package faulttest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	goredis "github.com/redis/go-redis/v9"
)

// brokerServer is a broker process the faults act on. Its data survives
// a kill (Redis: append-only file fsynced at every write; NATS: the
// JetStream file store) unless start is asked for an empty store.
type brokerServer interface {
	// nodeYAML is the broker section of a node's configuration.
	nodeYAML(prefix string) string
	// start (re)starts the process on the same port and waits until it
	// serves; empty removes its stored data first.
	start(t testing.TB, empty bool)
	// signal sends sig to the process (SIGKILL waits until it is gone).
	signal(t testing.TB, sig syscall.Signal)
	// dropPubSub closes the connections the nodes receive publications on.
	dropPubSub(t testing.TB)
}

// redisServer is a redis-server process.
type redisServer struct {
	port int
	dir  string
	p    *proc
}

func newRedis(t testing.TB) brokerServer {
	r := &redisServer{port: freePort(t), dir: t.TempDir()}
	r.start(t, false)
	return r
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *redisServer) nodeYAML(prefix string) string {
	return fmt.Sprintf("{type: redis, redis: {addrs: [%q], prefix: %s}}", r.addr(), prefix)
}

func (r *redisServer) start(t testing.TB, empty bool) {
	t.Helper()
	if r.p != nil {
		r.p.kill()
	}
	if empty {
		wipe(t, r.dir)
	}
	r.p = startProc(t, "redis-server", "redis-server", []string{
		"--bind", "127.0.0.1", "--port", strconv.Itoa(r.port), "--dir", r.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--daemonize", "no", "--loglevel", "warning",
	}, nil, nil)
	c := goredis.NewClient(&goredis.Options{Addr: r.addr(), MaxRetries: -1})
	defer c.Close()
	ok := poll(startWithin, 20*time.Millisecond, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.Ping(ctx).Err() == nil // LOADING while it reads its file
	})
	if !ok {
		t.Fatalf("redis-server did not answer within %v:\n%s", startWithin, r.p.tail(2048))
	}
}

func (r *redisServer) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if sig == syscall.SIGKILL {
		r.p.kill()
		return
	}
	if err := r.p.signal(sig); err != nil {
		t.Fatal(err)
	}
}

// dropPubSub is CLIENT KILL TYPE pubsub: every node's subscription
// connection is closed by the server.
func (r *redisServer) dropPubSub(t testing.TB) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: r.addr()})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.ClientKillByFilter(ctx, "TYPE", "pubsub").Result()
	if err != nil {
		t.Fatalf("CLIENT KILL TYPE pubsub: %v", err)
	}
	if n == 0 {
		t.Fatal("CLIENT KILL TYPE pubsub closed no connection")
	}
}

// natsServer is a nats-server process with JetStream. The nodes connect
// without credentials into the account APP (no_auth_user); the suite
// connects as the system account's user to kick connections.
type natsServer struct {
	port, monitor int
	dir, store    string
	p             *proc
}

const natsConf = `listen: "127.0.0.1:%d"
http: "127.0.0.1:%d"
jetstream { store_dir: %q, max_memory_store: 256MB, max_file_store: 2GB }
accounts {
  APP { jetstream: enabled, users: [{user: app, password: app}] }
  SYS { users: [{user: sys, password: sys}] }
}
system_account: SYS
no_auth_user: app
`

func newNATS(t testing.TB) brokerServer {
	dir := t.TempDir()
	n := &natsServer{port: freePort(t), monitor: freePort(t), dir: dir, store: filepath.Join(dir, "store")}
	conf := fmt.Sprintf(natsConf, n.port, n.monitor, n.store)
	if err := os.WriteFile(filepath.Join(dir, "nats.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	n.start(t, false)
	return n
}

func (n *natsServer) url() string { return "nats://127.0.0.1:" + strconv.Itoa(n.port) }

func (n *natsServer) nodeYAML(prefix string) string {
	return fmt.Sprintf("{type: nats, nats: {url: %q, prefix: %s}}", n.url(), prefix)
}

func (n *natsServer) start(t testing.TB, empty bool) {
	t.Helper()
	if n.p != nil {
		n.p.kill()
	}
	if empty {
		wipe(t, n.store)
	}
	n.p = startProc(t, "nats-server", natsBin, []string{"-c", filepath.Join(n.dir, "nats.conf")}, nil, nil)
	health := fmt.Sprintf("http://127.0.0.1:%d/healthz", n.monitor)
	ok := poll(startWithin, 20*time.Millisecond, func() bool {
		resp, err := http.Get(health)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK // JetStream recovered its store
	})
	if !ok {
		t.Fatalf("nats-server not healthy within %v:\n%s", startWithin, n.p.tail(2048))
	}
}

func (n *natsServer) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if sig == syscall.SIGKILL {
		n.p.kill()
		return
	}
	if err := n.p.signal(sig); err != nil {
		t.Fatal(err)
	}
}

// dropPubSub kicks every connection of the account APP (each node's
// broker connection, which carries its subscriptions, and its limiter's)
// with the system account's $SYS.REQ.SERVER.<id>.KICK.
func (n *natsServer) dropPubSub(t testing.TB) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/connz?auth=true&limit=1024", n.monitor))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var connz struct {
		ServerID string `json:"server_id"`
		Conns    []struct {
			CID     uint64 `json:"cid"`
			Account string `json:"account"`
		} `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&connz); err != nil {
		t.Fatalf("connz: %v", err)
	}
	nc, err := natsgo.Connect(n.url(), natsgo.UserInfo("sys", "sys"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	kicked := 0
	for _, c := range connz.Conns {
		if c.Account != "APP" {
			continue
		}
		req, _ := json.Marshal(map[string]uint64{"cid": c.CID})
		if _, err := nc.Request(fmt.Sprintf("$SYS.REQ.SERVER.%s.KICK", connz.ServerID), req, 2*time.Second); err != nil {
			t.Fatalf("kicking connection %d: %v", c.CID, err)
		}
		kicked++
	}
	if kicked == 0 {
		t.Fatal("no node connection to kick in connz")
	}
}

// wipe empties dir, keeping it.
func wipe(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}
