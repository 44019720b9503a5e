package memory_test

import (
	"testing"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/broker/brokertest"
	"github.com/rampart-rt/rampart/broker/memory"
)

func TestConformance(t *testing.T) {
	brokertest.Run(t, func(*testing.T) broker.Broker { return memory.New() })
}

func BenchmarkRoundTrip(b *testing.B) {
	brokertest.BenchmarkRoundTrip(b, func(*testing.B) (broker.Broker, broker.Broker) {
		m := memory.New()
		return m, m
	})
}

func TestPresence(t *testing.T) {
	brokertest.RunPresence(t, func(*testing.T) (broker.Broker, broker.Broker) {
		m := memory.New()
		return m, m
	})
}

func TestPresenceEvents(t *testing.T) {
	brokertest.RunPresenceEvents(t, func(*testing.T) (broker.Broker, broker.Broker) {
		m := memory.New()
		return m, m
	})
}
