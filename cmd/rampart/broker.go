package main

import (
	"context"
	"fmt"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/broker/nats"
	"github.com/rampart-rt/rampart/broker/redis"
	"github.com/rampart-rt/rampart/config"
)

// newBroker connects the configured broker; nil means the server's own
// in-memory broker.
func newBroker(ctx context.Context, c config.Broker) (broker.Broker, error) {
	switch c.Type {
	case "redis":
		r := c.Redis
		b, err := redis.New(ctx, redis.Options{
			Addrs: r.Addrs, MasterName: r.MasterName, Cluster: r.Cluster,
			Password: r.Password, DB: r.DB, Prefix: r.Prefix, DialTimeout: r.DialTimeout,
		})
		if err != nil {
			return nil, fmt.Errorf("broker: redis: %w", err)
		}
		return b, nil
	case "nats":
		b, err := nats.New(ctx, nats.Options{URL: c.NATS.URL, Prefix: c.NATS.Prefix})
		if err != nil {
			return nil, fmt.Errorf("broker: nats: %w", err)
		}
		return b, nil
	}
	return nil, nil
}
