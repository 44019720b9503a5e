package rampart

// FuzzWire drives a live server over real loopback TCP with bytes chosen
// by the fuzzer, after a real, authenticated handshake. Each input is a
// small program (see wireProgram) that writes raw bytes split where the
// input says, and frames built from the input: fragmented messages with
// control frames between the fragments, masked and unmasked frames,
// reserved opcodes and bits, 7/16/64-bit length forms, lengths that lie
// (a 64-bit length with its top bit set among them), close frames of every
// shape, and valid commands to reach the JSON layer.
//
// An input fails when:
//   - the process dies: a panic anywhere in the server kills the test
//     binary, which the fuzzer reports with the input;
//   - the server sends anything but what it may send: every frame is
//     parsed strictly (wstest.ReadServerFrame: unmasked, RSV 0, the length
//     in its shortest form, control frames at most 125 bytes) and must also
//     be final (the server never fragments) with opcode text, ping, pong or
//     close; a text frame is one UTF-8 JSON object, and an error reply
//     carries a code from protocol.Codes; a close frame carries a code from
//     protocol.CloseCodes with exactly that code's reason there (so never
//     "gws: ..." nor any Go error text), at most 123 bytes of UTF-8 (the
//     one close without a code allowed is the answer to the client's own
//     empty close, RFC 6455 section 5.5.1); nothing follows a close frame;
//   - the server hangs: once the input is written (and a frame it left
//     unfinished is completed with zero bytes, when the length it declared
//     is small enough for the server to wait for it), a ping command must be
//     answered, or the connection closed, within wireWait (the socket
//     ending without a close frame counts as closed: a reset can overtake
//     the close frame when the client wrote after it);
//   - something leaks: after each input the server's connection count
//     returns to 0 and runtime.NumGoroutine to what it was before the input
//     (polled with a deadline); when the fuzz function ends, goleak finds no
//     goroutine beyond those alive when it began;
//   - the server logs a line that is not one JSON object, or that carries
//     the token or the HMAC secret.
//
// FuzzWireCompressed plays the same programs against a server with
// compression enabled (and a threshold low enough that its replies are
// compressed too), on connections that negotiated permessage-deflate: the
// RSV1 frames the fuzzer writes reach the inflater with whatever payload
// it chose, and commands may go out deflated. The server's compressed
// frames are inflated, within the read limit, and judged like the others.
//
// One server serves every input of a fuzz worker process; f.Cleanup shuts
// it down. Every input gets a connection of its own, and a failing input
// logs the steps it decoded to. `go test -run FuzzWire .` runs the seeds
// and testdata/fuzz/FuzzWire; `go test -run '^$' -fuzz '^FuzzWire$' .`
// fuzzes.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/rampart-rt/rampart/internal/wstest"
	"github.com/rampart-rt/rampart/protocol"
)

const (
	wireMaxMessage = 1024             // limits.max_message_bytes of the fuzzed server
	wireWait       = 5 * time.Second  // for an answer, a close, or a count to settle
	wireMaxOps     = 64               // program steps run per input
	wireMaxBytes   = 256 << 10        // bytes an input may have written
	wirePadLimit   = 64 << 10         // longest unfinished frame completed with zeros
	wireChannel    = "chat:fuzz"      // where the input's commands publish
	wireUser       = "fuzz-wire-user" // the token's sub
)

func FuzzWire(f *testing.F) { fuzzWire(f, false) }

func FuzzWireCompressed(f *testing.F) { fuzzWire(f, true) }

func fuzzWire(f *testing.F, compressed bool) {
	for _, seed := range wireSeeds() {
		f.Add([]byte(seed))
	}
	before := goleak.IgnoreCurrent()
	f.Cleanup(func() {
		if err := goleak.Find(before); err != nil {
			f.Errorf("goroutines left by %s: %v", f.Name(), err)
		}
	})
	h := startWireHarness(f, compressed)
	f.Fuzz(func(t *testing.T, prog []byte) { h.run(t, prog) })
}

