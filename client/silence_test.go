package client_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/client"
)

// quietWelcome announces a ping every 200 ms and a pong timeout of 200 ms:
// a client that hears nothing for their sum plus its slack (5 s) counts
// the connection lost.
const quietWelcome = `{"push":"welcome","client":"c1","user":"u","expires_at":0,` +
	`"limits":{"max_message_bytes":16384,"messages_per_minute":50,"ping_interval_ms":200,"pong_timeout_ms":200}}`

// quietServer upgrades and sends quietWelcome. With ping, it then pings
// every 100 ms until the connection ends, as the announcement promises;
// without, it never sends another frame and never closes: a server, or
// the path to it, gone silent without a FIN. Each connection's arrival is
// sent on conns.
func quietServer(t *testing.T, ping bool) (url string, conns <-chan time.Time) {
	t.Helper()
	ch := make(chan time.Time, 4)
	up := gws.NewUpgrader(&gws.BuiltinEventHandler{}, &gws.ServerOption{SubProtocols: []string{"rampart.v1"}})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		_ = ws.WriteString(quietWelcome)
		ch <- time.Now()
		if ping {
			go func() {
				for ws.WritePing(nil) == nil {
					time.Sleep(100 * time.Millisecond)
				}
			}()
		}
		ws.ReadLoop() // ends when the client closes its side
	}))
	t.Cleanup(ts.Close)
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws", ch
}

// A server that goes silent is given up on once the silence its welcome
// announced (plus the slack) has passed, not before, and the client
// reconnects: it does not wait minutes for TCP to notice.
func TestSilentServerCountsAsLost(t *testing.T) {
	t.Parallel()
	url, conns := quietServer(t, false)
	var seen states
	c := dialQuick(t, url, &seen)
	first := <-conns
	if w := c.Welcome(); w.PingInterval != 200*time.Millisecond || w.PongTimeout != 200*time.Millisecond {
		t.Fatalf("Welcome: ping %v, pong %v; want 200ms each", w.PingInterval, w.PongTimeout)
	}
	select {
	case second := <-conns:
		if gap := second.Sub(first); gap < 5*time.Second {
			t.Fatalf("reconnected %v after the welcome, before the announced silence (5.4s) had passed", gap)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no reconnect 15s after the server went silent")
	}
	eventually(t, "the second connection", func() bool { return seen.count(client.StateConnected) == 2 })
}

// Pings are enough to keep a connection on which nothing else comes: the
// read deadline moves with every frame, pings included.
func TestPingsKeepAQuietConnection(t *testing.T) {
	t.Parallel()
	url, conns := quietServer(t, true)
	var seen states
	c, err := client.Dial(ctxFor(t), client.Config{URL: url, Token: staticToken("t"), OnState: seen.record})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	<-conns
	select {
	case <-conns:
		t.Fatal("the client reconnected although the server pinged")
	case <-time.After(8 * time.Second): // longer than the announced silence with its slack
	}
	if n := seen.count(client.StateConnected); n != 1 {
		t.Fatalf("connected %d times, want once", n)
	}
}

// A Rampart server announces its ping interval and pong timeout in the
// welcome.
func TestWelcomeAnnouncesPing(t *testing.T) {
	srv := startServer(t, func(cfg *rampart.Config) {
		cfg.Limits.PingInterval = 7 * time.Second
		cfg.Limits.PongTimeout = 3 * time.Second
	})
	c := srv.dial(t, "alice", client.Config{})
	if w := c.Welcome(); w.PingInterval != 7*time.Second || w.PongTimeout != 3*time.Second {
		t.Fatalf("Welcome: ping %v, pong %v; want 7s and 3s", w.PingInterval, w.PongTimeout)
	}
}
