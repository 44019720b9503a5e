package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/broker/brokertest"
	"github.com/rampart-rt/rampart/broker/redis"
)

// server is one redis-server for the package, on a free loopback port.
type server struct {
	addr string
	cmd  *exec.Cmd
}

var srv *server

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: redis-server is not on PATH; install it with: bash scripts/services.sh")
		os.Exit(1)
	}
	addr, err := freeAddr()
	if err == nil {
		srv = &server{addr: addr}
		err = srv.start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: starting redis-server:", err)
		os.Exit(1)
	}
	code := m.Run()
	srv.stop()
	os.Exit(code)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (s *server) start() error {
	_, port, _ := net.SplitHostPort(s.addr)
	s.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	if err := s.cmd.Start(); err != nil {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			return nil
		}
	}
	s.stop()
	return fmt.Errorf("redis-server did not listen on %s within 10s", s.addr)
}

func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// newBroker returns a broker with its own key prefix, so tests never see
// each other's channels.
func newBroker(t testing.TB, prefix string) broker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	b, err := redis.New(ctx, redis.Options{Addrs: []string{srv.addr}, Prefix: prefix})
	if err != nil {
		t.Fatalf("redis.New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func randomPrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "rt" + hex.EncodeToString(b[:])
}

func TestConformance(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) broker.Broker { return newBroker(t, randomPrefix()) })
}

func TestShared(t *testing.T) {
	brokertest.RunShared(t, func(t *testing.T) (broker.Broker, broker.Broker) {
		p := randomPrefix()
		return newBroker(t, p), newBroker(t, p)
	})
}

func TestPresence(t *testing.T) {
	brokertest.RunPresence(t, func(t *testing.T) (broker.Broker, broker.Broker) {
		p := randomPrefix()
		return newBroker(t, p), newBroker(t, p)
	})
}

// TestOutage runs last among the broker tests: it kills the package's
// redis-server and starts a new, empty one on the same port.
func TestOutage(t *testing.T) {
	brokertest.RunOutage(t, func(t *testing.T) broker.Broker { return newBroker(t, randomPrefix()) }, brokertest.Backend{
		Stop: func(*testing.T) { srv.stop() },
		Start: func(t *testing.T) {
			if err := srv.start(); err != nil {
				t.Fatalf("restarting redis-server: %v", err)
			}
		},
	})
}

func TestOptionsValidated(t *testing.T) {
	for _, o := range []redis.Options{
		{Addrs: []string{"a:1", "b:1"}},
		{Cluster: true, MasterName: "m"},
		{Cluster: true, DB: 2},
		{Prefix: "x{y}"},
		{OpTimeout: -time.Second},
	} {
		if _, err := redis.New(t.Context(), o); err == nil {
			t.Errorf("New(%+v) accepted invalid options", o)
		}
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	brokertest.BenchmarkRoundTrip(b, func(b *testing.B) (broker.Broker, broker.Broker) {
		p := randomPrefix()
		return newBroker(b, p), newBroker(b, p)
	})
}

// TestLostStreamChangesEpoch: when Redis loses a channel's keys (eviction,
// flush, failover to a stale replica), the position starts over in a new
// epoch, so clients cannot mistake new offsets for old ones.
func TestLostStreamChangesEpoch(t *testing.T) {
	prefix := randomPrefix()
	b := newBroker(t, prefix)
	if err := b.Run(func(broker.Publication) {}); err != nil {
		t.Fatal(err)
	}
	opts := broker.PublishOptions{HistorySize: 10, HistoryTTL: time.Minute}
	var before broker.Position
	for range 3 {
		var err error
		if before, err = b.Publish(t.Context(), "lost", []byte(`1`), "", "", opts); err != nil {
			t.Fatal(err)
		}
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.addr})
	defer rdb.Close()
	if err := rdb.Del(t.Context(), prefix+":{lost}:top").Err(); err != nil {
		t.Fatal(err)
	}
	pubs, pos, err := b.History(t.Context(), "lost", broker.HistoryRequest{Limit: -1})
	if err != nil || len(pubs) != 0 || pos.Offset != 0 || pos.Epoch == before.Epoch {
		t.Fatalf("History after losing the keys = %v, %+v, %v; want nothing at offset 0 in an epoch other than %q", pubs, pos, err, before.Epoch)
	}
	next, err := b.Publish(t.Context(), "lost", []byte(`2`), "", "", opts)
	if err != nil || next != (broker.Position{Offset: 1, Epoch: pos.Epoch}) {
		t.Fatalf("Publish after the loss = %+v, %v; want offset 1 in epoch %q", next, err, pos.Epoch)
	}
}

func TestPresenceEvents(t *testing.T) {
	brokertest.RunPresenceEvents(t, func(t *testing.T) (broker.Broker, broker.Broker) {
		p := randomPrefix()
		return newBroker(t, p), newBroker(t, p)
	})
}
