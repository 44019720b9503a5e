package rampart

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/rampart-rt/rampart/internal/wstest"
)

// Benchmarks of permessage-deflate (docs/performance.md, "Compression"):
//
//	go test -run '^$' -bench 'FanoutCompression|IdleConnMemory' -benchtime 20x .

// chatMessage is a chat publication of about 1 KiB: a user, a time and
// prose, as a chat application sends it.
func chatMessage() []byte {
	words := strings.Fields(`the a to and of in is it you that for on was with he as have be at
		one this from or had by not word but what some we can out other were all there when up use
		your how said an each she which do their time if will way about many then them write would
		like so these her long make thing see him two has look more day could go come did number
		sound no most people my over know water than call first who may down side been now find`)
	r := rand.New(rand.NewPCG(1, 2))
	var text strings.Builder
	for text.Len() < 960 {
		text.WriteString(words[r.IntN(len(words))])
		text.WriteByte(' ')
	}
	return fmt.Appendf(nil, `{"user":"alice.martin","sent_at":"2026-12-06T20:15:04.123Z","room":"lobby","text":%q}`, strings.TrimSpace(text.String()))
}

// jsonObject is an API-style JSON object of about 4 KiB: a list of records
// with ids, names, times, numbers and flags.
func jsonObject() []byte {
	r := rand.New(rand.NewPCG(3, 4))
	names := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	states := []string{"open", "pending", "closed", "archived"}
	var b strings.Builder
	b.WriteString(`{"page":1,"per_page":25,"items":[`)
	for i := 0; b.Len() < 4000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"owner":"%s","state":"%s","updated_at":"2026-12-%02dT%02d:%02d:%02dZ","score":%.3f,"pinned":%t}`,
			100000+r.IntN(900000), names[r.IntN(len(names))], states[r.IntN(len(states))],
			1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.Float64()*100, r.IntN(2) == 0)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// BenchmarkFanoutCompression is BenchmarkFanout with typical JSON
// publications, compression off (the server does not negotiate it) and on
// (every subscriber negotiated it): time, server allocations and bytes on
// the wire per delivery.
func BenchmarkFanoutCompression(b *testing.B) {
	payloads := []struct {
		name string
		data []byte
	}{
		{"chat-1KiB", chatMessage()},
		{"json-4KiB", jsonObject()},
	}
	for _, p := range payloads {
		for _, on := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/compression=%t", p.name, on), func(b *testing.B) {
				cfg := benchConfig()
				cfg.Compression.Enabled = on
				runFanout(b, cfg, on, p.data)
			})
		}
	}
}

// idleConns is how many connections BenchmarkIdleConnMemory holds.
const idleConns = 2000

// BenchmarkIdleConnMemory opens idleConns authenticated, subscribed
// connections, compression off and on (offered by every client and
// negotiated), and reports the live heap and the goroutine stacks per
// connection after a GC. The clients (wstest) run in the same process, so
// the figures include their share, the same in both cases: compare them.
func BenchmarkIdleConnMemory(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("compression=%t", on), func(b *testing.B) {
			var before runtime.MemStats
			settle(&before)
			cfg := benchConfig()
			cfg.Compression.Enabled = on
			ts := startBenchServerWith(b, cfg)
			var started runtime.MemStats
			settle(&started)
			req := ts.request(benchToken(b))
			if on {
				req.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
			}
			for i := range idleConns {
				dialIdle(b, ts, req, fmt.Sprintf("chat:idle-%d", i), on)
			}
			var after runtime.MemStats
			settle(&after)
			for b.Loop() { // the measurement is the setup above; metrics are reported after the loop, which resets them
			}
			b.ReportMetric(float64(started.HeapAlloc)-float64(before.HeapAlloc), "server-fixed-heap-B")
			b.ReportMetric((float64(after.HeapAlloc)-float64(started.HeapAlloc))/idleConns, "heap-B/conn")
			b.ReportMetric((float64(after.StackInuse)-float64(started.StackInuse))/idleConns, "stack-B/conn")
		})
	}
}

// dialIdle connects with req, checks whether compression was negotiated,
// reads the welcome and subscribes to channel.
func dialIdle(b *testing.B, ts *testServer, req *wstest.Request, channel string, deflate bool) {
	b.Helper()
	ws, resp, err := wstest.Dial(context.Background(), ts.addr, req, wstest.Options{})
	if err != nil {
		b.Fatalf("dial: %v", err)
	}
	b.Cleanup(func() { _ = ws.Close() })
	if got := resp.Header.Get("Sec-WebSocket-Extensions") != ""; got != deflate {
		b.Fatalf("compression negotiated: %t, want %t", got, deflate)
	}
	if _, _, err := ws.ReadMessage(readTimeout); err != nil {
		b.Fatalf("welcome: %v", err)
	}
	if err := ws.WriteText(fmt.Sprintf(`{"id":1,"action":"subscribe","channel":%q}`, channel)); err != nil {
		b.Fatalf("subscribe: %v", err)
	}
	if _, _, err := ws.ReadMessage(readTimeout); err != nil {
		b.Fatalf("subscribe reply: %v", err)
	}
}

// settle collects garbage twice (what finalizers freed goes in the
// second), then reads the memory statistics.
func settle(ms *runtime.MemStats) {
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(ms)
}