// wireHarness is one server and what every input needs to reach it.
type wireHarness struct {
	srv        *testServer
	token      string
	logs       *logWatch
	compressed bool // the server compresses, and each connection negotiates it
}

// wireNegotiated is the answer of a server that accepts compression.
const wireNegotiated = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

func startWireHarness(f *testing.F, compressed bool) *wireHarness {
	logs := &logWatch{secrets: [][]byte{testSecret}}
	cfg := baseConfig()
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	cfg.Limits.MaxMessageBytes = wireMaxMessage
	cfg.Limits.HandshakesPerIPPerMin = 1 << 20
	if compressed {
		cfg.Compression.Enabled = true
		cfg.Compression.ThresholdBytes = 16 // replies and the welcome go out compressed too
	}
	s, err := New(cfg)
	if err != nil {
		f.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(s)
	f.Cleanup(ts.Close)
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			f.Errorf("Shutdown: %v", err)
		}
	})
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(wireUser, 24*time.Hour)).SignedString(testSecret)
	if err != nil {
		f.Fatalf("signing a token: %v", err)
	}
	rememberSecret(tok)
	logs.secrets = append(logs.secrets, []byte(tok[len(tok)-24:]))
	return &wireHarness{
		srv:        &testServer{s: s, ts: ts, addr: strings.TrimPrefix(ts.URL, "http://")},
		token:      tok,
		logs:       logs,
		compressed: compressed,
	}
}

// run plays one input against a fresh connection and checks everything
// the file comment promises.
func (h *wireHarness) run(t *testing.T, prog []byte) {
	base := runtime.NumGoroutine()
	req := h.srv.request(h.token)
	if h.compressed {
		req.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
	}
	ws, resp, err := wstest.Dial(context.Background(), h.srv.addr, req, wstest.Options{})
	if err != nil {
		if resp != nil {
			t.Fatalf("dial: %v: %d %s", err, resp.StatusCode, resp.Body)
		}
		t.Fatalf("dial: %v", err)
	}
	if h.compressed {
		if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != wireNegotiated {
			_ = ws.Close()
			t.Fatalf("Sec-WebSocket-Extensions %q, want %q", got, wireNegotiated)
		}
		ws.SetInflate(true) // before the reader starts: it is the reader's
	}
	rd := startWireReader(ws)
	if !rd.welcomed(wireWait) {
		_ = ws.Close()
		rd.wait()
		t.Fatalf("no welcome push: %s", rd.problem())
	}

	p := newWireProgram(prog)
	sent := p.play(ws)
	pad := wireOwed(sent)
	if pad > 0 {
		_ = ws.WriteRaw(make([]byte, pad))
		sent = append(sent, make([]byte, pad)...)
	}
	id := rand.Uint64N(1<<53-1) + 1
	rd.expect(id)
	_ = ws.WriteFrame(wstest.Frame{Opcode: wstest.OpText, Payload: fmt.Appendf(nil, `{"id":%d,"action":"ping"}`, id)})
	outcome := rd.settle(wireWait)
	_ = ws.Close()
	rd.wait()

	if msg := rd.problem(); msg != "" {
		t.Errorf("server frame: %s", msg)
	}
	// The reader is done: its fields are ours. An empty close may only
	// answer the client's own (RFC 6455, 5.5.1).
	if rd.closed && (len(rd.closeFrame) > 0 || !wireHasEmptyClose(sent)) {
		if msg := judgeClose(rd.closeFrame); msg != "" {
			t.Errorf("server frame: %s", msg)
		}
	}
	if outcome == "" {
		t.Errorf("the server neither answered a ping nor closed within %s", wireWait)
	}
	if h.compressed && ws.Inflated() == 0 { // the reader is done: its count is ours
		t.Errorf("no compressed frame from the server, not even the welcome")
	}
	if msg := h.logs.take(); msg != "" {
		t.Errorf("log: %s", msg)
	}
	h.waitIdle(t, base)
	if t.Failed() {
		t.Logf("input: %d bytes written (the last %d of them zero padding); steps:\n%s", len(sent), pad, strings.Join(p.trace, "\n"))
	}
}

