package clustertest

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"
)

// benchLimits let one connection publish as fast as it can.
var benchLimits = limits{perIP: 1000, perUser: 1000, perMinute: 1 << 20, burst: 1 << 20, sendQueue: 1 << 16}

func benchConfig(brokerYAML string) string { return configYAML(brokerYAML, benchLimits) }

// BenchmarkCrossNode measures publish-to-delivery latency (one publication
// at a time, from the publish frame leaving the publisher to the
// publication reaching a subscriber on another node) and throughput (b.N
// publications to one channel sent back to back by 1 or 8 publishers on one
// node, until the subscriber on the other has the last one). "single" is one node with the in-memory broker.
//
//	go test -run XXX -bench CrossNode -benchtime 3000x ./internal/clustertest
func BenchmarkCrossNode(b *testing.B) {
	setups := []struct {
		name  string
		nodes func(b *testing.B) (pub, sub *node)
	}{
		{"single", func(b *testing.B) (*node, *node) {
			n := startNodes(b, 1, benchConfig("{type: memory}"))
			return n[0], n[0]
		}},
		{"redis", func(b *testing.B) (*node, *node) {
			n := startNodes(b, 2, benchConfig(redisBroker()))
			return n[0], n[1]
		}},
		{"nats", func(b *testing.B) (*node, *node) {
			n := startNodes(b, 2, benchConfig(natsBroker(startNATS(b), "rt"+randomID())))
			return n[0], n[1]
		}},
	}
	for _, s := range setups {
		b.Run(s.name+"/latency", func(b *testing.B) { benchLatency(b, s.nodes) })
		for _, p := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/throughput-%dpub", s.name, p), func(b *testing.B) { benchThroughput(b, s.nodes, p) })
		}
	}
}

var benchData = `{"text":"a hundred bytes of payload, about what a chat message or a price tick weighs on the wire"}`

func publishFrame(id int) string {
	return fmt.Sprintf(`{"id":%d,"action":"publish","channel":"room:bench","data":%s}`, id, benchData)
}

func benchLatency(b *testing.B, nodes func(*testing.B) (*node, *node)) {
	pn, sn := nodes(b)
	sub := dial(b, sn, "sub")
	sub.subscribe("room:bench", nil)
	pub := dial(b, pn, "pub")
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if err := pub.ws.WriteText(publishFrame(i + 1)); err != nil {
			b.Fatal(err)
		}
		for {
			if f := sub.read(); f.Push == "publication" {
				break
			}
		}
		lat = append(lat, time.Since(t0))
		if f := pub.read(); f.ID != i+1 || f.Error != nil {
			b.Fatalf("publish reply %+v", f)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// benchThroughput publishes from several connections at once: a
// connection runs its commands one after another, so one publisher
// measures the broker's round trip more than its throughput.
func benchThroughput(b *testing.B, nodes func(*testing.B) (*node, *node), publishers int) {
	pn, sn := nodes(b)
	sub := dial(b, sn, "sub")
	sub.subscribe("room:bench", nil)
	pubs := make([]*conn, publishers)
	for i := range pubs {
		pubs[i] = dial(b, pn, fmt.Sprintf("pub%d", i))
	}
	errs := make(chan error, 2*publishers)
	b.ResetTimer()
	t0 := time.Now()
	for i, pub := range pubs {
		n := b.N / publishers
		if i < b.N%publishers {
			n++
		}
		go func() { errs <- readReplies(pub, n) }()
		go func() {
			for id := 1; id <= n; id++ {
				if err := pub.ws.WriteText(publishFrame(id)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for got := 0; got < b.N; {
		_, msg, err := sub.ws.ReadMessage(waitFor)
		if err != nil {
			b.Fatalf("after %d of %d publications: %v", got, b.N, err)
		}
		var f frame
		if json.Unmarshal(msg, &f) == nil && f.Push == "publication" {
			got++
		}
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	for range 2 * publishers {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pubs/s")
}

// readReplies reads n publish replies, in order, from one publisher.
func readReplies(pub *conn, n int) error {
	for id := 1; id <= n; id++ {
		_, msg, err := pub.ws.ReadMessage(waitFor)
		if err != nil {
			return err
		}
		var f frame
		if err := json.Unmarshal(msg, &f); err != nil {
			return err
		}
		if f.ID != id || f.Error != nil {
			return fmt.Errorf("publish reply %s", msg)
		}
	}
	return nil
}
