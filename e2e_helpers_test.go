package rampart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rampart-rt/rampart/internal/wstest"
	"github.com/rampart-rt/rampart/policy"
)

// Shared by the end-to-end tests (files e2e_*_test.go): a real server on
// 127.0.0.1 behind httptest, tokens minted with golang-jwt, and a JSON client
// on top of the raw wstest connection.

var testSecret = []byte("e2e-test-secret-0123456789abcdef-0123456789")

// readTimeout bounds every wait for a frame the server owes us.
const readTimeout = 5 * time.Second

// testRules are the channel rules every e2e server starts with.
var testRules = []policy.Rule{
	{Pattern: "chat:*", Subscribe: []string{"*"}, Publish: []string{"*"}, History: policy.History{Size: 100}},
	{Pattern: "small:*", Subscribe: []string{"*"}, Publish: []string{"*"}, History: policy.History{Size: 2}},
	{Pattern: "news:*", Subscribe: []string{"user", "admin"}, Publish: []string{"admin"}, History: policy.History{Size: 10}},
	{Pattern: "user:{sub}", Subscribe: []string{"self"}, Publish: []string{"self"}},
}

// baseConfig is generous everywhere a test does not look, so that only the
// limit under test can trip.
func baseConfig() Config {
	rememberSecret(string(testSecret))
	return Config{
		Logger:  runLogger(),
		Origins: Origins{AllowMissing: true},
		Auth:    Auth{HMACSecret: testSecret},
		Limits: Limits{
			MaxConnectionsPerIP:   1000,
			MaxConnectionsPerUser: 1000,
			HandshakesPerIPPerMin: 100000,
			MessagesPerMinute:     1 << 20,
			Burst:                 1 << 20,
			MaxViolations:         1000,
			ShutdownSpread:        5 * time.Millisecond,
		},
		Channels: testRules,
	}
}

type testServer struct {
	s    *Server
	ts   *httptest.Server
	addr string
}

// startServer starts a server with baseConfig changed by edit (may be nil).
// Cleanup shuts it down, then closes the listener.
func startServer(t *testing.T, edit func(*Config)) *testServer {
	t.Helper()
	cfg := baseConfig()
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return &testServer{s: s, ts: ts, addr: strings.TrimPrefix(ts.URL, "http://")}
}

// mint signs claims with method and key.
func mint(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("signing a token: %v", err)
	}
	return rememberSecret(tok)
}

// token mints a valid HS256 token for sub with roles, lasting an hour.
func token(t *testing.T, sub string, roles ...string) string {
	t.Helper()
	return mint(t, jwt.SigningMethodHS256, testSecret, claims(sub, time.Hour, roles...))
}

func claims(sub string, ttl time.Duration, roles ...string) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"sub": sub, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	if roles != nil {
		c["roles"] = roles
	}
	return c
}

// request is a valid upgrade request offering rampart.v1, with tok in the
// Authorization header when not empty.
func (s *testServer) request(tok string) *wstest.Request {
	req := wstest.NewRequest("/ws")
	req.Header.Set("Sec-WebSocket-Protocol", "rampart.v1")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return req
}

func (s *testServer) dialRaw(t *testing.T, req *wstest.Request, opts wstest.Options) (*wstest.Conn, *wstest.Response, error) {
	t.Helper()
	ws, resp, err := wstest.Dial(context.Background(), s.addr, req, opts)
	if ws != nil {
		t.Cleanup(func() { _ = ws.Close() })
	}
	return ws, resp, err
}

// dial connects with tok and reads the welcome push.
func (s *testServer) dial(t *testing.T, tok string) *client {
	t.Helper()
	return s.dialWith(t, s.request(tok), wstest.Options{})
}

func (s *testServer) dialWith(t *testing.T, req *wstest.Request, opts wstest.Options) *client {
	t.Helper()
	ws, resp, err := s.dialRaw(t, req, opts)
	if err != nil {
		if resp != nil {
			t.Fatalf("dial: %v: %d %s", err, resp.StatusCode, resp.Body)
		}
		t.Fatalf("dial: %v", err)
	}
	c := &client{t: t, ws: ws}
	c.welcome = c.next()
	if c.welcome.Push != "welcome" || c.welcome.User == "" || c.welcome.Client == "" {
		t.Fatalf("first frame is not a welcome push: %s", c.welcome.raw)
	}
	return c
}

