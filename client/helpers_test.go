package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/client"
	"github.com/rampart-rt/rampart/policy"
)

// TestMain fails the package when a goroutine of a client or a server
// outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testSecret = []byte("client-test-secret-0123456789abcdef-012345")

// waitFor bounds every wait for something the server or client owes us.
const waitFor = 10 * time.Second

var testRules = []policy.Rule{
	{Pattern: "chat:*", Subscribe: []string{"*"}, Publish: []string{"*"}, History: policy.History{Size: 100}},
	{Pattern: "gap:*", Subscribe: []string{"*"}, Publish: []string{"*"}, History: policy.History{Size: 5}},
	{Pattern: "news:*", Subscribe: []string{"*"}, Publish: []string{"admin"}, History: policy.History{Size: 10}},
}

// testServer is a real Rampart server on 127.0.0.1, behind a listener that
// remembers the connections it accepted, so a test can cut them.
type testServer struct {
	url  string // of the WebSocket endpoint
	base string // http://host:port, for the HTTP API
	ln   *trackingListener
	s    *rampart.Server
	cfg  rampart.Config // as given to rampart.New, for Reload
}

// testAPIKey is the HTTP API's key on every test server.
const testAPIKey = "client-test-api-key-0123456789abcdef"

// startServer starts a server; edit (may be nil) changes its config.
// Cleanup shuts it down and closes the listener.
func startServer(t *testing.T, edit func(*rampart.Config)) *testServer {
	t.Helper()
	ts, srv := newServer(t, edit)
	ts.Start()
	srv.base = ts.URL
	srv.url = "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws"
	return srv
}

// newServer returns a server not yet started: Start or StartTLS it.
func newServer(t *testing.T, edit func(*rampart.Config)) (*httptest.Server, *testServer) {
	t.Helper()
	cfg := rampart.Config{
		Origins: rampart.Origins{AllowMissing: true},
		Auth:    rampart.Auth{HMACSecret: testSecret},
		Limits: rampart.Limits{
			MaxConnectionsPerIP:   100,
			MaxConnectionsPerUser: 100,
			HandshakesPerIPPerMin: 10000,
			MessagesPerMinute:     100000,
			Burst:                 10000,
			ShutdownSpread:        5 * time.Millisecond,
		},
		Channels: testRules,
		API:      rampart.API{Keys: []string{testAPIKey}},
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := rampart.New(cfg)
	if err != nil {
		t.Fatalf("rampart.New: %v", err)
	}
	ts := httptest.NewUnstartedServer(s)
	ln := &trackingListener{Listener: ts.Listener}
	ts.Listener = ln
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return ts, &testServer{ln: ln, s: s, cfg: cfg}
}

// api calls the server's HTTP API: POST path with body (JSON-encoded),
// failing the test unless it answers 200, and decodes the answer into out.
func (s *testServer) api(t *testing.T, path string, body, out any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatalf("encoding the body of %s: %v", path, err)
	}
	req, err := http.NewRequestWithContext(ctxFor(t), http.MethodPost, s.base+path, bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	req.Header.Set("Content-Type", "application/json")
	req.Close = true // no idle connection outlives the test
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s answered %d: %s", path, resp.StatusCode, answer)
	}
	if err := json.Unmarshal(answer, out); err != nil {
		t.Fatalf("POST %s answered %s: %v", path, answer, err)
	}
}

// trackingListener remembers accepted connections until taken, and can
// make the server stop reading them.
type trackingListener struct {
	net.Listener
	stallNew atomic.Bool // the server reads nothing of the connections accepted while set
	mu       sync.Mutex
	conns    []*stallConn
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &stallConn{Conn: c, closed: make(chan struct{})}
	sc.stalled.Store(l.stallNew.Load())
	l.mu.Lock()
	l.conns = append(l.conns, sc)
	l.mu.Unlock()
	return sc, nil
}

// take returns the connections accepted since the last take.
func (l *trackingListener) take() []net.Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]net.Conn, len(l.conns))
	for i, c := range l.conns {
		out[i] = c
	}
	l.conns = nil
	return out
}

// stall makes the server stop reading conns (from take): what the client
// sends stays in the sockets' buffers, as with a server that hangs.
func stall(conns []net.Conn) {
	for _, c := range conns {
		c.(*stallConn).stalled.Store(true)
	}
}

// stallConn is an accepted connection whose reads stop once stalled, until
// it is closed.
type stallConn struct {
	net.Conn
	stalled   atomic.Bool
	closed    chan struct{}
	closeOnce sync.Once
}

