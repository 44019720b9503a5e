package redis_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/broker/brokertest"
)

// TestDataLoss: Redis loses the broker's keys under live brokers: a
// FLUSHALL, the channels' top hashes evicted (their history streams left),
// or a restart without persistence.
func TestDataLoss(t *testing.T) {
	var prefix string // the current pair's
	admin := func(t *testing.T, f func(ctx context.Context, rdb *goredis.Client) error) {
		t.Helper()
		rdb := goredis.NewClient(&goredis.Options{Addr: srv.addr})
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if err := f(ctx, rdb); err != nil {
			t.Fatal(err)
		}
	}
	brokertest.RunDataLoss(t, func(t *testing.T) (broker.Broker, broker.Broker) {
		prefix = randomPrefix()
		return newBroker(t, prefix), newBroker(t, prefix)
	},
		brokertest.Loss{Name: "FlushAll", Lose: func(t *testing.T) {
			admin(t, func(ctx context.Context, rdb *goredis.Client) error { return rdb.FlushAll(ctx).Err() })
		}},
		brokertest.Loss{Name: "TopKeysEvicted", Lose: func(t *testing.T) {
			admin(t, func(ctx context.Context, rdb *goredis.Client) error {
				keys, err := rdb.Keys(ctx, prefix+":*:top").Result()
				if err == nil && len(keys) == 0 {
					t.Fatalf("no %s:*:top keys to evict", prefix)
				}
				if err == nil {
					err = rdb.Del(ctx, keys...).Err()
				}
				return err
			})
		}},
		brokertest.Loss{Name: "ServerRestartedEmpty", Restart: true, Lose: func(t *testing.T) {
			srv.stop()
			if err := srv.start(); err != nil {
				t.Fatalf("restarting redis-server: %v", err)
			}
		}},
	)
}
