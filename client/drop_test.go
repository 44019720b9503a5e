package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/client"
)

// silentServer upgrades, sends a welcome and never answers a command, so
// a test can hold a call pending. Each connection is sent on conns, and
// each frame it reads on frames.
func silentServer(t *testing.T) (url string, conns <-chan *gws.Conn, frames <-chan string) {
	t.Helper()
	ch := make(chan *gws.Conn, 4)
	h := &recordingHandler{frames: make(chan string, 16)}
	up := gws.NewUpgrader(h, &gws.ServerOption{SubProtocols: []string{"rampart.v1"}})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		_ = ws.WriteString(`{"push":"welcome","client":"c1","user":"u","expires_at":0,"limits":{"max_message_bytes":16384,"messages_per_minute":50}}`)
		ch <- ws
		ws.ReadLoop()
	}))
	t.Cleanup(ts.Close)
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws", ch, h.frames
}

// dialQuick dials url with a static token and a backoff of 10 to 20 ms,
// recording states in seen; the client is closed when the test ends.
func dialQuick(t *testing.T, url string, seen *states) *client.Client {
	t.Helper()
	c, err := client.Dial(ctxFor(t), client.Config{
		URL: url, Token: staticToken("t"), OnState: seen.record,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

type recordingHandler struct {
	gws.BuiltinEventHandler
	frames chan string
}

func (h *recordingHandler) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	h.frames <- m.Data.String()
}

// TestPendingCallFailsOnDrop: a call waiting for its reply fails with
// ErrDisconnected when the connection drops (a publish is sent again
// instead: see TestPublishRetriedAfterDrop), and the client reconnects.
func TestPendingCallFailsOnDrop(t *testing.T) {
	url, conns, frames := silentServer(t)
	var seen states
	c := dialQuick(t, url, &seen)
	ws := <-conns
	errc := make(chan error, 1)
	go func() { errc <- c.Ping(context.Background()) }()
	if f := <-frames; !strings.Contains(f, `"action":"ping"`) {
		t.Fatalf("server read %s, want the ping", f)
	}
	_ = ws.NetConn().Close()
	select {
	case err := <-errc:
		var ce *client.CloseError
		if !errors.Is(err, client.ErrDisconnected) || !errors.As(err, &ce) || ce.Code != client.CloseAbnormal {
			t.Fatalf("pending Ping: %v, want ErrDisconnected with close 1006", err)
		}
	case <-time.After(waitFor):
		t.Fatal("pending Ping still waiting after the drop")
	}
	ws2 := <-conns // reconnected
	// Closed before the client read the welcome, the attempt would count
	// as failed rather than connected.
	eventually(t, "the second connection", func() bool { return seen.count(client.StateConnected) == 2 })
	_ = ws2.WriteClose(1001, []byte("going away"))
	<-conns
	eventually(t, "three connections", func() bool { return seen.count(client.StateConnected) == 3 })
}

// TestExpiredTokenReconnects: when refreshing fails, the server closes
// with 4001 at expiry; the client asks for a new token and reconnects, and
// its subscription goes on.
func TestExpiredTokenReconnects(t *testing.T) {
	srv := startServer(t, func(cfg *rampart.Config) {
		cfg.Auth.RefreshWindow = time.Second
		cfg.Auth.Leeway = time.Millisecond
	})
	var calls atomic.Int32
	var seen states
	c := srv.dial(t, "alice", client.Config{
		OnState: seen.record,
		Token: func(context.Context) (string, error) {
			switch calls.Add(1) {
			case 1:
				return mint(t, "alice", 2*time.Second), nil
			case 2:
				return "", errors.New("token service down") // the refresh fails
			}
			return mint(t, "alice", time.Hour), nil
		},
	})
	got := newCollector()
	ctx := ctxFor(t)
	if _, err := c.Subscribe(ctx, "chat:exp", got.publication); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	first := c.Welcome().Client
	eventually(t, "a reconnect", func() bool { return seen.count(client.StateConnected) == 2 })
	if c.Welcome().Client == first {
		t.Fatal("same connection after expiry")
	}
	if _, err := c.Publish(ctx, "chat:exp", "after"); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	checkSequence(t, got.waitPubs(t, 1), 1, 1)
	if n := calls.Load(); n != 3 {
		t.Fatalf("Token called %d times, want 3 (dial, refresh, reconnect)", n)
	}
}