// message is any frame the server sends, decoded loosely; raw keeps it.
type message struct {
	raw     []byte
	ID      uint64          `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *replyError     `json:"error"`
	Push    string          `json:"push"`
	Channel string          `json:"channel"`
	Offset  uint64          `json:"offset"`
	Epoch   string          `json:"epoch"`
	Data    json.RawMessage `json:"data"`
	Info    *struct {
		User string `json:"user"`
	} `json:"info"`
	Reason    string `json:"reason"`
	ExpiresAt int64  `json:"expires_at"`
	Client    string `json:"client"`
	User      string `json:"user"`
}

type replyError struct {
	Code         string `json:"code"`
	Message      string `json:"message"`
	RequestID    string `json:"request_id"`
	RetryAfterMS int64  `json:"retry_after_ms"`
}

func (m message) isReply() bool { return m.Push == "" }

type subscribeReply struct {
	Offset       uint64 `json:"offset"`
	Epoch        string `json:"epoch"`
	Recovered    bool   `json:"recovered"`
	Publications []struct {
		Offset uint64          `json:"offset"`
		Data   json.RawMessage `json:"data"`
		Info   *struct {
			User string `json:"user"`
		} `json:"info"`
	} `json:"publications"`
}

// client speaks the JSON protocol over a raw connection. Pushes read while
// waiting for a reply are kept in order and returned first by next.
type client struct {
	t       *testing.T
	ws      *wstest.Conn
	welcome message
	backlog []message
	lastID  uint64
}

func (c *client) send(frame string) {
	c.t.Helper()
	if err := c.ws.WriteText(frame); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readNet reads the next frame from the socket; a close fails the test.
func (c *client) readNet() message {
	c.t.Helper()
	m, err := c.tryRead(readTimeout)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *client) tryRead(timeout time.Duration) (message, error) {
	op, b, err := c.ws.ReadMessage(timeout)
	if err != nil {
		return message{}, err
	}
	if op != wstest.OpText {
		return message{}, fmt.Errorf("server sent opcode %d", op)
	}
	m := message{raw: b}
	if err := json.Unmarshal(b, &m); err != nil {
		return message{}, fmt.Errorf("server sent invalid JSON %q: %v", b, err)
	}
	return m, nil
}

// next returns the next message, from the backlog first.
func (c *client) next() message {
	c.t.Helper()
	if len(c.backlog) > 0 {
		m := c.backlog[0]
		c.backlog = c.backlog[1:]
		return m
	}
	return c.readNet()
}

// nextPush returns the next push, failing on a reply.
func (c *client) nextPush() message {
	c.t.Helper()
	m := c.next()
	if m.isReply() {
		c.t.Fatalf("want a push, got reply %s", m.raw)
	}
	return m
}

// roundTrip sends frame and returns the first reply after it; pushes read
// meanwhile go to the backlog.
func (c *client) roundTrip(frame string) message {
	c.t.Helper()
	c.send(frame)
	for {
		m := c.readNet()
		if m.isReply() {
			return m
		}
		c.backlog = append(c.backlog, m)
	}
}

// call sends {"id":n,"action":action,<fields>} and returns its reply.
func (c *client) call(action, fields string) message {
	c.t.Helper()
	c.lastID++
	id := c.lastID
	frame := fmt.Sprintf(`{"id":%d,"action":%q`, id, action)
	if fields != "" {
		frame += "," + fields
	}
	m := c.roundTrip(frame + "}")
	if m.ID != id {
		c.t.Fatalf("%s: reply %s does not carry id %d", action, m.raw, id)
	}
	return m
}

// ok calls and fails the test on an error reply.
func (c *client) ok(action, fields string) json.RawMessage {
	c.t.Helper()
	m := c.call(action, fields)
	if m.Error != nil || m.Result == nil {
		c.t.Fatalf("%s %s: want a result, got %s", action, fields, m.raw)
	}
	return m.Result
}

// fails calls and expects the error code.
func (c *client) fails(action, fields, code string) *replyError {
	c.t.Helper()
	m := c.call(action, fields)
	if m.Error == nil || m.Error.Code != code {
		c.t.Fatalf("%s %s: want error %s, got %s", action, fields, code, m.raw)
	}
	if m.Error.RequestID == "" || m.Error.Message == "" {
		c.t.Fatalf("%s: error without message or request_id: %s", action, m.raw)
	}
	return m.Error
}

func (c *client) subscribe(channel string) subscribeReply {
	c.t.Helper()
	return c.subscribeSince(channel, "")
}

func (c *client) subscribeSince(channel, since string) subscribeReply {
	c.t.Helper()
	fields := fmt.Sprintf(`"channel":%q`, channel)
	if since != "" {
		fields += `,"since":` + since
	}
	var r subscribeReply
	if err := json.Unmarshal(c.ok("subscribe", fields), &r); err != nil {
		c.t.Fatalf("subscribe result: %v", err)
	}
	return r
}

// publish publishes data and returns the offset from the reply.
func (c *client) publish(channel, data string) uint64 {
	c.t.Helper()
	var r struct {
		Offset *uint64 `json:"offset"`
	}
	if err := json.Unmarshal(c.ok("publish", fmt.Sprintf(`"channel":%q,"data":%s`, channel, data)), &r); err != nil || r.Offset == nil {
		c.t.Fatalf("publish result without offset: %v", err)
	}
	return *r.Offset
}

// barrier pings and returns every push that arrived before the pong reply,
// backlog included. The server answers in order, so anything it queued for
// this connection before it read the ping is among them.
func (c *client) barrier() []message {
	c.t.Helper()
	c.ok("ping", "")
	out := c.backlog
	c.backlog = nil
	return out
}

// expectClose reads until the server's close frame and checks its code and
// that the server then closes the socket. It returns what came before.
func (c *client) expectClose(want uint16) []message {
	c.t.Helper()
	return expectCloseOn(c.t, c.ws, want, c.backlog)
}

func expectCloseOn(t *testing.T, ws *wstest.Conn, want uint16, seen []message) []message {
	t.Helper()
	deadline := time.Now().Add(readTimeout)
	for {
		op, b, err := ws.ReadMessage(time.Until(deadline))
		var ce *wstest.CloseError
		if errors.As(err, &ce) {
			if ce.Code != want {
				t.Fatalf("close code %d (%q), want %d", ce.Code, ce.Reason, want)
			}
			if !ws.WaitEOF(readTimeout) {
				t.Fatalf("server did not close the socket after close %d", want)
			}
			return seen
		}
		if err != nil {
			t.Fatalf("want close %d, got %v", want, err)
		}
		m := message{raw: b}
		if op == wstest.OpText {
			_ = json.Unmarshal(b, &m)
		}
		seen = append(seen, m)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(readTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitConnections waits until the server counts n open connections.
func (s *testServer) waitConnections(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d open connections", n), func() bool { return s.s.Connections() == n })
}

// expectRefused checks a handshake answer that must not upgrade: status, the
// JSON body {"error","request_id"} and the X-Request-Id header.
func expectRefused(t *testing.T, resp *wstest.Response, err error, status int, code string) {
	t.Helper()
	if resp == nil {
		t.Fatalf("no HTTP answer: %v", err)
	}
	if !errors.Is(err, wstest.ErrNotUpgraded) || resp.StatusCode == http.StatusSwitchingProtocols {
		t.Fatalf("want a refusal, got %d (%v)", resp.StatusCode, err)
	}
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, resp.Body)
	}
	if resp.Header.Get("Upgrade") != "" || resp.Header.Get("Sec-WebSocket-Accept") != "" {
		t.Fatalf("refusal carries upgrade headers: %v", resp.Header)
	}
	var body map[string]string
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		t.Fatalf("body %q is not a JSON object of strings: %v", resp.Body, err)
	}
	rid := resp.Header.Get("X-Request-Id")
	if len(body) != 2 || body["error"] != code || body["request_id"] == "" || body["request_id"] != rid {
		t.Fatalf(`body %s, want {"error":%q,"request_id":X-Request-Id (%q)}`, resp.Body, code, rid)
	}
}
