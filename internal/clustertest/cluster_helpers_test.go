package clustertest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rampart-rt/rampart/internal/wstest"
)

// secret signs the test tokens; the nodes read it from RAMPART_JWT_SECRET.
const secret = "cluster-test-secret-of-at-least-32-bytes"

// waitFor bounds every wait in the package.
const waitFor = 15 * time.Second

var (
	binary    string // the rampart binary, built once by TestMain
	redisAddr string // the package's redis-server
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return 0, errors.New("redis-server is not on PATH; install it with: bash scripts/services.sh")
	}
	dir, err := os.MkdirTemp("", "rampart-cluster-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "rampart")
	build := exec.Command("go", "build", "-o", binary, "github.com/rampart-rt/rampart/cmd/rampart")
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("go build: %v\n%s", err, out)
	}
	addr, stop, err := startRedis("")
	if err != nil {
		return 0, fmt.Errorf("starting redis-server: %w", err)
	}
	defer stop()
	redisAddr = addr
	return m.Run(), nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port, nil
}

// startRedis starts a redis-server without persistence on port (a free
// one when empty) and returns its address and how to stop it.
func startRedis(port string) (string, func(), error) {
	if port == "" {
		var err error
		if port, err = freePort(); err != nil {
			return "", nil, err
		}
	}
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	addr := "127.0.0.1:" + port
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("redis-server did not listen on %s", addr)
}

func randomID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// limits are the connection limits a test's nodes run with.
type limits struct {
	perIP, perUser   int
	perMinute, burst int // messages per connection; 0: 600000 and 10000
	sendQueue        int // 0: 4096
}

var roomy = limits{perIP: 1000, perUser: 1000}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// redisBroker is the broker section for the package's Redis, with a
// prefix of the test's own.
func redisBroker() string { return redisBrokerAt(redisAddr) }

func redisBrokerAt(addr string) string {
	return fmt.Sprintf("{type: redis, redis: {addrs: [%q], prefix: rt%s}}", addr, randomID())
}

func natsBroker(url, prefix string) string {
	return fmt.Sprintf("{type: nats, nats: {url: %q, prefix: %s}}", url, prefix)
}

// brokerKinds gives each shared broker's configuration by name: the
// package's Redis, and a NATS server of the test's own.
func brokerKinds() map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"redis": func(*testing.T) string { return redisBroker() },
		"nats":  func(t *testing.T) string { return natsBroker(startNATS(t), "rt"+randomID()) },
	}
}

func configYAML(brokerYAML string, l limits) string {
	return fmt.Sprintf(`listen: "127.0.0.1:0"
origins: { allow: [], allow_missing: true }
auth: { algorithms: [HS256], hmac_secret_env: RAMPART_JWT_SECRET }
limits:
  max_connections_per_ip: %d
  max_connections_per_user: %d
  handshakes_per_ip_per_minute: 100000
  messages_per_minute: %d
  burst: %d
  send_queue: %d
channels:
  - pattern: "room:*"
    subscribe: ["*"]
    publish: ["*"]
    history: { size: 1000, ttl: 10m }
    presence: true
broker: %s
log: { format: json, level: info }
`, l.perIP, l.perUser, orInt(l.perMinute, 600000), orInt(l.burst, 10000), orInt(l.sendQueue, 4096), brokerYAML)
}

// node is one `rampart serve` process.
type node struct {
	name string
	addr string // host:port of its listener
	cmd  *exec.Cmd

	mu  sync.Mutex // guards log
	log bytes.Buffer
}

// startNodes starts n nodes with the same configuration and waits until
// each is ready. They are killed when the test ends.
func startNodes(t testing.TB, n int, cfg string) []*node {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rampart.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = startNode(t, fmt.Sprintf("node%d", i+1), path)
	}
	return nodes
}

func startNode(t testing.TB, name, path string) *node {
	t.Helper()
	nd := &node{name: name, cmd: exec.Command(binary, "serve", "--config", path)}
	nd.cmd.Env = append(os.Environ(), "RAMPART_JWT_SECRET="+secret)
	stderr, err := nd.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := nd.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		nd.kill()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, nd.logText())
		}
	})
	addrc := make(chan string, 1)
	go nd.readLog(stderr, addrc)
	select {
	case nd.addr = <-addrc:
	case <-time.After(waitFor):
		t.Fatalf("%s did not start within %v:\n%s", name, waitFor, nd.logText())
	}
	waitReady(t, nd)
	return nd
}

// readLog keeps the node's log and reports its listening address.
func (nd *node) readLog(r interface{ Read([]byte) (int, error) }, addrc chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		nd.mu.Lock()
		nd.log.Write(line)
		nd.log.WriteByte('\n')
		nd.mu.Unlock()
		var ev struct{ Event, Addr string }
		if json.Unmarshal(line, &ev) == nil && ev.Event == "server_started" {
			select {
			case addrc <- ev.Addr:
			default:
			}
		}
	}
}

func (nd *node) logText() string {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.log.String()
}

// kill sends SIGKILL: no close frames, no releases, as in a crash.
func (nd *node) kill() {
	if nd.cmd.ProcessState == nil {
		_ = nd.cmd.Process.Signal(syscall.SIGKILL)
		_ = nd.cmd.Wait()
	}
}

