package rampart

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sys/unix"

	"github.com/rampart-rt/rampart/internal/wstest"
	"github.com/rampart-rt/rampart/limits"
	"github.com/rampart-rt/rampart/policy"
)

// The connection's life, as an attacker tests it: admission under a burst,
// what a kicked connection can still do, the write deadline of a client
// that never reads, {sub} aliasing, and whether a refusal can be found in
// the log.

// bigHistory fills chat:big with 100 publications of about 60 KB: one
// history call then answers about 6 MB, more than the kernel buffers of a
// client that does not read, so the server's writer blocks on it.
func bigHistory(t *testing.T, s *testServer) {
	t.Helper()
	p := s.dial(t, token(t, "filler"))
	data := `"` + strings.Repeat("x", 60000) + `"`
	for range 100 {
		p.publish("chat:big", data)
	}
}

func bigConfig(c *Config) {
	c.Limits.MaxMessageBytes = 64 << 10
	c.API.Keys = []string{apiKeyA}
}

// stall makes c ask for the big history without reading the answer, and
// waits until the answer starts to arrive: the server's writer is then in
// a write that stays blocked for limits.write_timeout.
func stall(t *testing.T, c *client) {
	t.Helper()
	c.send(`{"id":1000,"action":"history","channel":"chat:big","limit":100}`)
	waitFor(t, "the history answer to arrive", func() bool { return unread(t, c.ws.NetConn()) > 0 })
}

// unread is how many bytes wait in nc's receive buffer.
func unread(t *testing.T, nc net.Conn) int {
	t.Helper()
	raw, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ierr error
	if err := raw.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCINQ) }); err != nil || ierr != nil {
		t.Fatalf("FIONREAD: %v %v", err, ierr)
	}
	return n
}

