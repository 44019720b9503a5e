package redis_test

import (
	"testing"

	"github.com/rampart-rt/rampart/broker/redis"
	"github.com/rampart-rt/rampart/internal/redistest"
)

// TestCluster runs the conformance suite and the limiter through Redis
// Cluster (three primaries with one replica each, all requiring a
// password), then kills the primary holding a channel after its last
// writes missed the replica.
func TestCluster(t *testing.T) {
	t.Parallel() // after the tests that stop the package's standalone server
	c := redistest.StartCluster(t, redistest.Options{Password: password})
	o := redis.Options{Addrs: c.Addrs, Cluster: true, Password: password}
	runSuites(t, o)
	t.Run("FailoverLosingWrites", func(t *testing.T) {
		testFailoverLosingWrites(t, o, primaryFault{
			hold: func(t *testing.T, key string) { c.HoldReplication(t, c.PrimaryOf(t, key)) },
			kill: func(t *testing.T, key string) { c.KillPrimary(t, c.PrimaryOf(t, key)) },
			wait: func(t *testing.T) { c.WaitOK(t) },
		})
	})
}
