package nats

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var errNotConnected = errors.New("nats: not connected")

// Ping implements broker.Pinger: the connection is up and JetStream
// answers (the streams and buckets Rampart keeps live there).
func (b *Broker) Ping(ctx context.Context) error { return ping(ctx, b.nc, b.js) }

// Ping implements broker.Pinger, as for the broker.
func (l *Limiter) Ping(ctx context.Context) error { return ping(ctx, l.nc, l.js) }

func ping(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) error {
	if nc.Status() != nats.CONNECTED {
		return errNotConnected
	}
	_, err := js.AccountInfo(ctx)
	return err
}