// Once a close is decided (here by the HTTP API), no further command of
// that connection runs, even while its writer is still blocked sending to
// a client that does not read.
func TestKickedConnectionRunsNoMoreCommands(t *testing.T) {
	s := startServer(t, func(c *Config) {
		bigConfig(c)
		c.Limits.WriteTimeout = 3 * time.Second
	})
	bigHistory(t, s)
	watcher := s.dial(t, token(t, "watcher"))
	watcher.subscribe("chat:watch")
	m := s.dialWith(t, s.request(token(t, "mallory")), wstest.Options{ReadBuffer: 4096})
	m.publish("chat:watch", `"before"`) // reaches the watcher: the client works
	stall(t, m)
	status, body, _ := s.apiCall(t, "POST", "/api/disconnect", apiKeyA, `{"user":"mallory","code":4100,"reason":"banned"}`)
	if status != 200 || body["disconnected"] != 1.0 {
		t.Fatalf("disconnect: %d %v", status, body)
	}
	for i := range 20 {
		m.send(fmt.Sprintf(`{"id":%d,"action":"publish","channel":"chat:watch","data":"after %d"}`, 2000+i, i))
	}
	// The writer gives up within write_timeout; the connection is then gone
	// and every frame it sent was read or dropped.
	deadline := time.Now().Add(15 * time.Second)
	for s.s.Connections() != 2 { // filler and watcher
		if time.Now().After(deadline) {
			t.Fatalf("the kicked connection is still open: %d connections", s.s.Connections())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var got []string
	for _, p := range append(watcher.backlog, watcher.barrier()...) {
		got = append(got, string(p.Data))
	}
	if len(got) != 1 || got[0] != `"before"` {
		t.Fatalf("the watcher received %v; only \"before\" was published before the kick", got)
	}
}

// A client that never reads but keeps answering pings is dropped once a
// write has been blocked for limits.write_timeout: the deadline is the
// writer's from its first byte, and nothing clears it.
func TestWriteDeadlineHoldsFromTheFirstByte(t *testing.T) {
	const timeout = 4 * time.Second
	s := startServer(t, func(c *Config) {
		bigConfig(c)
		c.Limits.WriteTimeout = timeout
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	const n = 48 // the old fault showed in a few of every 16
	for range n {
		// Subscribed, then never reading again; the subscription starts
		// right after the welcome, while its write deadline is fresh.
		m := s.dialWith(t, s.request(token(t, "mallory")), wstest.Options{ReadBuffer: 4096})
		m.subscribe("chat:flood")
		wg.Add(1)
		go func() { // proof of life without reading: an unsolicited pong now and then
			defer wg.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					if m.ws.WriteFrame(wstest.Frame{Opcode: wstest.OpPong}) != nil {
						return
					}
				}
			}
		}()
	}
	// About 6 MB to each of them: more than the kernel buffers hold, fewer
	// frames than send_queue, so only the write deadline can end them.
	p := s.dial(t, token(t, "publisher"))
	data := `"` + strings.Repeat("x", 60000) + `"`
	for range 100 {
		p.publish("chat:flood", data)
	}
	deadline := time.Now().Add(timeout + 10*time.Second)
	for s.s.Connections() != 1 { // the publisher
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d clients that never read are still connected after write_timeout", s.s.Connections()-1, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gatedLimiter is the server's own limiter with the latency of a cluster
// limiter: AcquireUser holds each handshake until `wait` of them are inside
// it (or a second has passed), so that a burst of handshakes is in flight
// together between the capacity check and the upgrade.
type gatedLimiter struct {
	*limits.Local
	wait    int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
}

func (g *gatedLimiter) AcquireUser(ctx context.Context, user string, max int) (bool, error) {
	g.mu.Lock()
	g.arrived++
	if g.arrived == g.wait {
		close(g.all)
	}
	g.mu.Unlock()
	select {
	case <-g.all:
	case <-time.After(time.Second):
	}
	return g.Local.AcquireUser(ctx, user, max)
}

// max_connections holds under a burst: the admission is counted before the
// (slow) token check and the per-user check.
func TestMaxConnectionsHoldsUnderABurst(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const max, n = 5, 100
	s := startServer(t, func(c *Config) {
		c.Auth = Auth{Algorithms: []string{"ES256"}, PublicKeys: []crypto.PublicKey{&key.PublicKey}}
		c.Limits.MaxConnections = max
		c.Limiter = &gatedLimiter{Local: limits.NewLocal(), wait: 2 * max, all: make(chan struct{})}
	})
	tok := mint(t, jwt.SigningMethodES256, key, claims("burst", time.Hour))
	var (
		start    = make(chan struct{})
		wg       sync.WaitGroup
		accepted atomic.Int32
		refused  atomic.Int32
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ws, resp, err := wstest.Dial(context.Background(), s.addr, s.request(tok), wstest.Options{})
			switch {
			case err == nil:
				accepted.Add(1)
				t.Cleanup(func() { ws.Close() })
			case resp != nil && resp.StatusCode == 503:
				refused.Add(1)
			default:
				t.Errorf("dial: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if accepted.Load() != max || refused.Load() != n-max {
		t.Fatalf("accepted %d, refused %d; want %d and %d", accepted.Load(), refused.Load(), max, n-max)
	}
	s.waitConnections(t, max)
}

// A user whose sub holds the segment separator cannot reach into another
// user's {sub} space.
func TestSubAliasingRefused(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.Channels = append([]policy.Rule{
			{Pattern: "inbox:{sub}:*", Subscribe: []string{"self"}, Publish: []string{"self"}, History: policy.History{Size: 10}},
		}, c.Channels...)
	})
	bob := s.dial(t, token(t, "bob"))
	bob.subscribe("inbox:bob:x:secret")
	bob.publish("inbox:bob:x:secret", `"for bob only"`)
	mallory := s.dial(t, token(t, "bob:x"))
	for _, action := range []string{"subscribe", "history", "presence"} {
		mallory.fails(action, `"channel":"inbox:bob:x:secret"`, "forbidden")
	}
	mallory.fails("publish", `"channel":"inbox:bob:x:secret","data":"spoof"`, "forbidden")
	if pushes := bob.barrier(); len(pushes) != 1 || string(pushes[0].Data) != `"for bob only"` {
		t.Fatalf("bob's channel got %d pushes", len(pushes))
	}
}

// Every error reply's request id is in exactly one log line, and that line
// tells the whole story: who, what, on which channel, why.
func TestRefusalsCanBeFoundByRequestID(t *testing.T) {
	logs := &logBuffer{}
	s := startServer(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		c.Limits.MaxViolations = 100
	})
	u := s.dialWith(t, func() *wstest.Request {
		r := s.request(token(t, "alice"))
		r.Header.Set("User-Agent", "attacker-agent/1.0")
		return r
	}(), wstest.Options{})
	cases := []struct {
		action, fields, code string
		want                 map[string]any
	}{
		{"subscribe", `"channel":"news:a"`, "forbidden", map[string]any{"event": "authz_denied", "channel": "news:a", "action": "subscribe", "user": "alice"}},
		{"publish", `"channel":"secret:x","data":1`, "forbidden", map[string]any{"event": "authz_denied", "channel": "secret:x", "action": "publish"}},
		{"unsubscribe", `"channel":"chat:none"`, "not_found", map[string]any{"channel": "chat:none", "action": "unsubscribe"}},
		{"rpc", `"method":"nope"`, "not_found", map[string]any{"method": "nope", "action": "rpc"}},
		{"refresh", `"token":"not-a-jwt"`, "unauthorized", map[string]any{"event": "token_refresh_failed", "action": "refresh"}},
		{"publish", `"channel":"chat:a"`, "bad_request", map[string]any{"action": "invalid"}},
	}
	for _, tc := range cases {
		e := u.fails(tc.action, tc.fields, tc.code)
		var lines []map[string]any
		for _, ev := range logs.events(t) {
			if ev["request_id"] == e.RequestID {
				lines = append(lines, ev)
			}
		}
		if len(lines) != 1 {
			t.Fatalf("%s %s: request id %s is in %d log lines, want 1", tc.action, tc.fields, e.RequestID, len(lines))
		}
		ev := lines[0]
		for k, v := range tc.want {
			if fmt.Sprint(ev[k]) != fmt.Sprint(v) {
				t.Errorf("%s %s: log %s = %v, want %v (line %v)", tc.action, tc.fields, k, ev[k], v, ev)
			}
		}
		for _, k := range []string{"client", "ip", "user", "reason", "code"} {
			if ev[k] == nil || ev[k] == "" {
				t.Errorf("%s %s: log line without %s: %v", tc.action, tc.fields, k, ev)
			}
		}
	}
	logs.find(t, "connection_opened", map[string]any{"user": "alice", "user_agent": "attacker-agent/1.0"})
}
