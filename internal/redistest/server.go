package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startWithin bounds each wait while a topology starts; failovers have
// their own bound (FailoverWithin).
const startWithin = 10 * time.Second

// FailoverWithin bounds the waits for a failover to complete.
const FailoverWithin = 20 * time.Second

// server is one redis-server process (a data node or a sentinel).
type server struct {
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	rdb  *redis.Client // for the package's own admin commands
}

// freePorts returns n distinct free loopback ports, held open together
// while they are chosen so that none is handed out twice. They are taken
// below the kernel's ephemeral range where there is room, so that no
// outgoing connection takes one between the check and redis-server's
// bind.
func freePorts(n int) ([]string, error) {
	lo, hi := portRange()
	ports := make([]string, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		addr := "127.0.0.1:0"
		if hi > lo && tries < 100*n {
			addr = "127.0.0.1:" + strconv.Itoa(lo+rand.IntN(hi-lo))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if addr == "127.0.0.1:0" {
				return nil, err
			}
			continue // taken: try another
		}
		defer l.Close()
		_, port, _ := net.SplitHostPort(l.Addr().String())
		ports = append(ports, port)
	}
	return ports, nil
}

// portRange returns the ports below the ephemeral range to choose from:
// [lo, hi), empty when the range starts too low.
func portRange() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, 0
	}
	first, err := strconv.Atoi(f[0])
	if err != nil || first < 12000 {
		return 0, 0
	}
	return 10000, first
}

// Options configures a topology. The zero value is a topology without
// authentication.
type Options struct {
	// Password, when set, is required by every node and every sentinel
	// (requirepass); replicas and sentinels authenticate with it.
	Password string
}

// startServer writes conf to dir/redis.conf and starts redis-server on it
// with extra arguments (e.g. --sentinel). It returns once the process is
// started; call ready to wait until it answers. password is the one the
// package's own client sends.
func startServer(dir, port, password, conf string, extra ...string) (*server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "redis.conf")
	conf = fmt.Sprintf("bind 127.0.0.1\nport %s\ndir %s\nlogfile %s\ndaemonize no\nprotected-mode no\n%s",
		port, dir, filepath.Join(dir, "redis.log"), conf)
	if password != "" {
		conf += fmt.Sprintf("requirepass %q\n", password)
	}
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command("redis-server", append([]string{path}, extra...)...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("redistest: starting redis-server: %w", err)
	}
	s := &server{addr: "127.0.0.1:" + port, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	s.rdb = redis.NewClient(&redis.Options{
		Addr: s.addr, Password: password, Protocol: 2, DisableIdentity: true,
		DialTimeout: 300 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: time.Second,
		MaxRetries: -1, PoolSize: 2,
	})
	return s, nil
}

// ready waits until the server answers PING.
func (s *server) ready(ctx context.Context) error {
	return poll(ctx, "redis-server on "+s.addr+" answering PING", func(ctx context.Context) error {
		if s.exited() {
			return errExited
		}
		return s.rdb.Ping(ctx).Err()
	})
}

var errExited = errors.New("redis-server exited")

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL, as in a crash, and waits for the process to end.
func (s *server) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	_ = s.rdb.Close()
}

// logTail returns the last n lines of the server's log file.
func (s *server) logTail(n int) string {
	f, err := os.Open(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// info returns the fields of INFO section as a map.
func (s *server) info(ctx context.Context, section string) (map[string]string, error) {
	text, err := s.rdb.Info(ctx, section).Result()
	if err != nil {
		return nil, err
	}
	return parseFields(text, ":"), nil
}

// parseFields reads "key<sep>value" lines, as INFO and CLUSTER INFO print.
func parseFields(text, sep string) map[string]string {
	out := make(map[string]string)
	for line := range strings.Lines(text) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), sep); ok {
			out[k] = v
		}
	}
	return out
}

// poll calls f every 20 ms until it returns nil, or fails with what and
// f's last error once ctx ends. errExited ends it at once.
func poll(ctx context.Context, what string, f func(ctx context.Context) error) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		err := f(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if errors.Is(err, errExited) {
			return fmt.Errorf("redistest: waiting for %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redistest: %s: not within the deadline: %w", what, err)
		case <-t.C:
		}
	}
}

// group is the processes of one topology: it stops them all, by pid, and
// on failure logs the end of each one's log.
type group struct {
	mu      sync.Mutex // guards servers
	servers []*server
}

func (g *group) add(s *server) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.servers = append(g.servers, s)
}

func (g *group) stopAll(t testing.TB) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.servers {
		if !s.exited() {
			s.kill()
		} else {
			_ = s.rdb.Close()
		}
		if t.Failed() {
			t.Logf("redistest: end of the log of %s (%s):\n%s", s.addr, s.dir, s.logTail(15))
		}
	}
}

// portTaken reports whether a process of g could not listen on its port:
// another process took it between freePorts and redis-server's bind.
func (g *group) portTaken() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.servers {
		if s.exited() && strings.Contains(s.logTail(50), "Address already in use") {
			return true
		}
	}
	return false
}

// startRetrying runs start, which starts a topology's processes on free
// ports; when it fails because another process took one of its ports
// meanwhile (tests of other packages choose ports the same way), it stops
// what it started and tries again on other ports, at most three times.
func startRetrying(t testing.TB, start func() (*group, error)) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		g, err := start()
		if err == nil {
			return
		}
		if attempt == 3 || !g.portTaken() {
			t.Fatal(err)
		}
		g.stopAll(t)
		t.Logf("redistest: another process took a port meanwhile (%v); starting again on others", err)
	}
}

// find returns the server listening on addr, nil if none.
func (g *group) find(addr string) *server {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := len(g.servers) - 1; i >= 0; i-- {
		if g.servers[i].addr == addr {
			return g.servers[i]
		}
	}
	return nil
}

// requireRedis fails t unless redis-server and, when cli, redis-cli are
// on PATH.
func requireRedis(t testing.TB, cli bool) {
	t.Helper()
	bins := []string{"redis-server"}
	if cli {
		bins = append(bins, "redis-cli")
	}
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("redistest: %s is not on PATH; install Debian's redis-server package (bash scripts/services.sh)", b)
		}
	}
}
