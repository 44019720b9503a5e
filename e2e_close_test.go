package rampart

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rampart-rt/rampart/internal/wstest"
)

// Frames a correct client never sends, each answered with its close code.
func TestFrameViolationsClose(t *testing.T) {
	t.Parallel()
	const maxBytes = 1024
	srv := startServer(t, func(c *Config) { c.Limits.MaxMessageBytes = maxBytes })
	ping := []byte(`{"id":1,"action":"ping"}`)
	text := func(f wstest.Frame) func(*wstest.Conn) error {
		return func(ws *wstest.Conn) error { return ws.WriteFrame(f) }
	}
	cases := []struct {
		name  string
		write func(*wstest.Conn) error
		want  uint16
	}{
		{"unmasked client frame", text(wstest.Frame{Opcode: wstest.OpText, Payload: ping, Unmasked: true}), 1002},
		{"RSV1 set", text(wstest.Frame{Opcode: wstest.OpText, Payload: ping, RSV: wstest.RSV1}), 1002},
		{"RSV2 set", text(wstest.Frame{Opcode: wstest.OpText, Payload: ping, RSV: wstest.RSV2}), 1002},
		{"RSV3 set", text(wstest.Frame{Opcode: wstest.OpText, Payload: ping, RSV: wstest.RSV3}), 1002},
		{"reserved data opcode 3", text(wstest.Frame{Opcode: 0x3, Payload: ping}), 1002},
		{"reserved control opcode 0xB", text(wstest.Frame{Opcode: 0xB}), 1002},
		{"fragmented ping", text(wstest.Frame{Opcode: wstest.OpPing, Payload: []byte("a"), NotFinal: true}), 1002},
		{"ping payload of 126 bytes", text(wstest.Frame{Opcode: wstest.OpPing, Payload: make([]byte, 126)}), 1002},
		{"continuation without a first fragment", text(wstest.Frame{Opcode: wstest.OpContinuation, Payload: ping}), 1002},
		{"compressed frame without negotiation", func(ws *wstest.Conn) error {
			return ws.WriteCompressedText(string(ping))
		}, 1002},
		{"binary frame", text(wstest.Frame{Opcode: wstest.OpBinary, Payload: ping}), 1003},
		{"invalid UTF-8", text(wstest.Frame{Opcode: wstest.OpText, Payload: []byte("{\"id\":1,\"action\":\"ping\",\"x\":\"\xff\xfe\"}")}), 1007},
		{"invalid UTF-8, truncated sequence", text(wstest.Frame{Opcode: wstest.OpText, Payload: []byte("\"\xe2\x82\"")}), 1007},
		{"text over max_message_bytes", text(wstest.Frame{Opcode: wstest.OpText, Payload: padPing(maxBytes + 1)}), 1009},
		{"fragments adding up over max_message_bytes", func(ws *wstest.Conn) error {
			p := padPing(maxBytes + 1)
			if err := ws.WriteFrame(wstest.Frame{Opcode: wstest.OpText, Payload: p[:600], NotFinal: true}); err != nil {
				return err
			}
			return ws.WriteFrame(wstest.Frame{Opcode: wstest.OpContinuation, Payload: p[600:]})
		}, 1009},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := srv.request(token(t, "alice"))
			req.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
			ws, resp, err := srv.dialRaw(t, req, wstest.Options{})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
				t.Fatalf("server negotiated %q; compression must stay off", ext)
			}
			c := &client{t: t, ws: ws}
			if w := c.next(); w.Push != "welcome" {
				t.Fatalf("first frame %s", w.raw)
			}
			if err := tc.write(ws); err != nil {
				t.Fatalf("write: %v", err)
			}
			for _, m := range c.expectClose(tc.want) {
				if m.isReply() {
					t.Fatalf("the offending frame was answered: %s", m.raw)
				}
			}
			srv.waitConnections(t, 0)
		})
	}
}

// padPing is a ping command of exactly n bytes.
func padPing(n int) []byte {
	const head, tail = `{"id":1,"action":"ping"`, `}`
	return []byte(head + strings.Repeat(" ", n-len(head)-len(tail)) + tail)
}

