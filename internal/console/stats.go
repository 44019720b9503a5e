package console

import (
	"context"
	"time"

	"github.com/go-json-experiment/json"
)

// NodeStats is what a node publishes on StatsChannel once a second.
type NodeStats struct {
	Node        string            `json:"node"`
	Time        time.Time         `json:"time"`
	Connections int               `json:"connections"`
	Draining    bool              `json:"draining"`
	Sessions    int               `json:"sessions"` // console sessions on this node
	Totals      Totals            `json:"totals"`
	Channels    []Channel         `json:"channels"` // the busiest, by subscribers
	Counts      map[string]uint64 `json:"counts"`   // security events by reason, since start
}

// NodeEvents is what a node publishes on EventsChannel when it has new
// events, at most four times a second.
type NodeEvents struct {
	Node   string  `json:"node"`
	Events []Event `json:"events"`
	Lost   uint64  `json:"lost,omitempty"` // events over the per-flush bound, counted but not sent
}

// topChannels is how many channels a node reports.
const topChannels = 10

// Run publishes this node's stats once a second and its new events as
// they come (bounded), until stop is closed.
func (c *Console) Run(stop <-chan struct{}) {
	stats := time.NewTicker(statsInterval)
	defer stats.Stop()
	events := time.NewTicker(eventsInterval)
	defer events.Stop()
	for {
		select {
		case <-stop:
			return
		case <-events.C:
			c.flushEvents()
		case <-stats.C:
			c.publish(StatsChannel, c.Stats())
		}
	}
}

// Stats returns this node's stats now.
func (c *Console) Stats() NodeStats {
	var top []Channel
	for _, ch := range c.o.Server.TopChannels(topChannels + 2) {
		if !Reserved(ch.Channel) && len(top) < topChannels {
			top = append(top, ch)
		}
	}
	return NodeStats{
		Node: c.o.Node, Time: c.o.Now(), Connections: c.o.Server.Connections(), Draining: c.o.Server.Draining(),
		Sessions: c.sessions.count(), Totals: c.o.Server.Totals(), Channels: top, Counts: c.ring.Counts(),
	}
}

func (c *Console) flushEvents() {
	evs, lost := c.ring.Take()
	if len(evs) == 0 && lost == 0 {
		return
	}
	c.publish(EventsChannel, NodeEvents{Node: c.o.Node, Events: evs, Lost: lost})
}

func (c *Console) publish(channel string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// A broker that does not answer costs this tick only; the server logs it.
	_ = c.o.Server.PublishConsole(ctx, channel, b)
}
