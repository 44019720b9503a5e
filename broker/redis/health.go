package redis

import "context"

// Ping implements broker.Pinger: Redis answered PING.
func (b *Broker) Ping(ctx context.Context) error { return b.rdb.Ping(ctx).Err() }

// Ping implements broker.Pinger: Redis answered PING.
func (l *Limiter) Ping(ctx context.Context) error { return l.rdb.Ping(ctx).Err() }