func TestMessageAtTheLimitIsAccepted(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) { c.Limits.MaxMessageBytes = 1024 })
	c := srv.dial(t, token(t, "alice"))
	if got := c.welcome.raw; !strings.Contains(string(got), `"max_message_bytes":1024`) {
		t.Fatalf("welcome does not announce the limit: %s", got)
	}
	if m := c.roundTrip(string(padPing(1024))); m.ID != 1 || string(m.Result) != "{}" {
		t.Fatalf("a frame of exactly max_message_bytes got %s", m.raw)
	}
}

// A subscriber that stops reading while a publisher floods the channel is
// closed with 4009 once its send queue overflows; it gets the close frame
// after whatever was already on its way, and the publisher never notices.
func TestSlowConsumerCloses4009(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) {
		c.Limits.SendQueue = 4
		c.Limits.MaxMessageBytes = 128 << 10
	})
	slow := srv.dial(t, token(t, "slow"))
	pub := srv.dial(t, token(t, "pub"))
	slow.subscribe("chat:flood")

	// Enough to fill both socket buffers (the kernel lets a sender buffer
	// 4 MiB) and then the queue.
	const n = 70
	pad := strings.Repeat("x", 100<<10)
	for i := 1; i <= n; i++ { // the publisher is never held back by the slow reader
		if got := pub.publish("chat:flood", fmt.Sprintf(`{"n":%d,"pad":%q}`, i, pad)); got != uint64(i) {
			t.Fatalf("publish %d replied offset %d", i, got)
		}
	}
	got := publications(slow.expectClose(4009), "chat:flood")
	if len(got) >= n {
		t.Fatalf("slow consumer received all %d publications; the queue never overflowed", n)
	}
	for i, p := range got {
		if p.Offset != uint64(i+1) {
			t.Fatalf("before the close, publication %d has offset %d", i, p.Offset)
		}
	}
	srv.waitConnections(t, 1)
	pub.ok("ping", "")
}

func TestTooManyViolationsClose1008(t *testing.T) {
	t.Parallel()
	const limit = 3
	srv := startServer(t, func(c *Config) { c.Limits.MaxViolations = limit })
	c := srv.dial(t, token(t, "alice"))
	for i := 0; i < limit; i++ {
		if m := c.roundTrip(`{"id":1,"action":"nope"}`); m.Error == nil || m.Error.Code != "bad_request" {
			t.Fatalf("violation %d answered %s", i+1, m.raw)
		}
	}
	c.ok("ping", "") // valid commands do not count
	c.send(`not json`)
	c.expectClose(1008)
	srv.waitConnections(t, 0)
}

func TestRateLimitAbuseCloses4029(t *testing.T) {
	t.Parallel()
	const threshold = 3
	srv := startServer(t, func(c *Config) {
		c.Limits.Burst = 1
		c.Limits.MessagesPerMinute = 1
		c.Limits.RateLimitAbuseThreshold = threshold
	})
	c := srv.dial(t, token(t, "alice"))
	c.ok("ping", "")
	for i := 0; i < threshold; i++ {
		c.fails("ping", "", "rate_limited")
	}
	c.send(`{"id":99,"action":"ping"}`)
	c.expectClose(4029)
	srv.waitConnections(t, 0)
}

func TestTokenExpiryCloses4001(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) {
		c.Auth.Leeway = time.Millisecond
		c.Auth.RefreshWindow = time.Minute // longer than the token lives
	})
	exp := time.Now().Add(2 * time.Second).Unix()
	tok := mint(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "alice", "exp": exp})
	c := srv.dial(t, tok)
	if c.welcome.ExpiresAt != exp*1000 {
		t.Fatalf("welcome expires_at %d, want %d", c.welcome.ExpiresAt, exp*1000)
	}
	if r := c.nextPush(); r.Push != "refresh_required" || r.ExpiresAt != exp*1000 {
		t.Fatalf("want refresh_required with expires_at %d, got %s", exp*1000, r.raw)
	}
	c.ok("ping", "")
	c.expectClose(4001)
	if now := time.Now(); now.Before(time.Unix(exp, 0)) {
		t.Fatalf("closed at %s, before the token expired at %s", now, time.Unix(exp, 0))
	}
	srv.waitConnections(t, 0)
}

