//go:build faults

package faulttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// node is one `rampart serve` process; a restart keeps its port and its
// configuration file.
type node struct {
	name   string
	port   int
	config string // path of its configuration file
	p      *proc

	mu     sync.Mutex     // guards events
	events map[string]int // how many log lines carried each event since the first start
}

// nodeConfig is a node's configuration; reloaded is the changed but
// compatible one the reload fault applies (a lower message rate, one more
// channel rule).
func nodeConfig(port int, brokerYAML string, reloaded bool) string {
	rate, extra := 600000, ""
	if reloaded {
		rate, extra = 500000, "  - pattern: \"extra:*\"\n    subscribe: [\"*\"]\n"
	}
	return fmt.Sprintf(`listen: "127.0.0.1:%d"
origins: { allow: [], allow_missing: true }
auth: { algorithms: [HS256], hmac_secret_env: RAMPART_JWT_SECRET }
limits:
  max_connections_per_ip: 4000
  max_connections_per_user: 20
  handshakes_per_ip_per_minute: 1000000
  messages_per_minute: %d
  burst: 10000
  send_queue: 4096
  shutdown_spread: 1s
channels:
  - pattern: "room:*"
    subscribe: ["*"]
    publish: ["*"]
    history: { size: 1000, ttl: 10m }
%sbroker: %s
log: { format: json, level: info }
`, port, rate, extra, brokerYAML)
}

func newNode(t testing.TB, name, brokerYAML string) *node {
	t.Helper()
	nd := &node{name: name, port: freePort(t), events: map[string]int{}}
	nd.config = filepath.Join(t.TempDir(), name+".yaml")
	nd.writeConfig(t, nodeConfig(nd.port, brokerYAML, false))
	nd.start(t)
	return nd
}

// writeConfig replaces the configuration file atomically (a rename), as
// operations.md advises.
func (nd *node) writeConfig(t testing.TB, cfg string) {
	t.Helper()
	tmp := nd.config + ".new"
	if err := os.WriteFile(tmp, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, nd.config); err != nil {
		t.Fatal(err)
	}
}

func (nd *node) addr() string { return "127.0.0.1:" + strconv.Itoa(nd.port) }

// start starts the process and waits until /readyz answers 200.
func (nd *node) start(t testing.TB) {
	t.Helper()
	env := []string{"RAMPART_JWT_SECRET=" + secret, "RAMPART_API_KEYS=" + apiKey}
	nd.p = startProc(t, nd.name, rampartBin, []string{"serve", "--config", nd.config}, env, nd.logLine)
	ok := poll(startWithin, 20*time.Millisecond, func() bool {
		return nd.readyz(time.Second) == http.StatusOK || !nd.p.running()
	})
	if !ok || !nd.p.running() {
		t.Fatalf("%s not ready within %v:\n%s", nd.name, startWithin, nd.p.tail(4096))
	}
}

func (nd *node) logLine(line []byte) {
	var ev struct{ Event string }
	if json.Unmarshal(line, &ev) != nil || ev.Event == "" {
		return
	}
	nd.mu.Lock()
	nd.events[ev.Event]++
	nd.mu.Unlock()
}

// eventCount is how many log lines carried event so far.
func (nd *node) eventCount(event string) int {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.events[event]
}

// readyz returns /readyz's status, or 0 when nothing answered.
func (nd *node) readyz(timeout time.Duration) int {
	c := http.Client{Timeout: timeout}
	resp, err := c.Get("http://" + nd.addr() + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (nd *node) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if sig == syscall.SIGKILL {
		nd.p.kill()
		return
	}
	if err := nd.p.signal(sig); err != nil {
		t.Fatalf("%s: %v", nd.name, err)
	}
}
