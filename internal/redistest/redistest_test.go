package redistest_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rampart-rt/rampart/internal/redistest"
)

// TestSentinel: the topology starts, a write reaches the primary through
// the sentinels, and after KillPrimary a replica is promoted that has it.
func TestSentinel(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	s := redistest.StartSentinel(t, redistest.Options{})
	t.Logf("started in %v", time.Since(t0).Round(time.Millisecond))
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: s.Addrs})
	defer rdb.Close()
	if err := rdb.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Wait(t.Context(), 1, 5*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	old := s.KillPrimary(t)
	promoted := s.WaitPromoted(t, old)
	t.Logf("%s promoted in place of %s after %v", promoted, old, time.Since(t0).Round(time.Millisecond))
	direct := redis.NewClient(&redis.Options{Addr: promoted})
	defer direct.Close()
	if v, err := direct.Get(t.Context(), "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET k on the promoted replica = %q, %v; want v", v, err)
	}
}

// TestCluster: the cluster starts with a replica per primary; after the
// primary of a key is killed, its replica serves the key.
func TestCluster(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	c := redistest.StartCluster(t, redistest.Options{})
	t.Logf("started in %v", time.Since(t0).Round(time.Millisecond))
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	defer rdb.Close()
	if err := rdb.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	primary := c.PrimaryOf(t, "k")
	direct := redis.NewClient(&redis.Options{Addr: primary})
	defer direct.Close()
	if err := direct.Wait(t.Context(), 1, 5*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	c.KillPrimary(t, primary)
	c.WaitOK(t)
	now := c.PrimaryOf(t, "k")
	t.Logf("%s serves the slot of %s after %v", now, primary, time.Since(t0).Round(time.Millisecond))
	promoted := redis.NewClient(&redis.Options{Addr: now})
	defer promoted.Close()
	if now == primary {
		t.Fatalf("the slot of k is still served by the killed %s", primary)
	}
	if v, err := promoted.Get(t.Context(), "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET k on the promoted replica = %q, %v; want v", v, err)
	}
}
