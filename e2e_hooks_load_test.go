package rampart

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/hooks"
	"github.com/rampart-rt/rampart/internal/wstest"
)

// Many handshakes at once against a slow backend: no more calls are in
// flight than hooks.max_concurrent, the ones over it are refused with 503
// at once, and once the backend answers and the clients are gone no
// goroutine and no memory is left behind.
func TestHookConcurrencyBoundUnderLoad(t *testing.T) {
	release := make(chan struct{})
	b := newHookBackend(t, func(r *http.Request, _ string, _ map[string]any) (int, string) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return 200, `{"result":"allow"}`
	})
	const bound, dials = 3, 24
	srv := startServer(t, edits(withHooks(b, hooks.HookConnect), func(c *Config) {
		c.Hooks.MaxConcurrent = bound
		c.Hooks.Timeout = 30 * time.Second
	}))
	round := func() (ok, refused int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		conns := make(chan *wstest.Conn, dials)
		for range dials {
			wg.Go(func() {
				ws, resp, _ := srv.dialRaw(t, srv.request(token(t, "load")), wstest.Options{})
				mu.Lock()
				defer mu.Unlock()
				if resp != nil {
					statuses[resp.StatusCode]++
				}
				if ws != nil {
					conns <- ws
				}
			})
		}
		waitFor(t, "the refusals over the bound", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return statuses[http.StatusServiceUnavailable] == dials-bound
		})
		waitFor(t, "the calls in flight", func() bool { return b.inflight.Load() == bound })
		release <- struct{}{} // one at a time: each answer frees a place
		for range bound - 1 {
			release <- struct{}{}
		}
		wg.Wait()
		close(conns)
		for ws := range conns {
			_ = ws.Close()
		}
		srv.waitConnections(t, 0)
		return statuses[http.StatusSwitchingProtocols], statuses[http.StatusServiceUnavailable]
	}
	if ok, refused := round(); ok != bound || refused != dials-bound {
		t.Fatalf("first round: %d upgraded, %d refused; want %d and %d", ok, refused, bound, dials-bound)
	}
	if p := b.peak.Load(); p > bound {
		t.Fatalf("the backend saw %d calls at once; hooks.max_concurrent is %d", p, bound)
	}
	base, heap := settledGoroutines(t, -1), liveHeap()
	if ok, _ := round(); ok != bound {
		t.Fatalf("second round: %d upgraded, want %d", ok, bound)
	}
	if p := b.peak.Load(); p > bound {
		t.Fatalf("the backend saw %d calls at once; hooks.max_concurrent is %d", p, bound)
	}
	after := settledGoroutines(t, base)
	grown := liveHeap() - heap
	t.Logf("after the second round: %d goroutines (%d after the first), live heap %+d bytes", after, base, grown)
	if grown > 2<<20 {
		t.Fatalf("the live heap grew by %d bytes over a second round", grown)
	}
	if v := metricValue(t, srv, `rampart_hook_calls_total{hook="connect",result="busy"}`); v != 2*(dials-bound) {
		t.Fatalf("busy calls counted %v, want %d", v, 2*(dials-bound))
	}
}

// liveHeap is the heap in use after a collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// settledGoroutines waits until the goroutine count stops moving (or, with
// want >= 0, falls to want or below) and returns it.
func settledGoroutines(t *testing.T, want int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	last, still := runtime.NumGoroutine(), 0
	for time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
		n := runtime.NumGoroutine()
		if want >= 0 && n <= want {
			return n
		}
		if n == last {
			still++
		} else {
			last, still = n, 0
		}
		if want < 0 && still >= 10 {
			return n
		}
	}
	if want >= 0 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
	}
	return last
}

// A notification the backend fails twice is delivered on the third try
// with the same event id, and once delivered is not sent again; the
// disconnect notification follows with the close code.
func TestHookNotifyRetries(t *testing.T) {
	var mu sync.Mutex
	tries := map[string]int{}
	b := newHookBackend(t, func(_ *http.Request, _ string, body map[string]any) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		id := fmt.Sprint(body["id"])
		tries[id]++
		if tries[id] <= 2 {
			return 500, "try again"
		}
		return 204, ""
	})
	srv := startServer(t, edits(withHooks(b, hooks.HookNotify), func(c *Config) {
		c.Hooks.Notify.Workers = 1 // one after the other: the connect's tries end before the disconnect's begin
		c.Hooks.Notify.RetryBackoff = 5 * time.Millisecond
	}))
	c := srv.dial(t, token(t, "notified"))
	_ = c.ws.Close()
	waitFor(t, "the disconnect notification delivered", func() bool {
		n := b.calls(hooks.HookNotify)
		return len(n) == 6
	})
	calls := b.calls(hooks.HookNotify)
	for i, want := range []string{"connect", "connect", "connect", "disconnect", "disconnect", "disconnect"} {
		if calls[i].body["event"] != want || calls[i].body["id"] != calls[i/3*3].body["id"] {
			t.Fatalf("notification %d: %s; want %s with the id of its first try", i, calls[i].raw, want)
		}
	}
	if calls[0].body["id"] == calls[3].body["id"] || calls[0].body["user"] != "notified" || calls[0].body["client"] != c.welcome.Client {
		t.Fatalf("notifications %s and %s: want distinct ids and the connection's user and client", calls[0].raw, calls[3].raw)
	}
	if !strings.Contains(string(calls[3].raw), `"duration_ms"`) {
		t.Fatalf("the disconnect lacks its duration: %s", calls[3].raw)
	}
	if v := metricValue(t, srv, `rampart_hook_calls_total{hook="notify",result="ok"}`); v != 2 {
		t.Fatalf("delivered notifications counted %v, want 2", v)
	}
}
