package redis_test

import (
	"testing"

	"github.com/rampart-rt/rampart/broker/redis"
	"github.com/rampart-rt/rampart/internal/redistest"
)

// TestSentinel runs the conformance suite and the limiter through Redis
// Sentinel (a primary, a replica and three sentinels, all requiring a
// password), then kills the primary after its last writes missed the
// replica.
func TestSentinel(t *testing.T) {
	t.Parallel() // after the tests that stop the package's standalone server
	s := redistest.StartSentinel(t, redistest.Options{Password: password})
	o := redis.Options{Addrs: s.Addrs, MasterName: s.MasterName, Password: password}
	runSuites(t, o)
	t.Run("FailoverLosingWrites", func(t *testing.T) {
		var old string
		testFailoverLosingWrites(t, o, primaryFault{
			hold: func(t *testing.T, _ string) { s.HoldReplication(t) },
			kill: func(t *testing.T, _ string) { old = s.KillPrimary(t) },
			wait: func(t *testing.T) { s.WaitPromoted(t, old) },
		})
	})
}
