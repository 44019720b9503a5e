package main

import (
	"context"
	"fmt"
	"log/slog"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/broker/nats"
	"github.com/rampart-rt/rampart/broker/redis"
	"github.com/rampart-rt/rampart/config"
)

// newBroker connects the configured broker; nil means the server's own
// in-memory broker.
func newBroker(ctx context.Context, c config.Broker, log *slog.Logger) (broker.Broker, error) {
	switch c.Type {
	case "redis":
		goredis.SetLogger(redisLogger{log}) // its own lines would not be JSON
		b, err := redis.New(ctx, redisOptions(c.Redis))
		if err != nil {
			return nil, fmt.Errorf("broker: redis: %w", err)
		}
		return b, nil
	case "nats":
		b, err := nats.New(ctx, natsOptions(c.NATS))
		if err != nil {
			return nil, fmt.Errorf("broker: nats: %w", err)
		}
		return b, nil
	}
	return nil, nil
}

// redisLogger sends go-redis's messages (dial failures, reconnects) to the
// server's log.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn("redis client", "event", "broker_error", "op", "redis", "error", fmt.Sprintf(format, v...))
}

func natsOptions(n config.NATS) nats.Options {
	return nats.Options{URL: n.URL, Prefix: n.Prefix}
}

func redisOptions(r config.Redis) redis.Options {
	return redis.Options{
		Addrs: r.Addrs, MasterName: r.MasterName, Cluster: r.Cluster,
		Password: r.Password, DB: r.DB, Prefix: r.Prefix, DialTimeout: r.DialTimeout,
	}
}

// newLimiter returns the cluster-wide connection limiter for the
// configured broker and a func that closes it: with Redis or NATS the
// limits hold across every node on that broker (counted on the same Redis
// or NATS); with the memory broker nil, and the node counts its own
// connections.
func newLimiter(ctx context.Context, c config.Broker) (rampart.Limiter, func(), error) {
	switch c.Type {
	case "redis":
		l, err := redis.NewLimiter(ctx, redis.LimiterOptions{Options: redisOptions(c.Redis)})
		if err != nil {
			return nil, nil, fmt.Errorf("limiter: redis: %w", err)
		}
		return l, func() { _ = l.Close() }, nil
	case "nats":
		l, err := nats.NewLimiter(ctx, nats.LimiterOptions{Options: natsOptions(c.NATS)})
		if err != nil {
			return nil, nil, fmt.Errorf("limiter: nats: %w", err)
		}
		return l, func() { _ = l.Close() }, nil
	}
	return nil, func() {}, nil
}