// waitIdle waits until the server has no connection and the goroutine
// count is back to base.
func (h *wireHarness) waitIdle(t *testing.T, base int) {
	deadline := time.Now().Add(wireWait)
	for h.srv.s.Connections() != 0 || runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("after the input: %d connections, %d goroutines (%d before):\n%s",
				h.srv.s.Connections(), runtime.NumGoroutine(), base, buf)
		}
		time.Sleep(time.Millisecond)
	}
}

// wireReader reads and judges every frame the server sends on one
// connection, on its own goroutine, until the socket ends.
type wireReader struct {
	ws   *wstest.Conn
	done chan struct{}

	mu         sync.Mutex
	cond       *sync.Cond
	welcome    bool
	want       uint64 // the id of the ping whose reply ends the wait
	answered   bool
	closed     bool   // a close frame came
	closeFrame []byte // its payload
	ended      bool   // the socket ended
	bad        string // the first thing the server should not have sent
}

func startWireReader(ws *wstest.Conn) *wireReader {
	r := &wireReader{ws: ws, done: make(chan struct{})}
	r.cond = sync.NewCond(&r.mu)
	go r.loop()
	return r
}

func (r *wireReader) loop() {
	defer close(r.done)
	deadline := time.Now().Add(4 * wireWait)
	for {
		f, err := r.ws.ReadServerFrame(time.Until(deadline))
		r.mu.Lock()
		switch {
		case errors.Is(err, wstest.ErrBadServerFrame):
			r.failLocked(fmt.Sprintf("%v: % .64x", err, f.Payload))
		case err != nil:
			r.ended = true
		case r.closed:
			r.failLocked(fmt.Sprintf("opcode %#x after the close frame", byte(f.Opcode)))
		default:
			r.judgeLocked(f)
		}
		stop := err != nil
		r.cond.Broadcast()
		r.mu.Unlock()
		if stop {
			return
		}
	}
}

func (r *wireReader) failLocked(msg string) {
	if r.bad == "" {
		r.bad = msg
	}
}

func (r *wireReader) judgeLocked(f wstest.Frame) {
	if f.NotFinal {
		r.failLocked(fmt.Sprintf("a fragment (opcode %#x): the server never fragments", byte(f.Opcode)))
		return
	}
	switch f.Opcode {
	case wstest.OpPing, wstest.OpPong:
	case wstest.OpClose:
		r.closed, r.closeFrame = true, f.Payload // judged once the whole input is known
	case wstest.OpText:
		m, msg := judgeText(f.Payload)
		if msg != "" {
			r.failLocked(msg)
		}
		if m.Push == "welcome" {
			r.welcome = true
		}
		if r.want != 0 && m.ID == r.want && m.Push == "" {
			if string(m.Result) != "{}" {
				r.failLocked(fmt.Sprintf("ping answered %s", f.Payload))
			}
			r.answered = true
		}
	default:
		r.failLocked(fmt.Sprintf("opcode %#x: the server sends only text, ping, pong and close", byte(f.Opcode)))
	}
}

// judgeClose checks a close frame's payload against the protocol's list.
func judgeClose(p []byte) string {
	if len(p) < 2 {
		return fmt.Sprintf("close frame without a code (payload % x)", p)
	}
	code, reason := binary.BigEndian.Uint16(p), string(p[2:])
	want, listed := protocol.CloseCodes[code]
	switch {
	case !listed:
		return fmt.Sprintf("close %d %q: the code is not in protocol.CloseCodes", code, reason)
	case strings.HasPrefix(reason, "gws"):
		return fmt.Sprintf("close %d %q: gws's own text", code, reason)
	case len(reason) > 123 || !utf8.ValidString(reason):
		return fmt.Sprintf("close %d %q: not at most 123 bytes of UTF-8", code, reason)
	case reason != want:
		return fmt.Sprintf("close %d %q: want the reason %q", code, reason, want)
	}
	return ""
}

