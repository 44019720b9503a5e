package rampart

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rampart-rt/rampart/internal/wstest"
)

func TestShutdownCloses1001(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	var clients []*client
	for i := 0; i < 3; i++ {
		c := srv.dial(t, token(t, fmt.Sprintf("u%d", i)))
		c.subscribe("chat:bye")
		clients = append(clients, c)
	}
	srv.waitConnections(t, 3)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- srv.s.Shutdown(ctx)
	}()
	for _, c := range clients {
		c.expectClose(1001)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(readTimeout):
		t.Fatal("Shutdown did not return")
	}
	if n := srv.s.Connections(); n != 0 {
		t.Fatalf("%d connections after Shutdown", n)
	}
	// Draining: new handshakes get 503 with Retry-After, readiness fails.
	_, resp, err := srv.dialRaw(t, srv.request(token(t, "late")), wstest.Options{})
	expectRefused(t, resp, err, http.StatusServiceUnavailable, "unavailable")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	hc := srv.ts.Client()
	r, err := hc.Get(srv.ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, r.Body)
	_ = r.Body.Close()
	if r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while draining: %d", r.StatusCode)
	}
	hc.CloseIdleConnections()
	if err := srv.s.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// After Shutdown, every goroutine the server started is gone: readers,
// writers, the sweeper, the broker's. Only the test listener's accept loop
// (closed later by the cleanup) is allowed to remain.
//
// Not parallel: goleak sees the whole process.
func TestShutdownLeavesNoGoroutines(t *testing.T) {
	before := goleak.IgnoreCurrent()
	srv := startServer(t, func(c *Config) { c.Limits.MaxMessageBytes = 128 << 10 })
	pub := srv.dial(t, token(t, "pub"))
	stalled := srv.dial(t, token(t, "stalled")) // never reads: its writer blocks
	idle := srv.dial(t, token(t, "idle"))
	stalled.subscribe("chat:leak")
	idle.subscribe("chat:leak")
	pad := strings.Repeat("x", 100<<10)
	for i := 1; i <= 50; i++ {
		pub.publish("chat:leak", fmt.Sprintf(`{"n":%d,"pad":%q}`, i, pad))
	}
	_, resp, err := srv.dialRaw(t, srv.request("not.a.token"), wstest.Options{})
	expectUnauthorized(t, resp, err)

	// A short deadline: the stalled connection cannot take its close frame
	// and is dropped when ctx ends.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := srv.s.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := srv.s.Connections(); n != 0 {
		t.Fatalf("%d connections after Shutdown", n)
	}
	goleak.VerifyNone(t, before,
		goleak.IgnoreAnyFunction("net/http/httptest.(*Server).goServe.func1"),
	)
}
