package main

import (
	"context"
	"fmt"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/config"
)

// newBroker connects the configured broker; nil means the server's own
// in-memory broker.
func newBroker(ctx context.Context, c config.Broker) (broker.Broker, error) {
	switch c.Type {
	case "memory", "":
		return nil, nil
	}
	return nil, fmt.Errorf("broker: type %q is not built into this binary", c.Type)
}
