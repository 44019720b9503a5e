package rampart

import (
	"testing"
	"time"

	"github.com/rampart-rt/rampart/internal/wstest"
)

// The server pings a quiet connection every ping_interval, keeps one that
// answers, and drops one that does not answer within pong_timeout.
func TestKeepalive(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.Limits.PingInterval = time.Second
		c.Limits.PongTimeout = time.Second
	})
	alive := s.dial(t, token(t, "alive"))
	silent, _, err := s.dialRaw(t, s.request(token(t, "silent")), wstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The silent client reads frames but never answers a ping.
	type result struct{ pinged, dropped bool }
	done := make(chan result, 1)
	go func() {
		var r result
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			f, err := silent.ReadFrame(time.Until(deadline))
			if err != nil {
				r.dropped = true
				break
			}
			if f.Opcode == wstest.OpPing {
				r.pinged = true
			}
		}
		done <- r
	}()
	// Meanwhile the answering client (ReadMessage answers pings) is kept:
	// it reads for longer than ping_interval + pong_timeout.
	if m, err := alive.tryRead(4 * time.Second); err == nil {
		t.Fatalf("unexpected message %s", m.raw)
	}
	r := <-done
	if !r.pinged || !r.dropped {
		t.Fatalf("silent client: pinged %v, dropped %v; want both", r.pinged, r.dropped)
	}
	alive.ok("ping", "")
	s.waitConnections(t, 1)
}
