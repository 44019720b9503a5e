package rampart

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rampart-rt/rampart/internal/wstest"
)

// negotiated is the answer of a server that accepts compression.
const negotiated = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// compressing starts a server with compression.enabled.
func compressing(t *testing.T, edit func(*Config)) *testServer {
	t.Helper()
	return startServer(t, func(c *Config) {
		c.Compression.Enabled = true
		if edit != nil {
			edit(c)
		}
	})
}

// dialDeflate connects offering what a browser offers, checks that
// compression was negotiated, and reads the welcome.
func (s *testServer) dialDeflate(t *testing.T, tok string) *client {
	t.Helper()
	req := s.request(tok)
	req.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
	ws, resp, err := s.dialRaw(t, req, wstest.Options{})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != negotiated {
		t.Fatalf("Sec-WebSocket-Extensions %q, want %q", got, negotiated)
	}
	ws.SetInflate(true)
	c := &client{t: t, ws: ws}
	if c.welcome = c.next(); c.welcome.Push != "welcome" {
		t.Fatalf("first frame %s", c.welcome.raw)
	}
	return c
}

func TestCompressionNegotiation(t *testing.T) {
	t.Parallel()
	srv := compressing(t, nil)
	cases := []struct {
		offers []string // one header line each
		want   string
	}{
		{[]string{"permessage-deflate; client_max_window_bits"}, negotiated},
		{[]string{"permessage-deflate"}, negotiated},
		{[]string{"permessage-deflate;client_max_window_bits=10;server_no_context_takeover"}, negotiated},
		{[]string{`permessage-deflate; client_max_window_bits="12"`}, negotiated},
		{[]string{"x-webkit-deflate-frame, permessage-deflate; client_no_context_takeover"}, negotiated},
		{[]string{"foo", "permessage-deflate"}, negotiated},
		{[]string{"permessage-deflate; server_max_window_bits=10, permessage-deflate"}, negotiated},
		{[]string{"permessage-deflate; server_max_window_bits=10"}, ""},
		{[]string{"permessage-deflate; server_max_window_bits=15"}, ""},
		{[]string{"permessage-deflate; client_max_window_bits=7"}, ""},
		{[]string{"permessage-deflate; client_max_window_bits=016"}, ""},
		{[]string{"permessage-deflate; client_max_window_bits=abc"}, ""},
		{[]string{"permessage-deflate; server_no_context_takeover=1"}, ""},
		{[]string{"permessage-deflate; client_no_context_takeover; client_no_context_takeover"}, ""},
		{[]string{"permessage-deflate; mystery"}, ""},
		{[]string{"x-webkit-deflate-frame"}, ""},
		{[]string{"permessage-deflate-x"}, ""},
		{nil, ""},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.offers, " | "), func(t *testing.T) {
			req := srv.request(token(t, "alice"))
			for _, o := range tc.offers {
				req.Header.Add("Sec-WebSocket-Extensions", o)
			}
			ws, resp, err := srv.dialRaw(t, req, wstest.Options{})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != tc.want {
				t.Fatalf("Sec-WebSocket-Extensions %q, want %q", got, tc.want)
			}
			ws.SetInflate(true)
			c := &client{t: t, ws: ws}
			if w := c.next(); w.Push != "welcome" {
				t.Fatalf("first frame %s", w.raw)
			}
			c.ok("ping", "")
		})
	}
}

