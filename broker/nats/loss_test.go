package nats_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/broker/brokertest"
)

// TestDataLoss: JetStream loses the broker's streams and bucket, deleted
// under live brokers or gone with a server restarted on an empty store.
func TestDataLoss(t *testing.T) {
	var prefix string // the current pair's
	deleteAll := func(t *testing.T, streams ...string) {
		t.Helper()
		nc, err := natsgo.Connect(ns.url())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		for _, s := range streams {
			if err := js.DeleteStream(ctx, s); err != nil {
				t.Fatalf("deleting stream %s: %v", s, err)
			}
		}
	}
	brokertest.RunDataLoss(t, func(t *testing.T) (broker.Broker, broker.Broker) {
		prefix = randomPrefix()
		return newBroker(t, prefix), newBroker(t, prefix)
	},
		brokertest.Loss{Name: "StreamDeleted", Lose: func(t *testing.T) { deleteAll(t, prefix+"_hist") }},
		brokertest.Loss{Name: "StreamsAndBucketDeleted", Lose: func(t *testing.T) {
			deleteAll(t, prefix+"_hist", prefix+"_presence", "KV_"+prefix+"_epochs")
		}},
		brokertest.Loss{Name: "ServerRestartedEmpty", Restart: true, Lose: func(t *testing.T) {
			ns.stop()
			if err := wipe(ns.store); err != nil {
				t.Fatalf("emptying the store: %v", err)
			}
			if err := ns.start(); err != nil {
				t.Fatalf("restarting nats-server: %v", err)
			}
		}},
	)
}

// wipe removes everything in dir, keeping dir.
func wipe(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
