package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/policy"
)

var benchTestSecret = []byte("bench-test-secret-0123456789abcdef-0123456789")

// startBenchTarget serves a rampart server on 127.0.0.1 whose limits let a
// small bench through, with presence kept on the bench channels; cleanup
// shuts it down.
func startBenchTarget(t *testing.T) (string, *rampart.Server) {
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
		Channels: []policy.Rule{{Pattern: "bench:*", Subscribe: []string{policy.RoleAny}, Publish: []string{policy.RoleAny}, Presence: true}},
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
	return "ws://" + strings.TrimPrefix(ts.URL, "http://") + "/ws", srv
}

// testOptions is a small run of mode against url, with this process as
// the "server" whose CPU and memory are read.
func testOptions(t *testing.T, url, mode string) Options {
	t.Helper()
	sources, err := ParseSources("127.0.0.2-127.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	return Options{
		URL: url, Mode: mode, Label: "test", Conns: 20, Channel: "bench:test", Channels: 1, Users: 5,
		Sources: sources, Concurrency: 8, Duration: time.Second, Rate: 50, RateStep: 50, RateMax: 50,
		P99Limit: 10 * time.Second, Size: 100, Loops: 4, Handshakes: 40, Procs: 1, Timeout: time.Minute,
		Drain: 10 * time.Second, ServerPID: os.Getpid(), Secret: benchTestSecret,
	}
}

// runReport runs o and returns its one JSON line, decoded and as a map
// (to check which fields are present).
func runReport(t *testing.T, ctx context.Context, o Options) (Report, map[string]any) {
	t.Helper()
	var out, log bytes.Buffer
	o.Log = &log
	if err := Run(ctx, o, &out); err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, log.String())
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("stdout has %d lines, want one JSON line:\n%s", len(lines), out.String())
	}
	var r Report
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &r); err != nil {
		t.Fatalf("report: %v\n%s", err, lines[0])
	}
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	if r.Mode != o.Mode || r.Label != "test" || r.Start.IsZero() || r.Params.URL != o.URL || r.Params.ServerPID != o.ServerPID {
		t.Errorf("report header: %s", lines[0])
	}
	t.Logf("%s", lines[0])
	return r, m
}

// hasKeys fails unless the object m[obj] has every key.
func hasKeys(t *testing.T, m map[string]any, obj string, keys ...string) {
	t.Helper()
	o, ok := m[obj].(map[string]any)
	if !ok {
		t.Fatalf("no %q object in %v", obj, m)
	}
	for _, k := range keys {
		if _, ok := o[k]; !ok {
			t.Errorf("%s lacks %q: %v", obj, k, o)
		}
	}
}

func TestBenchFanoutDeliversEverything(t *testing.T) {
	url, _ := startBenchTarget(t)
	r, m := runReport(t, context.Background(), testOptions(t, url, ModeFanout))
	f := r.Fanout
	if f == nil || r.Idle != nil || r.Ramp != nil || r.Handshake != nil {
		t.Fatalf("want only the fanout result: %+v", r)
	}
	hasKeys(t, m, "fanout", "rate", "expected", "received", "lost", "deliveries_per_s", "p50_ms", "p99_ms", "server_cpu_us_per_delivery")
	if f.Published != 50 || f.Refused != 0 {
		t.Fatalf("published %d, refused %d (%s); want 50, 0", f.Published, f.Refused, f.FirstRefusal)
	}
	if f.Expected != 1000 || f.Received != 1000 || f.Lost != 0 || f.Duplicates != 0 || f.Gaps != 0 || f.Closed != 0 {
		t.Fatalf("deliveries: %+v", *f)
	}
	if f.P50MS > f.P99MS || f.P99MS > f.MaxMS || f.MaxMS <= 0 || f.DeliveriesPerS <= 0 || f.ServerCPUUSPerDelivery < 0 {
		t.Errorf("numbers out of order: %+v", *f)
	}
}

func TestRampStopsAtTheFirstFailingStep(t *testing.T) {
	url, _ := startBenchTarget(t)
	o := testOptions(t, url, ModeRamp)
	o.Duration, o.Rate, o.RateStep, o.RateMax = 200*time.Millisecond, 20, 20, 100
	o.P99Limit = time.Nanosecond // no delivery is that fast
	r, m := runReport(t, context.Background(), o)
	hasKeys(t, m, "ramp", "steps", "best")
	if r.Ramp == nil || len(r.Ramp.Steps) != 1 || r.Ramp.Best != nil {
		t.Fatalf("want one failed step and no best: %+v", r.Ramp)
	}
	s := r.Ramp.Steps[0]
	if s.Rate != 20 || !strings.Contains(s.Failed, "p99") || s.Lost != 0 || s.Received == 0 || s.Received != s.Expected {
		t.Errorf("step: %+v", s)
	}
}

