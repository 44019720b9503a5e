package nats_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/broker/brokertest"
	"github.com/rampart-rt/rampart/broker/nats"
)

// embedded is one JetStream-enabled nats-server for the package, on a free
// loopback port, storing in a temporary directory.
type embedded struct {
	port  int
	store string
	srv   *server.Server
}

var ns *embedded

func TestMain(m *testing.M) {
	store, err := os.MkdirTemp("", "rampart-nats-")
	if err == nil {
		ns = &embedded{store: store}
		ns.port, err = freePort()
	}
	if err == nil {
		err = ns.start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: starting the embedded nats-server:", err)
		os.Exit(1)
	}
	code := m.Run()
	ns.stop()
	_ = os.RemoveAll(store)
	os.Exit(code)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (e *embedded) url() string { return "nats://127.0.0.1:" + strconv.Itoa(e.port) }

func (e *embedded) start() error {
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: e.port, JetStream: true, StoreDir: e.store,
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		return err
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return fmt.Errorf("nats-server not ready on port %d within 10s", e.port)
	}
	e.srv = s
	return nil
}

func (e *embedded) stop() {
	if e.srv != nil {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
		e.srv = nil
	}
}

func newBroker(t testing.TB, prefix string) broker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	b, err := nats.New(ctx, nats.Options{URL: ns.url(), Prefix: prefix})
	if err != nil {
		t.Fatalf("nats.New: %v", err)
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
	p := randomPrefix() // one stream for the suite; channels are unique
	brokertest.Run(t, func(t *testing.T) broker.Broker { return newBroker(t, p) })
}

func TestShared(t *testing.T) {
	p := randomPrefix()
	brokertest.RunShared(t, func(t *testing.T) (broker.Broker, broker.Broker) {
		return newBroker(t, p), newBroker(t, p)
	})
}

func TestPresence(t *testing.T) {
	p := randomPrefix()
	brokertest.RunPresence(t, func(t *testing.T) (broker.Broker, broker.Broker) {
		return newBroker(t, p), newBroker(t, p)
	})
}

// TestOutage shuts the embedded server down and starts it again on the
// same port and store: the channel goes on in its epoch.
func TestOutage(t *testing.T) {
	brokertest.RunOutage(t, func(t *testing.T) broker.Broker { return newBroker(t, randomPrefix()) }, brokertest.Backend{
		Stop: func(*testing.T) { ns.stop() },
		Start: func(t *testing.T) {
			if err := ns.start(); err != nil {
				t.Fatalf("restarting nats-server: %v", err)
			}
		},
		Keeps: true,
	})
}

func TestOptionsValidated(t *testing.T) {
	for _, o := range []nats.Options{
		{Prefix: "a.b"},
		{Prefix: "a>"},
		{MaxHistory: -1},
		{OpTimeout: -time.Second},
	} {
		if _, err := nats.New(t.Context(), o); err == nil {
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

func TestPresenceEvents(t *testing.T) {
	p := randomPrefix()
	brokertest.RunPresenceEvents(t, func(t *testing.T) (broker.Broker, broker.Broker) {
		return newBroker(t, p), newBroker(t, p)
	})
}
