package rampart

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rampart-rt/rampart/internal/wstest"
	"github.com/rampart-rt/rampart/protocol"
)

// Benchmarks of the hot paths. They run only with -bench, e.g.
//
//	go test -run '^$' -bench 'Fanout|ParseCommand|Handshake' -benchmem .
//
// See docs/performance.md for the numbers and how they were taken.

// benchConfig lifts every limit a benchmark could trip.
func benchConfig() Config {
	cfg := baseConfig()
	cfg.Limits.MaxConnections = 50000
	cfg.Limits.MaxConnectionsPerIP = 50000
	cfg.Limits.MaxConnectionsPerUser = 50000
	cfg.Limits.HandshakesPerIPPerMin = 1 << 20
	// The readers never answer a ping: on a loaded machine, connecting a
	// thousand subscribers can take long enough for the first to be
	// pinged and dropped.
	cfg.Limits.PingInterval = time.Hour
	return cfg
}

// fanoutSubscribers is the audience of BenchmarkFanout.
const fanoutSubscribers = 1000

// BenchmarkFanout publishes a 100-byte payload through the server's own
// publish path (broker, history, hub) to 1,000 subscribers connected over
// loopback sockets, and waits until every subscriber has read the frame.
// ns/delivery and allocs/delivery divide by the deliveries; the readers
// allocate nothing, so the allocations are the server's.
func BenchmarkFanout(b *testing.B) {
	data := []byte(`{"text":"` + strings.Repeat("x", 100-len(`{"text":""}`)) + `"}`)
	runFanout(b, benchConfig(), false, data)
}

// runFanout publishes data to fanoutSubscribers connections of a server
// running cfg, each offering permessage-deflate when deflate is set, and
// reports per delivery the time, the server's allocations and the bytes
// the subscribers read.
func runFanout(b *testing.B, cfg Config, deflate bool, data []byte) {
	ts := startBenchServerWith(b, cfg)
	const channel = "chat:bench"
	var (
		delivered atomic.Int64
		target    atomic.Int64
		wire      atomic.Int64
		done      = make(chan struct{}, 1)
		readers   sync.WaitGroup
	)
	onFrame := func() {
		if delivered.Add(1) == target.Load() {
			done <- struct{}{}
		}
	}
	tok := benchToken(b)
	req := ts.request(tok)
	if deflate {
		req.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
	}
	for range fanoutSubscribers {
		ws := subscribeRaw(b, ts, req, channel)
		readers.Add(1)
		go func() {
			defer readers.Done()
			drainFrames(countingConn{ws.NetConn(), &wire}, onFrame)
		}()
	}
	b.Cleanup(readers.Wait) // registered before the connections' Close: runs after it
	ctx := context.Background()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	wire.Store(0)
	cpu0 := processCPU()
	start := time.Now()
	rounds := 0
	for b.Loop() {
		rounds++
		target.Store(int64(rounds * fanoutSubscribers))
		if _, err := ts.s.Publish(ctx, channel, data, PublishOptions{}); err != nil {
			b.Fatalf("publish: %v", err)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			b.Fatalf("round %d: %d of %d delivered", rounds, delivered.Load(), target.Load())
		}
	}
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	runtime.ReadMemStats(&ms1)
	deliveries := float64(rounds * fanoutSubscribers)
	b.ReportMetric(float64(elapsed.Nanoseconds())/deliveries, "ns/delivery")
	b.ReportMetric(float64(cpu.Nanoseconds())/deliveries, "cpu-ns/delivery")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/deliveries, "allocs/delivery")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/deliveries, "B/delivery")
	b.ReportMetric(float64(wire.Load())/deliveries, "wire-B/delivery")
}

// processCPU is the CPU time (user and system) the process has used: the
// server's and, in a benchmark, its clients'.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countingConn counts the bytes read through it.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// BenchmarkParseCommand parses a typical publish frame.
func BenchmarkParseCommand(b *testing.B) {
	frame := []byte(`{"id":42,"action":"publish","channel":"chat:lobby","data":{"text":"hello, world","n":1,"tags":["a","b"]}}`)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := protocol.ParseCommand(frame); err != nil {
			b.Fatal(err)
		}
	})
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := protocol.ParseCommand(frame); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(allocs, "allocs/parse")
}