func TestRefreshWithAnotherUsersTokenCloses1008(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	c := srv.dial(t, token(t, "alice"))
	later := time.Now().Add(2 * time.Hour).Unix()
	own := mint(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "alice", "exp": later})
	if m := c.call("refresh", fmt.Sprintf(`"token":%q`, own)); m.Error != nil || string(m.Result) != fmt.Sprintf(`{"expires_at":%d}`, later*1000) {
		t.Fatalf("refresh with alice's own token: %s", m.raw)
	}
	bad := mint(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef-0123456789"), claims("alice", time.Hour))
	c.fails("refresh", fmt.Sprintf(`"token":%q`, bad), "unauthorized")
	c.send(fmt.Sprintf(`{"id":50,"action":"refresh","token":%q}`, token(t, "bob")))
	c.expectClose(1008)
	srv.waitConnections(t, 0)
}

// A slow consumer that reads nothing at all cannot be sent its 4009: the
// writer stays blocked until write_timeout and the socket is dropped. The
// log and the metric say what happened (no close frame, code 0, the
// decided 4009 noted), not a close the client never saw.
func TestSlowConsumerThatReadsNothingIsLoggedAsDropped(t *testing.T) {
	logs := &logBuffer{}
	srv := startServer(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		c.Limits.SendQueue = 4
		c.Limits.MaxMessageBytes = 128 << 10
		c.Limits.WriteTimeout = 500 * time.Millisecond
	})
	slow := srv.dialWith(t, srv.request(token(t, "slow")), wstest.Options{ReadBuffer: 4096})
	slow.subscribe("chat:flood")
	pub := srv.dial(t, token(t, "pub"))
	pad := strings.Repeat("x", 100<<10)
	for i := 1; i <= 70; i++ {
		pub.publish("chat:flood", fmt.Sprintf(`{"n":%d,"pad":%q}`, i, pad))
	}
	srv.waitConnections(t, 1)
	logs.find(t, "slow_consumer", map[string]any{"client": slow.welcome.Client})
	ev := logs.find(t, "connection_closed", map[string]any{"client": slow.welcome.Client})
	if ev["code"] != 0.0 || ev["decided_code"] != 4009.0 || !strings.Contains(fmt.Sprint(ev["reason"]), "not delivered") {
		t.Fatalf("connection_closed says %v; want code 0, decided_code 4009, the close not delivered", ev)
	}
	if v := metricValue(t, srv, `rampart_closes_total{code="4009"}`); v != 0 {
		t.Fatalf(`rampart_closes_total{code="4009"} = %v for a close frame never written`, v)
	}
	if v := metricValue(t, srv, `rampart_closes_total{code="0"}`); v < 1 {
		t.Fatalf(`rampart_closes_total{code="0"} = %v`, v)
	}
}

// Tokens that live less than the refresh window are asked for at half
// their life: a client that renews at once keeps its connection across
// several renewals (asked for at once, the renewal minted in the same
// second had the same exp, was never asked for, and expired with 4001).
func TestShortTokensAreRenewedAtHalfTheirLife(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) {
		c.Auth.Leeway = time.Millisecond
		c.Auth.RefreshWindow = time.Minute // longer than the tokens live
	})
	short := func() (string, int64) {
		now := time.Now()
		exp := now.Add(4 * time.Second).Unix()
		return mint(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "alice", "iat": now.Unix(), "exp": exp}), exp
	}
	tok, exp := short()
	c := srv.dial(t, tok)
	for renewal := range 3 {
		r := c.nextPush()
		if r.Push != "refresh_required" || r.ExpiresAt != exp*1000 {
			t.Fatalf("renewal %d: want refresh_required for %d, got %s", renewal, exp*1000, r.raw)
		}
		if left := time.Until(time.Unix(exp, 0)); left > 3*time.Second {
			t.Fatalf("renewal %d: asked for %s before exp, more than half the token's life", renewal, left)
		}
		tok, exp = short()
		c.ok("refresh", fmt.Sprintf(`"token":%q`, tok))
	}
	c.ok("ping", "")
}
