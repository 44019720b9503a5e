package bench

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/policy"
)

var benchTestSecret = []byte("bench-test-secret-0123456789abcdef-0123456789")

// startBenchTarget serves a rampart server on 127.0.0.1 whose limits let a
// small bench through; cleanup shuts it down.
func startBenchTarget(t *testing.T) string {
	t.Helper()
	srv, err := rampart.New(rampart.Config{
		Origins: rampart.Origins{AllowMissing: true},
		Auth:    rampart.Auth{HMACSecret: benchTestSecret},
		Limits: rampart.Limits{
			MaxConnectionsPerIP:   1000,
			MaxConnectionsPerUser: 1000,
			HandshakesPerIPPerMin: 100000,
			MessagesPerMinute:     100000,
			Burst:                 1000,
		},
		Channels: []policy.Rule{{Pattern: "bench:*", Subscribe: []string{policy.RoleAny}, Publish: []string{policy.RoleAny}}},
	})
	if err != nil {
		t.Fatalf("rampart.New: %v", err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return "ws://" + strings.TrimPrefix(ts.URL, "http://") + "/ws"
}

func TestBenchFanoutDeliversEverything(t *testing.T) {
	sources, err := ParseSources("127.0.0.2-127.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Options{
		URL: startBenchTarget(t), Mode: "fanout", Conns: 20, Channel: "bench:test", Channels: 1,
		Users: 5, Sources: sources, Concurrency: 8, Duration: time.Second, Rate: 50, Size: 100,
		Procs: 1, Timeout: time.Minute, Drain: 10 * time.Second, Secret: benchTestSecret,
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	r, err := runFanout(ctx, cfg.withDefaults())
	if err != nil {
		t.Fatalf("runFanout: %v", err)
	}
	if r.Published != 50 || r.PublishErrors != 0 {
		t.Fatalf("published %d, refused %d (%s); want 50, 0", r.Published, r.PublishErrors, r.FirstErr)
	}
	if r.Expected != 1000 || r.Received != 1000 || r.Lost != 0 || r.Duplicates != 0 || r.Gaps != 0 || r.Closed != 0 {
		t.Fatalf("deliveries: %+v", *r)
	}
	if n := r.Latency.total(); n != 1000 {
		t.Errorf("latency samples %d, want 1000", n)
	}
	p50, p99, top := r.Latency.quantile(0.5), r.Latency.quantile(0.99), r.Latency.quantile(1)
	if p50 > p99 || p99 > top || top <= 0 || r.DeliveriesPerSecond() <= 0 {
		t.Errorf("numbers out of order: p50 %s p99 %s max %s, %.0f/s", p50, p99, top, r.DeliveriesPerSecond())
	}
	var out strings.Builder
	r.print(&out)
	if !strings.Contains(out.String(), "deliveries: 1000 of 1000 (lost 0, duplicates 0") {
		t.Errorf("report:\n%s", out.String())
	}
}

func TestBenchRefusesNonLoopbackTargets(t *testing.T) {
	for _, u := range []string{"ws://10.0.0.1:8080/ws", "ws://example.com/ws", "http://127.0.0.1/ws", "ws://[::ffff:8.8.8.8]/ws"} {
		if checkLoopbackURL(u) == nil {
			t.Errorf("checkLoopbackURL(%q) accepted it", u)
		}
	}
	for _, u := range []string{"ws://127.0.0.1:8080/ws", "ws://localhost:1/ws", "ws://[::1]:8080/ws", "ws://127.9.9.9/ws"} {
		if err := checkLoopbackURL(u); err != nil {
			t.Errorf("checkLoopbackURL(%q): %v", u, err)
		}
	}
	for _, s := range []string{"10.0.0.1", "127.0.0.5-127.0.0.2", "127.0.0.2-192.168.0.1", ""} {
		if _, err := ParseSources(s); err == nil {
			t.Errorf("ParseSources(%q) accepted it", s)
		}
	}
	if a, err := ParseSources("127.0.0.2-127.0.0.50"); err != nil || len(a) != 49 {
		t.Errorf("parseSources range: %d addresses, %v", len(a), err)
	}
}

func TestHistogramBuckets(t *testing.T) {
	for _, us := range []uint64{0, 1, 127, 128, 255, 256, 1000, 123456, 1 << 40} {
		i := bucketOf(us)
		lo := bucketValue(i)
		if lo > us || (i+1 < histBuckets && bucketValue(i+1) <= us) {
			t.Errorf("%d µs: bucket %d starts at %d, next at %d", us, i, lo, bucketValue(i+1))
		}
		if us >= 128 && float64(us-lo)/float64(us) > 0.01 {
			t.Errorf("%d µs: bucket start %d is over 1%% off", us, lo)
		}
	}
}

func TestRunIdleHoldsAndReports(t *testing.T) {
	sources, err := ParseSources("127.0.0.2,127.0.0.3")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		URL: startBenchTarget(t), Mode: "idle", Conns: 6, Channel: "bench:idle", Channels: 2,
		Users: 3, Sources: sources, Concurrency: 4, Duration: 100 * time.Millisecond, Rate: 1, Size: 32,
		Procs: 1, Secret: benchTestSecret,
	}
	var out strings.Builder
	if err := Run(context.Background(), o, &out); err != nil {
		t.Fatalf("Run: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "idle: 6 connections open and subscribed in ") ||
		!strings.HasSuffix(lines[1], "; 0 closed meanwhile by the server") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := Options{URL: "ws://10.0.0.1/ws", Mode: "burst"}.Validate()
	if err == nil {
		t.Fatal("Validate accepted empty options")
	}
	for _, want := range []string{"--url", "--mode", "--conns", "--procs", "--duration", "--rate", "--users", "HMAC secret", "--sources"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate's error lacks %s:\n%v", want, err)
		}
	}
	if err := Run(context.Background(), Options{}, io.Discard); err == nil {
		t.Error("Run ran with empty options")
	}
}

func TestChildArgsCarryTheSplit(t *testing.T) {
	sources, _ := ParseSources("127.0.0.2-127.0.0.3")
	args := ChildArgs(Options{URL: "ws://127.0.0.1:1/ws", Conns: 7, First: 14, Channel: "bench:c", Users: 3,
		Sources: sources, Concurrency: 2, Duration: time.Second, Drain: 2 * time.Second})
	got := strings.Join(args, " ")
	for _, want := range []string{"bench --role subscribers --mode fanout", "--subscribers 7 --first 14",
		"--sources 127.0.0.2,127.0.0.3", "--timeout 3m1s", "--secret-env " + childSecretEnv} {
		if !strings.Contains(got, want) {
			t.Errorf("ChildArgs lacks %q: %s", want, got)
		}
	}
}
