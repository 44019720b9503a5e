// Package broker defines how Rampart nodes share channels: the Broker
// interface that assigns offsets, keeps history and carries publications
// between nodes, and the types that travel through it.
//
// Each backend lives in its own subpackage (memory, redis, nats) so a program
// compiles in only what it uses; brokertest is the conformance suite every
// backend passes. The broker decides nothing about who may publish or
// subscribe.
package broker

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable is returned (wrapped) when the backend cannot be reached.
// Clients see it as the error code "unavailable".
var ErrUnavailable = errors.New("broker: unavailable")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("broker: closed")

// Publication is one message in a channel.
type Publication struct {
	Channel string
	Offset  uint64    // 1, 2, 3... per channel and epoch
	Epoch   string    // changes when the channel's history is lost
	Data    []byte    // a JSON value, already validated
	User    string    // who published; empty for the server API
	Client  string    // the publishing connection, if any
	Time    time.Time // when the broker accepted it
}

// Position is the latest place in a channel's stream.
type Position struct {
	Offset uint64
	Epoch  string
}

// PublishOptions says how much of a channel to keep.
type PublishOptions struct {
	HistorySize int           // publications kept; 0: none
	HistoryTTL  time.Duration // how long each is kept

	// IdempotencyKey, when set, makes a retry safe: a publish to the same
	// channel with a key already used within IdempotencyWindow is not
	// stored or delivered again, and Publish returns the first one's
	// position. Up to 64 bytes of [A-Za-z0-9_.:@-]; the server derives it
	// from the publisher's identity and the client's key, so that one
	// publisher's keys never collide with another's.
	IdempotencyKey string
}

// IdempotencyWindow is how long every broker remembers an idempotency key:
// a retry within it is recognised, on any node.
const IdempotencyWindow = 2 * time.Minute

// HistoryRequest selects publications from a channel's history.
type HistoryRequest struct {
	Since *Position // when set: only publications with a greater offset
	Limit int       // at most this many, the oldest first when Since is set, else the newest; 0: none, -1: all kept
}

// Handler receives the publications of the channels a node subscribed to,
// in offset order per channel. It must not block.
type Handler func(Publication)

// Broker carries publications between nodes and keeps offsets and history.
// Implementations are safe for concurrent use.
type Broker interface {
	// Run sets the handler and starts delivery; it is called once, first.
	Run(h Handler) error
	// Publish appends data to channel and delivers it to every node
	// subscribed to channel, returning its position.
	Publish(ctx context.Context, channel string, data []byte, user, client string, opts PublishOptions) (Position, error)
	// Subscribe makes this node receive the channel's publications.
	Subscribe(ctx context.Context, channel string) error
	// Unsubscribe stops that.
	Unsubscribe(ctx context.Context, channel string) error
	// History returns kept publications and the channel's current position.
	History(ctx context.Context, channel string, req HistoryRequest) ([]Publication, Position, error)
	// Close stops the broker and waits for its goroutines.
	Close() error
}