func waitReady(t testing.TB, nd *node) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		resp, err := http.Get("http://" + nd.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %v (%v):\n%s", nd.name, waitFor, err, nd.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func token(t testing.TB, sub string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": sub, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// conn is a raw rampart.v1 client: commands are answered in turn, pushes
// are kept in order.
type conn struct {
	t      testing.TB
	ws     *wstest.Conn
	nextID int
	pubs   []publication // publication pushes, in arrival order
}

type publication struct {
	Channel string          `json:"channel"`
	Offset  uint64          `json:"offset"`
	Epoch   string          `json:"epoch"`
	Data    json.RawMessage `json:"data"`
}

type frame struct {
	ID     int             `json:"id"`
	Push   string          `json:"push"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code string `json:"code"`
	} `json:"error"`
	publication
}

// tryDial opens a connection to nd as user; on a refused handshake it
// returns the HTTP status.
func tryDial(t testing.TB, nd *node, user string) (*conn, int, error) {
	t.Helper()
	req := wstest.NewRequest("/ws")
	req.Header.Set("Sec-WebSocket-Protocol", "rampart.v1")
	req.Header.Set("Authorization", "Bearer "+token(t, user))
	ws, resp, err := wstest.Dial(t.Context(), nd.addr, req, wstest.Options{})
	if err != nil {
		if resp != nil {
			return nil, resp.StatusCode, err
		}
		return nil, 0, err
	}
	c := &conn{t: t, ws: ws}
	t.Cleanup(func() { _ = ws.Close() })
	if f := c.read(); f.Push != "welcome" {
		t.Fatalf("first frame from %s is %+v, want the welcome push", nd.name, f)
	}
	return c, http.StatusSwitchingProtocols, nil
}

func dial(t testing.TB, nd *node, user string) *conn {
	t.Helper()
	c, status, err := tryDial(t, nd, user)
	if err != nil {
		t.Fatalf("dial %s as %s: status %d: %v", nd.name, user, status, err)
	}
	return c
}

func (c *conn) read() frame {
	c.t.Helper()
	_, msg, err := c.ws.ReadMessage(waitFor)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var f frame
	if err := json.Unmarshal(msg, &f); err != nil {
		c.t.Fatalf("frame %s: %v", msg, err)
	}
	return f
}

// call sends a command and returns its result, keeping pushes that arrive
// before it. An error reply fails the test.
func (c *conn) call(action string, fields map[string]any, out any) {
	c.t.Helper()
	if code := c.tryCall(action, fields, out); code != "" {
		c.t.Fatalf("%s %v: error %s", action, fields, code)
	}
}

// tryCall is call that returns the error code of an error reply.
func (c *conn) tryCall(action string, fields map[string]any, out any) string {
	c.t.Helper()
	c.nextID++
	cmd := map[string]any{"id": c.nextID, "action": action}
	for k, v := range fields {
		cmd[k] = v
	}
	b, _ := json.Marshal(cmd)
	if err := c.ws.WriteText(string(b)); err != nil {
		c.t.Fatalf("write %s: %v", action, err)
	}
	for {
		f := c.read()
		switch {
		case f.Push == "publication":
			c.pubs = append(c.pubs, f.publication)
		case f.ID == c.nextID && f.Error != nil:
			return f.Error.Code
		case f.ID == c.nextID:
			if out != nil {
				if err := json.Unmarshal(f.Result, out); err != nil {
					c.t.Fatalf("%s result %s: %v", action, f.Result, err)
				}
			}
			return ""
		}
	}
}

// waitPubs reads until n publications have arrived.
func (c *conn) waitPubs(n int) []publication {
	c.t.Helper()
	for len(c.pubs) < n {
		if f := c.read(); f.Push == "publication" {
			c.pubs = append(c.pubs, f.publication)
		}
	}
	return c.pubs
}

type subscribeResult struct {
	Offset       uint64        `json:"offset"`
	Epoch        string        `json:"epoch"`
	Recovered    bool          `json:"recovered"`
	Publications []publication `json:"publications"`
}

func (c *conn) subscribe(channel string, since *subscribeResult) subscribeResult {
	c.t.Helper()
	fields := map[string]any{"channel": channel}
	if since != nil {
		fields["since"] = map[string]any{"offset": since.Offset, "epoch": since.Epoch}
	}
	var res subscribeResult
	c.call("subscribe", fields, &res)
	return res
}

func (c *conn) publish(channel string, n int) uint64 {
	c.t.Helper()
	var res struct{ Offset uint64 }
	c.call("publish", map[string]any{"channel": channel, "data": map[string]int{"n": n}}, &res)
	return res.Offset
}

// checkPubs fails unless pubs carry offsets from..to, each with the data
// published at that offset; pushes carry the epoch, entries of a result
// may leave it to the result.
func checkPubs(t testing.TB, what string, pubs []publication, from, to uint64, epoch string) {
	t.Helper()
	var got []string
	for _, p := range pubs {
		got = append(got, strconv.FormatUint(p.Offset, 10))
	}
	if uint64(len(pubs)) != to-from+1 {
		t.Fatalf("%s: offsets [%s], want %d..%d", what, strings.Join(got, " "), from, to)
	}
	for i, p := range pubs {
		want := fmt.Sprintf(`{"n":%d}`, from+uint64(i))
		if p.Offset != from+uint64(i) || (p.Epoch != epoch && p.Epoch != "") || string(p.Data) != want {
			t.Fatalf("%s: publication %d = offset %d epoch %q data %s; want offset %d epoch %q data %s",
				what, i, p.Offset, p.Epoch, p.Data, from+uint64(i), epoch, want)
		}
	}
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v", what, waitFor)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