func (c *stallConn) Read(b []byte) (int, error) {
	if c.stalled.Load() {
		<-c.closed
		return 0, net.ErrClosed
	}
	return c.Conn.Read(b)
}

func (c *stallConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// cut closes conns from the server side, without a close frame.
func cut(conns []net.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// mint signs an HS256 token for sub lasting ttl.
func mint(t testing.TB, sub string, ttl time.Duration, roles ...string) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{"sub": sub, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	if roles != nil {
		claims["roles"] = roles
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(testSecret)
	if err != nil {
		t.Fatalf("signing a token: %v", err)
	}
	return tok
}

// staticToken returns a Token func that always gives tok.
func staticToken(tok string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return tok, nil }
}

// dial connects with cfg (URL and, when unset, a token for sub filled in)
// and closes the client at cleanup.
func (s *testServer) dial(t *testing.T, sub string, cfg client.Config) *client.Client {
	t.Helper()
	cfg.URL = s.url
	if cfg.Token == nil {
		cfg.Token = staticToken(mint(t, sub, time.Hour))
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// collector records what a subscription's handlers see.
type collector struct {
	mu      sync.Mutex
	pubs    []client.Publication
	events  []string // "pub", "lost", "end", in order
	reasons []string // given to OnUnsubscribed
	more    chan struct{}
}

func newCollector() *collector { return &collector{more: make(chan struct{}, 1)} }

func (c *collector) publication(p client.Publication) {
	c.mu.Lock()
	c.pubs = append(c.pubs, p)
	c.events = append(c.events, "pub")
	c.mu.Unlock()
	c.poke()
}

func (c *collector) lost(lost, now client.Position) {
	c.mu.Lock()
	c.events = append(c.events, "lost")
	c.mu.Unlock()
	c.poke()
}

func (c *collector) end(reason string) {
	c.mu.Lock()
	c.events = append(c.events, "end")
	c.reasons = append(c.reasons, reason)
	c.mu.Unlock()
	c.poke()
}

// waitEnd waits until the subscription ended, and returns the reason.
func (c *collector) waitEnd(t *testing.T) string {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		c.mu.Lock()
		reasons := c.reasons
		c.mu.Unlock()
		if len(reasons) > 0 {
			return reasons[0]
		}
		select {
		case <-c.more:
		case <-deadline:
			t.Fatal("the subscription did not end")
		}
	}
}

func (c *collector) poke() {
	select {
	case c.more <- struct{}{}:
	default:
	}
}

func (c *collector) snapshot() ([]client.Publication, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]client.Publication(nil), c.pubs...), append([]string(nil), c.events...)
}

// waitPubs waits until n publications were handled.
func (c *collector) waitPubs(t *testing.T, n int) []client.Publication {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		pubs, _ := c.snapshot()
		if len(pubs) >= n {
			return pubs
		}
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("handled %d publications, want %d", len(pubs), n)
		}
	}
}

// offsets returns the offsets of pubs.
func offsets(pubs []client.Publication) []uint64 {
	out := make([]uint64, len(pubs))
	for i, p := range pubs {
		out[i] = p.Offset
	}
	return out
}

// checkSequence fails unless pubs have offsets from..to, each once, in order.
func checkSequence(t *testing.T, pubs []client.Publication, from, to uint64) {
	t.Helper()
	if uint64(len(pubs)) != to-from+1 {
		t.Fatalf("got %d publications %v, want offsets %d..%d", len(pubs), offsets(pubs), from, to)
	}
	for i, p := range pubs {
		if p.Offset != from+uint64(i) {
			t.Fatalf("publication %d has offset %d, want %d (all: %v)", i, p.Offset, from+uint64(i), offsets(pubs))
		}
	}
}

// states records a client's state changes.
type states struct {
	mu   sync.Mutex
	seen []client.State
}

func (s *states) record(st client.State) {
	s.mu.Lock()
	s.seen = append(s.seen, st)
	s.mu.Unlock()
}

func (s *states) count(st client.State) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, x := range s.seen {
		if x == st {
			n++
		}
	}
	return n
}

// eventually polls cond until it holds or the wait is over.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logRecorder is a slog.Handler that keeps every record's message and
// attributes, for tests that check what the client did on its own.
type logRecorder struct {
	mu   sync.Mutex
	recs []map[string]any
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.Any()
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, m)
	l.mu.Unlock()
	return nil
}

// find returns the records with message msg.
func (l *logRecorder) find(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, m := range l.recs {
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}
