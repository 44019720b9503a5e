package redis_test

import (
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rampart-rt/rampart/broker"
)

// TestReplicationIDKeepsEpoch: on a server never promoted from replica, a
// channel last written under another replication id (as after a restart
// on the server's own data) or before the id was recorded goes on in its
// epoch. (A promoted replica starts a new one: TestSentinel and
// TestCluster, FailoverLosingWrites.)
func TestReplicationIDKeepsEpoch(t *testing.T) {
	prefix := randomPrefix()
	b := newBroker(t, prefix)
	if err := b.Run(func(broker.Publication) {}); err != nil {
		t.Fatal(err)
	}
	opts := broker.PublishOptions{HistorySize: 10, HistoryTTL: time.Minute}
	first, err := b.Publish(t.Context(), "ch", []byte(`1`), "", "", opts)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.addr})
	defer rdb.Close()
	top := prefix + ":{ch}:top"
	for i, change := range []func() error{
		func() error { return rdb.HDel(t.Context(), top, "r").Err() },
		func() error { return rdb.HSet(t.Context(), top, "r", "0123456789abcdef0123456789abcdef01234567").Err() },
	} {
		if err := change(); err != nil {
			t.Fatal(err)
		}
		want := broker.Position{Offset: uint64(i) + 1, Epoch: first.Epoch}
		if _, pos, err := b.History(t.Context(), "ch", broker.HistoryRequest{}); err != nil || pos != want {
			t.Fatalf("History after change %d = %+v, %v; want %+v", i, pos, err, want)
		}
		want.Offset++
		if next, err := b.Publish(t.Context(), "ch", []byte(`1`), "", "", opts); err != nil || next != want {
			t.Fatalf("Publish after change %d = %+v, %v; want %+v", i, next, err, want)
		}
	}
}