func TestRampClimbsWhileStepsPass(t *testing.T) {
	url, _ := startBenchTarget(t)
	o := testOptions(t, url, ModeRamp)
	o.Duration, o.Rate, o.RateStep, o.RateMax = 200*time.Millisecond, 10, 10, 30
	r, _ := runReport(t, context.Background(), o)
	if r.Ramp == nil || len(r.Ramp.Steps) != 3 || r.Ramp.Best == nil || r.Ramp.Best.Rate != 30 {
		t.Fatalf("want three passing steps, the best at 30/s: %+v", r.Ramp)
	}
	for i, s := range r.Ramp.Steps {
		want := uint64(20 * (10 * (i + 1) / 5)) // 20 subscribers, rate x 0.2 s publications
		if s.Failed != "" || s.Rate != 10*(i+1) || s.Received != want || s.Expected != want || s.P99MS <= 0 {
			t.Errorf("step %d: want %d deliveries, passing: %+v", i, want, s)
		}
	}
	if r.Params.RateStep != 10 || r.Params.RateMax != 30 || r.Params.P99LimitMS != 10000 {
		t.Errorf("params: %+v", r.Params)
	}
}

func TestHandshakeLoopsCountEveryWelcome(t *testing.T) {
	url, srv := startBenchTarget(t)
	o := testOptions(t, url, ModeHandshake)
	o.Duration = 5 * time.Second
	r, m := runReport(t, context.Background(), o)
	hasKeys(t, m, "handshake", "handshakes", "errors", "elapsed_s", "handshakes_per_s", "p99_ms", "server_cpu_us_per_handshake")
	h := r.Handshake
	if h == nil || h.Handshakes < 1 || h.Handshakes > 40 || h.Errors != 0 || h.FirstError != "" || h.PerS <= 0 || h.P50MS > h.P99MS {
		t.Fatalf("handshake result: %+v", h)
	}
	if r.Params.Loops != 4 || r.Params.Handshakes != 40 || r.Params.Conns != 0 {
		t.Errorf("params: %+v", r.Params)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.Connections() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := srv.Connections(); n != 0 {
		t.Errorf("%d connections still open on the server after the loops", n)
	}
}

// Each idle connection subscribes to a channel of its own: the server's
// presence on each channel is exactly one client, a different one each.
func TestIdleChannelPerConnection(t *testing.T) {
	url, srv := startBenchTarget(t)
	o := testOptions(t, url, ModeIdle)
	o.Conns, o.Channel, o.ChannelPerConn, o.Duration = 12, "bench:own", true, time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type outcome struct {
		r   Report
		m   map[string]any
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		var out bytes.Buffer
		err := Run(ctx, o, &out)
		var oc outcome
		oc.err = err
		if err == nil {
			oc.err = json.Unmarshal(out.Bytes(), &oc.r)
			_ = json.Unmarshal(out.Bytes(), &oc.m)
		}
		done <- oc
	}()
	clients := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < o.Conns; {
		p, err := srv.Presence(context.Background(), "bench:own."+strconv.Itoa(i))
		switch {
		case err != nil:
			t.Fatalf("presence of bench:own.%d: %v", i, err)
		case len(p) == 1:
			if clients[p[0].Client] {
				t.Fatalf("client %s is on two channels", p[0].Client)
			}
			clients[p[0].Client] = true
			i++
			continue
		case len(p) > 1:
			t.Fatalf("bench:own.%d has %d clients, want 1", i, len(p))
		case time.Now().After(deadline):
			t.Fatalf("bench:own.%d: nobody subscribed within 30s", i)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p, _ := srv.Presence(context.Background(), "bench:own"); len(p) != 0 {
		t.Errorf("the prefix itself has subscribers: %v", p)
	}
	cancel() // ends the hold early: the run still reports
	oc := <-done
	if oc.err != nil {
		t.Fatalf("Run: %v", oc.err)
	}
	hasKeys(t, oc.m, "idle", "opened", "open_s", "conns_per_s", "held_s", "closed_by_server", "rss_before_kib", "rss_after_kib", "server_kib_per_conn")
	i := oc.r.Idle
	if i == nil || i.Opened != 12 || i.OpenS <= 0 || i.ConnsPerS <= 0 || i.ClosedByServer != 0 || i.RSSBeforeKiB <= 0 || i.RSSAfterKiB <= 0 {
		t.Errorf("idle result: %+v", i)
	}
	if p := oc.r.Params; p.Channels != 12 || !p.ChannelPerConn || p.Conns != 12 {
		t.Errorf("params: %+v", p)
	}
}

func TestChannelOf(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		i    int
		want string
	}{
		{Options{Mode: ModeIdle, Channel: "c", Channels: 1}, 7, "c"},
		{Options{Mode: ModeIdle, Channel: "c", Channels: 4}, 7, "c.3"},
		{Options{Mode: ModeIdle, Channel: "c", Channels: 4, ChannelPerConn: true}, 7, "c.7"},
		{Options{Mode: ModeFanout, Channel: "c", Channels: 4, ChannelPerConn: true}, 7, "c"},
	} {
		if got := tc.o.channelOf(tc.i); got != tc.want {
			t.Errorf("%+v: channel of %d is %q, want %q", tc.o, tc.i, got, tc.want)
		}
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
	url, _ := startBenchTarget(t)
	o := testOptions(t, url, ModeIdle)
	o.Conns, o.Channel, o.Channels, o.Duration, o.ServerPID = 6, "bench:idle", 2, 100*time.Millisecond, 0
	r, m := runReport(t, context.Background(), o)
	if r.Idle == nil || r.Idle.Opened != 6 || r.Idle.ClosedByServer != 0 || r.Idle.HeldS < 0.1 || r.Params.Channels != 2 {
		t.Errorf("report: %+v", r.Idle)
	}
	if _, ok := m["idle"].(map[string]any)["rss_before_kib"]; ok {
		t.Error("memory reported without --server-pid")
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
	ramp := testOptions(t, "ws://127.0.0.1:1/ws", ModeRamp)
	ramp.RateStep, ramp.P99Limit = 0, 0
	hs := testOptions(t, "ws://127.0.0.1:1/ws", ModeHandshake)
	hs.Loops, hs.Handshakes = 0, 0
	for o, want := range map[*Options]string{&ramp: "--rate-step", &hs: "--loops"} {
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Validate said %v, want %s", o.Mode, err, want)
		}
	}
}

func TestChildArgsCarryTheSplit(t *testing.T) {
	sources, _ := ParseSources("127.0.0.2-127.0.0.3")
	o := Options{URL: "ws://127.0.0.1:1/ws", Mode: ModeRamp, Conns: 7, First: 14, Channel: "bench:c", Users: 3,
		Sources: sources, Concurrency: 2, Duration: time.Second, Drain: 2 * time.Second, Timeout: 3*time.Minute + time.Second}
	got := strings.Join(ChildArgs(o), " ")
	for _, want := range []string{"bench --role child --mode fanout", "--conns 7 --first 14",
		"--sources 127.0.0.2,127.0.0.3", "--timeout 3m1s", "--secret-env " + childSecretEnv} {
		if !strings.Contains(got, want) {
			t.Errorf("ChildArgs lacks %q: %s", want, got)
		}
	}
}

// The children's shares cover the connections, loops and handshakes once
// each, numbered on from one another.
func TestShareSplitsTheLoad(t *testing.T) {
	o := Options{Mode: ModeHandshake, Procs: 3, First: 5, Conns: 10, Loops: 64, Handshakes: 1000}
	var loops, hs int
	next := 5
	for p := range 3 {
		s := o.share(p)
		if s.Procs != 1 || s.First != next {
			t.Errorf("share %d: %+v, want first %d", p, s, next)
		}
		next += s.Handshakes
		loops, hs = loops+s.Loops, hs+s.Handshakes
	}
	if loops != 64 || hs != 1000 {
		t.Errorf("shares sum to %d loops, %d handshakes", loops, hs)
	}
	o.Mode, next = ModeIdle, 5
	conns := 0
	for p := range 3 {
		s := o.share(p)
		if s.First != next {
			t.Errorf("idle share %d starts at %d, want %d", p, s.First, next)
		}
		next += s.Conns
		conns += s.Conns
	}
	if conns != 10 {
		t.Errorf("idle shares sum to %d connections", conns)
	}
}

// The floor server answers the handshake loops like a server would: every
// loop gets its welcome, the accept key checks out (the client verifies
// it), and nothing is left open.
func TestHandshakeLoopsAgainstTheFloor(t *testing.T) {
	floors := []struct {
		name  string
		serve func(net.Listener) error
	}{
		{"raw", ServeFloor},
		{"http", func(ln net.Listener) error { return ServeFloorHTTP(ln, nil) }},
		{"token", func(ln net.Listener) error { return ServeFloorHTTP(ln, []byte(benchTestSecret)) }},
	}
	for _, f := range floors {
		t.Run(f.name, func(t *testing.T) {
			r := handshakesAgainst(t, f.serve)
			if h := r.Handshake; h == nil || h.Handshakes != 40 || h.Errors != 0 || h.FirstError != "" {
				t.Fatalf("handshake result against the floor: %+v", h)
			}
		})
	}
	// The token floor checks the token: under another secret, every
	// handshake is refused.
	t.Run("token refused", func(t *testing.T) {
		other := []byte(strings.Repeat("x", len(benchTestSecret)))
		r := handshakesAgainst(t, func(ln net.Listener) error { return ServeFloorHTTP(ln, other) })
		if h := r.Handshake; h == nil || h.Errors == 0 || h.Handshakes != 0 || !strings.Contains(h.FirstError, "401") {
			t.Fatalf("handshakes with tokens the floor must refuse: %+v", h)
		}
	})
}

// handshakesAgainst runs the handshake loops against a floor serving a
// loopback listener, and checks that the floor stops when it is closed.
func handshakesAgainst(t *testing.T, serve func(net.Listener) error) Report {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- serve(ln) }()
	o := testOptions(t, "ws://"+ln.Addr().String()+"/ws", ModeHandshake)
	o.Duration = 5 * time.Second
	r, _ := runReport(t, context.Background(), o)
	ln.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("the floor: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the floor did not return after its listener closed")
	}
	return r
}
