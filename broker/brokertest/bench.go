package brokertest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/broker"
)

// BenchmarkRoundTrip measures one publication from Publish until the
// handler of a second broker (or the same one, for newPair returning it
// twice) has it, one at a time, and reports the p50 and p99 latencies.
func BenchmarkRoundTrip(b *testing.B, newPair func(b *testing.B) (pub, sub broker.Broker)) {
	pub, sub := newPair(b)
	got := make(chan uint64, 1)
	if err := sub.Run(func(p broker.Publication) { got <- p.Offset }); err != nil {
		b.Fatal(err)
	}
	if pub != sub {
		if err := pub.Run(func(broker.Publication) {}); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	ch := "bench:" + time.Now().Format("150405.000000")
	if err := sub.Subscribe(ctx, ch); err != nil {
		b.Fatal(err)
	}
	data := []byte(`{"text":"a hundred bytes of payload, about what a chat message or a price tick weighs on the wire."}`)
	opts := broker.PublishOptions{HistorySize: 100, HistoryTTL: time.Minute}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		pos, err := pub.Publish(ctx, ch, data, "user", "client", opts)
		if err != nil {
			b.Fatal(err)
		}
		for off := range got {
			if off == pos.Offset {
				break
			}
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e3, "p99-µs")
	_ = pub.Close()
	_ = sub.Close()
}