// BenchmarkHandshake measures one authenticated upgrade over loopback:
// connect, upgrade with an HS256 bearer token, read the welcome push, close.
func BenchmarkHandshake(b *testing.B) {
	ts := startBenchServer(b)
	tok := benchToken(b)
	b.ReportAllocs()
	for b.Loop() {
		ws, _, err := wstest.Dial(context.Background(), ts.addr, ts.request(tok), wstest.Options{})
		if err != nil {
			b.Fatalf("dial: %v", err)
		}
		if _, _, err := ws.ReadMessage(readTimeout); err != nil {
			b.Fatalf("welcome: %v", err)
		}
		_ = ws.Close()
	}
	b.StopTimer()
	for deadline := time.Now().Add(10 * time.Second); ts.s.Connections() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

// startBenchServer serves benchConfig on 127.0.0.1; cleanup shuts the
// server down, then closes the listener.
func startBenchServer(b *testing.B) *testServer {
	b.Helper()
	return startBenchServerWith(b, benchConfig())
}

// startBenchServerWith serves cfg like startBenchServer.
func startBenchServerWith(b *testing.B, cfg Config) *testServer {
	b.Helper()
	s, err := New(cfg)
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(s)
	b.Cleanup(ts.Close)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			b.Errorf("Shutdown: %v", err)
		}
	})
	return &testServer{s: s, ts: ts, addr: strings.TrimPrefix(ts.URL, "http://")}
}

func benchToken(b *testing.B) string {
	b.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims("bench", 24*time.Hour, "user")).SignedString(testSecret)
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// subscribeRaw connects, reads the welcome, subscribes to channel and reads
// the reply; after that nothing is buffered, so the socket can be read raw.
func subscribeRaw(b *testing.B, ts *testServer, req *wstest.Request, channel string) *wstest.Conn {
	b.Helper()
	ws, _, err := wstest.Dial(context.Background(), ts.addr, req, wstest.Options{})
	if err != nil {
		b.Fatalf("dial: %v", err)
	}
	b.Cleanup(func() { _ = ws.Close() })
	if _, _, err := ws.ReadMessage(readTimeout); err != nil {
		b.Fatalf("welcome: %v", err)
	}
	if err := ws.WriteText(fmt.Sprintf(`{"id":1,"action":"subscribe","channel":%q}`, channel)); err != nil {
		b.Fatalf("subscribe: %v", err)
	}
	_, reply, err := ws.ReadMessage(readTimeout)
	if err != nil || !strings.HasPrefix(string(reply), `{"id":1,"result"`) {
		b.Fatalf("subscribe reply %s: %v", reply, err)
	}
	return ws
}

// drainFrames reads server frames from nc until it fails, calling onFrame
// for each complete text frame. It allocates once.
func drainFrames(nc net.Conn, onFrame func()) {
	buf := make([]byte, 32<<10)
	var (
		start, end int
		skip       uint64 // payload bytes of the current frame still to come
		inFrame    bool
		text       bool
	)
	for {
		n, err := nc.Read(buf[end:])
		if err != nil {
			return
		}
		end += n
		for {
			if inFrame {
				k := min(skip, uint64(end-start))
				start += int(k)
				if skip -= k; skip > 0 {
					break
				}
				inFrame = false
				if text {
					onFrame()
				}
				continue
			}
			hl, length, ok := frameHeader(buf[start:end])
			if !ok {
				break
			}
			text = buf[start]&0x0F == 0x1
			start += hl
			skip, inFrame = length, true
		}
		copy(buf, buf[start:end])
		end -= start
		start = 0
	}
}

// frameHeader parses an unmasked server frame header: its length and the
// payload's, or ok false when more bytes are needed.
func frameHeader(p []byte) (hl int, length uint64, ok bool) {
	if len(p) < 2 {
		return 0, 0, false
	}
	switch l := p[1] & 0x7F; l {
	case 126:
		if len(p) < 4 {
			return 0, 0, false
		}
		return 4, uint64(binary.BigEndian.Uint16(p[2:])), true
	case 127:
		if len(p) < 10 {
			return 0, 0, false
		}
		return 10, binary.BigEndian.Uint64(p[2:]), true
	default:
		return 2, uint64(l), true
	}
}