// judgeText checks a text frame: one JSON object, UTF-8, and an error
// reply's code from the protocol's list. It returns the frame decoded as
// far as it goes.
func judgeText(p []byte) (message, string) {
	var m message
	if !utf8.Valid(p) {
		return m, fmt.Sprintf("text frame is not UTF-8: %q", p)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(p, &obj); err != nil || obj == nil {
		return m, fmt.Sprintf("text frame is not a JSON object: %q", p)
	}
	_ = json.Unmarshal(p, &m) // the fields a test reads; judged below as far as needed
	if e, ok := obj["error"]; ok {
		var re replyError
		known := false
		if json.Unmarshal(e, &re) == nil {
			for _, c := range protocol.Codes {
				known = known || string(c) == re.Code
			}
		}
		if !known || re.Message == "" || strings.Contains(re.Message, "gws") {
			return m, fmt.Sprintf("error reply outside the protocol: %s", p)
		}
	}
	return m, ""
}

func (r *wireReader) welcomed(timeout time.Duration) bool {
	return r.waitUntil(timeout, func() bool { return r.welcome }) && r.bad == ""
}

func (r *wireReader) expect(id uint64) {
	r.mu.Lock()
	r.want = id
	r.mu.Unlock()
}

// settle waits for the ping's answer, a close frame or the socket's end,
// and says which came ("" when none did within timeout). After a close
// frame, the socket must end within timeout too.
func (r *wireReader) settle(timeout time.Duration) string {
	if !r.waitUntil(timeout, func() bool { return r.answered || r.closed || r.ended }) {
		return ""
	}
	r.mu.Lock()
	answered, closed := r.answered, r.closed
	r.mu.Unlock()
	switch {
	case answered:
		return "answered"
	case closed:
		if !r.waitUntil(timeout, func() bool { return r.ended }) {
			r.mu.Lock()
			r.failLocked("the server sent a close frame but kept the socket open")
			r.mu.Unlock()
		}
		return "closed"
	}
	return "dropped"
}

// waitUntil waits for cond (read under r.mu) at most timeout.
func (r *wireReader) waitUntil(timeout time.Duration, cond func() bool) bool {
	timer := time.AfterFunc(timeout, func() {
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	r.mu.Lock()
	defer r.mu.Unlock()
	for !cond() {
		if !time.Now().Before(deadline) {
			return false
		}
		r.cond.Wait()
	}
	return true
}

func (r *wireReader) wait() { <-r.done }

func (r *wireReader) problem() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bad
}

// logWatch is the fuzzed server's log: it keeps nothing, and notes the
// first line that is not one JSON object or holds a secret.
type logWatch struct {
	secrets [][]byte
	mu      sync.Mutex
	bad     string
}

func (l *logWatch) Write(p []byte) (int, error) {
	line := bytes.TrimSuffix(p, []byte("\n"))
	msg := ""
	if !json.Valid(line) || bytes.Contains(line, []byte("\n")) {
		msg = fmt.Sprintf("not one JSON object: %q", p)
	}
	for _, s := range l.secrets {
		if bytes.Contains(p, s) {
			msg = "a secret reached the log"
		}
	}
	l.mu.Lock()
	if l.bad == "" {
		l.bad = msg
	}
	l.mu.Unlock()
	return len(p), nil
}

// take returns the problem noted since the last call, and forgets it.
func (l *logWatch) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	bad := l.bad
	l.bad = ""
	return bad
}

// wireOwed returns how many more bytes the server waits for before every
// frame in b is whole, as RFC 6455 frames it (the server may well have
// stopped reading earlier, on a frame it refused: then the bytes owed do
// no harm). It is 0 when b ends on a frame boundary and when the frame it
// ends in declares more than wirePadLimit bytes, which the server must
// refuse rather than wait for.
func wireOwed(b []byte) int {
	owed := 0
	walkFrames(b, func(_ byte, _ uint64, missing int) { owed = missing })
	return owed
}

// wireHasEmptyClose reports whether b holds a whole close frame without a
// payload, which the server may answer with an empty close of its own.
func wireHasEmptyClose(b []byte) bool {
	found := false
	walkFrames(b, func(b0 byte, n uint64, missing int) {
		found = found || b0&0xF == byte(wstest.OpClose) && n == 0 && missing == 0
	})
	return found
}

// walkFrames calls frame for each frame header in b with its first byte,
// the payload length it declares and how many bytes it lacks to be whole
// (a header cut short is completed with zeros to learn its length). It
// stops at the first frame that is not whole or that declares more than
// wirePadLimit bytes (missing 0 then).
func walkFrames(b []byte, frame func(b0 byte, n uint64, missing int)) {
	for pos := 0; pos < len(b); {
		h := b[pos:]
		pad := 0
		if len(h) < 2 {
			pad = 2 - len(h)
			h = append(h[:len(h):len(h)], make([]byte, pad)...)
		}
		head := 2
		switch h[1] & 0x7F {
		case 126:
			head += 2
		case 127:
			head += 8
		}
		if h[1]&0x80 != 0 {
			head += 4
		}
		if len(h) < head {
			pad += head - len(h)
			h = append(h[:len(h):len(h)], make([]byte, head-len(h))...)
		}
		var n uint64
		switch h[1] & 0x7F {
		case 126:
			n = uint64(binary.BigEndian.Uint16(h[2:]))
		case 127:
			n = binary.BigEndian.Uint64(h[2:])
		default:
			n = uint64(h[1] & 0x7F)
		}
		if n > wirePadLimit {
			frame(h[0], n, 0)
			return
		}
		missing := max(0, head+int(n)-len(h)) + pad
		frame(h[0], n, missing)
		if missing > 0 {
			return
		}
		pos += head + int(n)
	}
}

// wireProgram turns fuzz bytes into writes. Each step takes an opcode
// byte and its operands from the input; a missing byte reads as 0. Frame
// bytes are gathered and written when a flush step says, cut at the
// offset it gives, or at the end.
type wireProgram struct {
	in      []byte
	pending []byte
	sent    []byte
	nextID  int
	trace   []string
}

// The steps. The operands are listed with each.
const (
	stepRaw     = iota // n, n bytes: append them as they are
	stepFrame          // flags, opcode, n, repeat, n bytes, mask key [, 8-byte length]: any frame
	stepCommand        // which, how: a valid command, maybe fragmented with control frames between, maybe deflated
	stepFlush          // 2-byte offset: write pending bytes up to it (0: all)
	stepClose          // kind, ...: a close frame of some shape
	stepControl        // flags, n, n bytes: a ping or pong, maybe too long or not final
	stepText           // n, n bytes: a final, masked text frame of those bytes
	stepCount
)

// Flags of stepFrame.
const (
	flagNotFinal = 1 << 0
	flagRSVShift = 1 // bits 1-3
	flagUnmasked = 1 << 4
	flagFormMask = 3 << 5 // wstest.LengthForm
	flagLie      = 1 << 7 // the declared length comes from 8 more input bytes
)

// wireCommands are the commands stepCommand sends, %d being the id.
var wireCommands = []string{
	`{"id":%d,"action":"ping"}`,
	`{"id":%d,"action":"subscribe","channel":"` + wireChannel + `"}`,
	`{"id":%d,"action":"publish","channel":"` + wireChannel + `","data":{"n":1,"s":"é"}}`,
	`{"id":%d,"action":"unsubscribe","channel":"` + wireChannel + `"}`,
	`{"id":%d,"action":"history","channel":"` + wireChannel + `","limit":3}`,
	`{"id":%d,"action":"presence","channel":"` + wireChannel + `"}`,
	`{"id":%d,"action":"subscribe","channel":"` + wireChannel + `","since":{"offset":1,"epoch":"x"}}`,
	`{"id":%d,"action":"publish","channel":"news:fuzz","data":"not an admin"}`,
	`{"id":%d,"action":"nope"}`,
	`{"id":%d,"action":"ping","action":"ping"}`,
	`{"id":%d,"action":"publish","channel":"` + wireChannel + `","data":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	`{"id":%d,"action"`,
}

func newWireProgram(in []byte) *wireProgram { return &wireProgram{in: in} }

func (p *wireProgram) byte() byte {
	if len(p.in) == 0 {
		return 0
	}
	b := p.in[0]
	p.in = p.in[1:]
	return b
}

func (p *wireProgram) take(n int) []byte {
	n = min(n, len(p.in))
	b := p.in[:n:n]
	p.in = p.in[n:]
	return b
}

func (p *wireProgram) key() [4]byte {
	var k [4]byte
	copy(k[:], p.take(4))
	return k
}

// play runs the program on ws and returns every byte it wrote.
func (p *wireProgram) play(ws *wstest.Conn) []byte {
	for i := 0; i < wireMaxOps && len(p.in) > 0 && len(p.sent)+len(p.pending) < wireMaxBytes; i++ {
		switch p.byte() % stepCount {
		case stepRaw:
			b := p.take(int(p.byte()))
			p.pending = append(p.pending, b...)
			p.trace = append(p.trace, fmt.Sprintf("raw % x", b))
		case stepFrame:
			p.frame()
		case stepCommand:
			p.command()
		case stepFlush:
			p.flush(ws, int(binary.BigEndian.Uint16(append(p.take(2), 0, 0))))
		case stepClose:
			p.close()
		case stepControl:
			p.control()
		case stepText:
			b := p.take(int(p.byte()))
			p.pending = wstest.AppendFrame(p.pending, wstest.Frame{Opcode: wstest.OpText, Payload: b}, p.key())
			p.trace = append(p.trace, fmt.Sprintf("text %q", b))
		}
	}
	p.flush(ws, 0)
	return p.sent
}

func (p *wireProgram) flush(ws *wstest.Conn, upTo int) {
	if upTo <= 0 || upTo > len(p.pending) {
		upTo = len(p.pending)
	}
	if upTo == 0 {
		return
	}
	_ = ws.WriteRaw(p.pending[:upTo]) // the server may have closed: writes then fail
	p.sent = append(p.sent, p.pending[:upTo]...)
	p.pending = append(p.pending[:0], p.pending[upTo:]...)
	p.trace = append(p.trace, fmt.Sprintf("write %d bytes", upTo))
}

func (p *wireProgram) frame() {
	flags, op, n, rep := p.byte(), wstest.Opcode(p.byte()&0xF), int(p.byte()), 1+int(p.byte()%16)
	payload := bytes.Repeat(p.take(n), rep)
	h := wstest.Header{
		Opcode:   op,
		NotFinal: flags&flagNotFinal != 0,
		RSV:      (flags >> flagRSVShift) & 7,
		Unmasked: flags&flagUnmasked != 0,
		MaskKey:  p.key(),
		Length:   uint64(len(payload)),
		Form:     wstest.LengthForm((flags & flagFormMask) >> 5),
	}
	if flags&flagLie != 0 {
		h.Length = binary.BigEndian.Uint64(append(p.take(8), make([]byte, 8)...))
	}
	p.pending = wstest.AppendHeader(p.pending, h)
	start := len(p.pending)
	p.pending = append(p.pending, payload...)
	if !h.Unmasked {
		wstest.Mask(p.pending[start:], h.MaskKey)
	}
	p.trace = append(p.trace, fmt.Sprintf("frame %+v, %d payload bytes %.40q", h, len(payload), payload))
}

func (p *wireProgram) command() {
	which, how := int(p.byte()), p.byte()
	p.nextID++
	msg := fmt.Appendf(nil, wireCommands[which%len(wireCommands)], p.nextID)
	op := wstest.OpText
	if how&0x10 != 0 {
		op = wstest.OpBinary
	}
	deflated := how&0x20 != 0
	if deflated {
		msg = wstest.Deflate(msg)
	}
	parts := 1 + int(how&3)
	key := p.key()
	for i := range parts {
		part := msg[i*len(msg)/parts : (i+1)*len(msg)/parts]
		f := wstest.Frame{Opcode: op, Payload: part, NotFinal: i < parts-1}
		if i > 0 {
			f.Opcode = wstest.OpContinuation
		} else if deflated {
			f.RSV = wstest.RSV1 // on the first frame only (RFC 7692 6.1)
		}
		p.pending = wstest.AppendFrame(p.pending, f, key)
		if i < parts-1 && how&0x04 != 0 {
			p.pending = wstest.AppendFrame(p.pending, wstest.Frame{Opcode: wstest.OpPing, Payload: []byte("between")}, key)
		}
		if i < parts-1 && how&0x08 != 0 {
			p.pending = wstest.AppendFrame(p.pending, wstest.Frame{Opcode: wstest.OpPong, Payload: []byte("unasked")}, key)
		}
	}
	p.trace = append(p.trace, fmt.Sprintf("command %q as opcode %#x in %d parts, controls between %03b, deflated %v", msg, byte(op), parts, how>>2&3, deflated))
}

func (p *wireProgram) close() {
	var payload []byte
	switch kind := p.byte() % 4; kind {
	case 0: // empty
	case 1:
		payload = p.take(1)
	case 2:
		payload = append(payload, p.take(2)...)
		payload = append(payload, p.take(int(p.byte()%128))...)
	case 3:
		payload = append(binary.BigEndian.AppendUint16(nil, 1000), "bye"...)
	}
	p.pending = wstest.AppendFrame(p.pending, wstest.Frame{Opcode: wstest.OpClose, Payload: payload}, p.key())
	p.trace = append(p.trace, fmt.Sprintf("close % x", payload))
}

func (p *wireProgram) control() {
	flags, n := p.byte(), int(p.byte())
	f := wstest.Frame{Opcode: wstest.OpPing, Payload: p.take(n), NotFinal: flags&2 != 0}
	if flags&1 != 0 {
		f.Opcode = wstest.OpPong
	}
	p.pending = wstest.AppendFrame(p.pending, f, p.key())
	p.trace = append(p.trace, fmt.Sprintf("control %#x final=%v, %d bytes", byte(f.Opcode), !f.NotFinal, len(f.Payload)))
}

// wireSeed builds a program, for the seeds.
type wireSeed []byte

func (s wireSeed) raw(b ...byte) wireSeed {
	for len(b) > 0 {
		n := min(len(b), 255)
		s = append(s, stepRaw, byte(n))
		s = append(s, b[:n]...)
		b = b[n:]
	}
	return s
}

func (s wireSeed) frame(flags, op byte, payload []byte, length ...uint64) wireSeed {
	return s.frameRep(flags, op, payload, 0, length...)
}

// frameRep is frame with the payload repeated 1+rep times.
func (s wireSeed) frameRep(flags, op byte, payload []byte, rep byte, length ...uint64) wireSeed {
	s = append(s, stepFrame, flags, op, byte(len(payload)), rep)
	s = append(s, payload...)
	s = append(s, 0x5A, 0xA5, 0x0F, 0xF0)
	if len(length) > 0 {
		s = binary.BigEndian.AppendUint64(s, length[0])
	}
	return s
}

func (s wireSeed) command(which, how byte) wireSeed {
	return append(s, stepCommand, which, how, 1, 2, 3, 4)
}

func (s wireSeed) flush(upTo uint16) wireSeed {
	return binary.BigEndian.AppendUint16(append(s, stepFlush), upTo)
}

func (s wireSeed) close(kind byte, rest ...byte) wireSeed {
	s = append(append(s, stepClose, kind), rest...)
	return append(s, 1, 2, 3, 4)
}

func (s wireSeed) text(b []byte) wireSeed {
	s = append(s, stepText, byte(len(b)))
	return append(append(s, b...), 1, 2, 3, 4)
}

func wireSeeds() []wireSeed {
	var s wireSeed
	ping := []byte(`{"id":7,"action":"ping"}`)
	form64 := byte(wstest.Length64) << 5
	return []wireSeed{
		// A 64-bit length with its top bit set, text and binary, as raw
		// bytes (the whole header, mask key included) and as a frame.
		s.raw(0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4),
		s.raw(0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 'x', 'y'),
		s.frame(flagLie|form64, 0x1, ping, 1<<63),
		s.frame(flagLie|form64|flagNotFinal, 0x0, ping, ^uint64(0)),
		// Reserved opcodes 3 and 0xB.
		s.frame(0, 0x3, ping),
		s.frame(0, 0xB, nil),
		// A continuation with no start.
		s.frame(0, 0x0, ping),
		// A fragmented text with a ping (and a pong) in between, then the
		// same command cut in three with nothing between.
		s.command(0, 0x01|0x04).command(0, 0x02|0x0C),
		// An unmasked frame.
		s.frame(flagUnmasked, 0x1, ping),
		// Invalid UTF-8 text.
		s.text([]byte("{\"id\":1,\"action\":\"\xff\xfe\"}")),
		s.text([]byte("\"\xe2\x82\"")),
		// Too large: a true length over the limit, and a 16-bit length
		// that lies.
		s.frameRep(0, 0x1, bytes.Repeat([]byte("a"), 128), 15),
		s.frame(flagLie|byte(wstest.Length16)<<5, 0x1, ping, 60000),
		// Close with a 1-byte payload; close with code 1005; a normal close.
		s.close(1, 0x03),
		s.close(2, 0x03, 0xED, 0),
		s.close(3),
		// A binary frame.
		s.frame(0, 0x2, ping),
		// A valid subscribe then publish, the frames cut at odd places.
		s.command(1, 0).command(2, 0).flush(3).flush(17),
		// A header split byte by byte, then the rest.
		s.raw(0x81).flush(0).raw(0x98).flush(0).raw(1, 2, 3, 4).flush(0),
		// A ping over 125 bytes, and a fragmented ping.
		append(append(s, stepControl, 0, 126), bytes.Repeat([]byte("p"), 126+4)...),
		append(s, stepControl, 2, 1, 'a', 1, 2, 3, 4),
		// RSV1 set: a compressed frame for a server that compresses, an
		// error for one that does not. Plain text under RSV1, deflated
		// commands (whole, and cut in two with a ping between), a deflated
		// publish then subscribe, RSV1 on a continuation, and a deflate
		// stream that inflates past max_message_bytes.
		s.frame(1<<flagRSVShift, 0x1, ping),
		s.command(0, 0x20).command(2, 0x21|0x04),
		s.command(1, 0x20).command(2, 0x20).command(4, 0x23),
		s.command(0, 0x01).frame(1<<flagRSVShift, 0x0, wstest.Deflate(ping)),
		s.frame(1<<flagRSVShift, 0x1, wstest.Deflate(bytes.Repeat([]byte("a"), 4*wireMaxMessage))),
		// A frame cut short: the harness completes it.
		s.raw(0x81, 0x8A, 1, 2, 3),
	}
}