// bigJSON is a JSON object of about n bytes, as compressible as typical
// application data.
func bigJSON(n int) string {
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < n-40; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"user":"user-%d","text":"message number %d"}`, i, i%7, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// Messages flow both ways compressed: a publication over the threshold
// arrives compressed, one under it plain, and a compressed command is
// answered.
func TestCompressedMessagesFlow(t *testing.T) {
	t.Parallel()
	srv := compressing(t, nil)
	c := srv.dialDeflate(t, token(t, "alice"))
	c.subscribe("chat:deflate")
	big := bigJSON(2048)
	before := c.ws.Inflated()
	c.publish("chat:deflate", big)
	if p := c.nextPush(); p.Push != "publication" || string(p.Data) != big {
		t.Fatalf("publication %.80s", p.raw)
	}
	if c.ws.Inflated() != before+1 {
		t.Fatal("the 2 KiB publication did not arrive compressed")
	}
	before = c.ws.Inflated()
	c.publish("chat:deflate", `"short"`)
	if p := c.nextPush(); string(p.Data) != `"short"` {
		t.Fatalf("publication %s", p.raw)
	}
	if c.ws.Inflated() != before {
		t.Fatal("a publication under compression.threshold_bytes arrived compressed")
	}
	if err := c.ws.WriteCompressedText(`{"id":99,"action":"ping"}`); err != nil {
		t.Fatal(err)
	}
	if m := c.next(); m.ID != 99 || m.Error != nil {
		t.Fatalf("compressed ping answered %s", m.raw)
	}
}

// One publication is compressed once, however many subscribers receive it
// compressed; subscribers without compression get it plain.
func TestFanoutCompressesOnce(t *testing.T) {
	t.Parallel()
	srv := compressing(t, nil)
	const deflating, plain = 12, 3
	var subs []*client
	for i := range deflating + plain {
		var c *client
		if i < deflating {
			c = srv.dialDeflate(t, token(t, fmt.Sprintf("d%d", i)))
		} else {
			c = srv.dial(t, token(t, fmt.Sprintf("p%d", i)))
		}
		c.subscribe("chat:fanout")
		subs = append(subs, c)
	}
	big := bigJSON(4096)
	before := testutil.ToFloat64(srv.s.metrics.Compressed)
	subs[0].publish("chat:fanout", big)
	for i, c := range subs {
		if p := c.nextPush(); string(p.Data) != big {
			t.Fatalf("subscriber %d got %.80s", i, p.raw)
		}
		want := 0
		if i < deflating {
			want = 1
		}
		if c.ws.Inflated() != want {
			t.Fatalf("subscriber %d: %d compressed messages, want %d", i, c.ws.Inflated(), want)
		}
	}
	if n := testutil.ToFloat64(srv.s.metrics.Compressed) - before; n != 1 {
		t.Fatalf("the publication was compressed %v times for %d subscribers, want once", n, deflating)
	}
}

// Frames that break permessage-deflate's rules close the connection with
// the code docs/protocol.md gives, the offending message unanswered.
func TestCompressedFrameViolationsClose(t *testing.T) {
	t.Parallel()
	srv := compressing(t, func(c *Config) { c.Limits.MaxMessageBytes = 4096 })
	ping := []byte(`{"id":1,"action":"ping"}`)
	deflated := wstest.Deflate(ping)
	frames := func(fs ...wstest.Frame) func(*wstest.Conn) error {
		return func(ws *wstest.Conn) error {
			for _, f := range fs {
				if err := ws.WriteFrame(f); err != nil {
					return err
				}
			}
			return nil
		}
	}
	cases := []struct {
		name  string
		write func(*wstest.Conn) error
		want  uint16
	}{
		{"RSV1 on a ping", frames(wstest.Frame{Opcode: wstest.OpPing, RSV: wstest.RSV1}), 1002},
		{"RSV1 on a close", frames(wstest.Frame{Opcode: wstest.OpClose, RSV: wstest.RSV1, Payload: []byte{3, 232}}), 1002},
		{"RSV1 on a continuation", frames(
			wstest.Frame{Opcode: wstest.OpText, RSV: wstest.RSV1, Payload: deflated[:3], NotFinal: true},
			wstest.Frame{Opcode: wstest.OpContinuation, RSV: wstest.RSV1, Payload: deflated[3:]}), 1002},
		{"RSV2 on a text", frames(wstest.Frame{Opcode: wstest.OpText, RSV: wstest.RSV2, Payload: ping}), 1002},
		{"RSV3 on a compressed text", frames(wstest.Frame{Opcode: wstest.OpText, RSV: wstest.RSV1 | wstest.RSV3, Payload: deflated}), 1002},
		{"garbage deflate data", frames(wstest.Frame{Opcode: wstest.OpText, RSV: wstest.RSV1, Payload: []byte{0xff, 0xff, 0xff, 0xff, 0xff}}), 1007},
		{"reserved block type", frames(wstest.Frame{Opcode: wstest.OpText, RSV: wstest.RSV1, Payload: []byte{0x07, 0x00}}), 1007},
		{"inflates to invalid UTF-8", frames(wstest.Frame{Opcode: wstest.OpText, RSV: wstest.RSV1, Payload: wstest.Deflate([]byte("\"\xff\""))}), 1007},
		{"inflates past max_message_bytes", frames(wstest.Frame{Opcode: wstest.OpText, RSV: wstest.RSV1, Payload: wstest.Deflate(padPing(4097))}), 1009},
		{"compressed binary", frames(wstest.Frame{Opcode: wstest.OpBinary, RSV: wstest.RSV1, Payload: deflated}), 1003},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := srv.dialDeflate(t, token(t, "alice"))
			if err := tc.write(c.ws); err != nil {
				t.Fatalf("write: %v", err)
			}
			for _, m := range c.expectClose(tc.want) {
				if m.isReply() {
					t.Fatalf("the offending frame was answered: %s", m.raw)
				}
			}
		})
	}
	srv.waitConnections(t, 0)
}

// deflateBomb returns a permessage-deflate payload that inflates to n MiB
// of zeros: 1 MiB deflated once, its blocks repeated (a deflate stream may
// go on after a sync flush), so building it costs little.
func deflateBomb(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = w.Write(make([]byte, 1<<20))
	_ = w.Flush() // ends with the empty stored block 00 00 ff ff
	bomb := bytes.Repeat(buf.Bytes(), n)
	bomb = bomb[:len(bomb)-4] // the last sync flush's tail goes, as RFC 7692 7.2.1 says
	inflated, err := io.Copy(io.Discard, flate.NewReader(io.MultiReader(bytes.NewReader(bomb), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}))))
	if err != nil || inflated != int64(n)<<20 {
		t.Fatalf("the bomb inflates to %d bytes (%v), want %d", inflated, err, n<<20)
	}
	return bomb
}

// A decompression bomb is refused with 1009 once the inflated bytes pass
// limits.max_message_bytes, before memory grows: what the whole process
// allocates while the server reads it, inflates it and closes stays within
// a small bound, far under what the bomb inflates to. Not parallel, so
// that no other test allocates meanwhile.
func TestDeflateBombCloses1009WithoutGrowingMemory(t *testing.T) {
	cases := []struct {
		maxBytes int
		mib      int // what the bomb inflates to
	}{
		{16 << 10, 15},   // the default limit: about the largest bomb a 16 KiB frame can carry
		{128 << 10, 100}, // a 100 MiB bomb, about 100 KiB compressed
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d MiB bomb at a %d KiB limit", tc.mib, tc.maxBytes>>10), func(t *testing.T) {
			srv := compressing(t, func(c *Config) { c.Limits.MaxMessageBytes = tc.maxBytes })
			bomb := deflateBomb(t, tc.mib)
			if len(bomb) > tc.maxBytes {
				t.Fatalf("the bomb is %d bytes compressed, over the %d-byte frame limit", len(bomb), tc.maxBytes)
			}
			c := srv.dialDeflate(t, token(t, "alice"))
			frame := wstest.AppendFrame(nil, wstest.Frame{Opcode: wstest.OpText, RSV: wstest.RSV1, Payload: bomb}, [4]byte{1, 2, 3, 4})
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			if err := c.ws.WriteRaw(frame); err != nil {
				t.Fatalf("write: %v", err)
			}
			c.expectClose(1009)
			srv.waitConnections(t, 0)
			runtime.ReadMemStats(&after)
			allocated := after.TotalAlloc - before.TotalAlloc
			const bound = 4 << 20
			t.Logf("%d bytes compressed, %d MiB inflated: %d KiB allocated in the whole process while refused", len(bomb), tc.mib, allocated>>10)
			if allocated > bound {
				t.Fatalf("%d bytes allocated while refusing the bomb, want at most %d", allocated, bound)
			}
		})
	}
}

// A reload switches compression for new connections; open ones keep what
// they negotiated.
func TestCompressionReload(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	old := srv.dial(t, token(t, "alice"))
	old.subscribe("chat:reload")
	cfg := baseConfig()
	cfg.Compression.Enabled = true
	if err := srv.s.Reload(cfg); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	fresh := srv.dialDeflate(t, token(t, "bob"))
	fresh.subscribe("chat:reload")
	old.ws.SetInflate(true) // counts what would arrive compressed
	big := bigJSON(2048)
	fresh.publish("chat:reload", big)
	for _, c := range []*client{old, fresh} {
		if p := c.nextPush(); string(p.Data) != big {
			t.Fatalf("publication %.80s", p.raw)
		}
	}
	if old.ws.Inflated() != 0 || fresh.ws.Inflated() != 1 {
		t.Fatalf("compressed messages: %d on the connection opened before the reload (want 0), %d after (want 1)", old.ws.Inflated(), fresh.ws.Inflated())
	}
}
