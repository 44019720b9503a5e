package rampart

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/rampart-rt/rampart/internal/wstest"
)

// The e2e tests run with the senders on (io_uring is enabled on the
// machines the tests run on): if they could not start, those tests would
// silently cover only the goroutine writer.
func TestSendersWriteByDefault(t *testing.T) {
	srv := startServer(t, nil)
	if runtime.GOOS != "linux" {
		if len(srv.s.reg.senders) != 0 {
			t.Fatal("senders without io_uring")
		}
		return
	}
	if len(srv.s.reg.senders) == 0 {
		t.Fatal("no sender started: io_uring refused here?")
	}
	sub := srv.dial(t, token(t, "sub"))
	pub := srv.dial(t, token(t, "pub"))
	epoch := sub.subscribe("chat:s").Epoch
	before := srv.s.reg.sends()
	for i := 1; i <= 20; i++ {
		pub.publish("chat:s", fmt.Sprintf(`{"n":%d}`, i))
	}
	checkSequence(t, "sub", sub.collectPublications("chat:s", 20), 1, epoch, "pub")
	if got := srv.s.reg.sends() - before; got < 20 {
		t.Fatalf("the senders sent %d bursts for 40 frames; the goroutine writer did the rest", got)
	}
}

// With IOURing false every burst has a goroutine of its own, as before.
func TestIOURingOffWritesWithGoroutines(t *testing.T) {
	off := false
	srv := startServer(t, func(c *Config) { c.IOURing = &off })
	if len(srv.s.reg.senders) != 0 {
		t.Fatal("senders started with IOURing false")
	}
	sub := srv.dial(t, token(t, "sub"))
	pub := srv.dial(t, token(t, "pub"))
	epoch := sub.subscribe("chat:g").Epoch
	for i := 1; i <= 10; i++ {
		pub.publish("chat:g", fmt.Sprintf(`{"n":%d}`, i))
	}
	checkSequence(t, "sub", sub.collectPublications("chat:g", 10), 1, epoch, "pub")
}

// Subscribers that never read fill their sockets, then break the protocol
// so that gws's reader writes a close frame towards a full socket: none of
// it may hold up the senders, which the well-behaved subscriber shares.
func TestStalledPeersThatBreakTheProtocolDoNotHoldTheSenders(t *testing.T) {
	srv := startServer(t, func(c *Config) { c.Limits.MaxMessageBytes = 128 << 10 })
	const stalledN = 8
	var stalled []*client
	for i := range stalledN {
		c := srv.dial(t, token(t, fmt.Sprintf("stalled%d", i)))
		c.subscribe("chat:busy")
		stalled = append(stalled, c)
	}
	good := srv.dial(t, token(t, "good"))
	good.subscribe("chat:busy")
	pub := srv.dial(t, token(t, "pub"))
	pad := strings.Repeat("x", 60<<10)
	publish := func(from, n int) {
		for i := from; i < from+n; i++ {
			pub.send(fmt.Sprintf(`{"id":%d,"action":"publish","channel":"chat:busy","data":{"n":%d,"pad":%q}}`, i, i, pad))
		}
	}
	publish(1, 40) // 2.4 MB each: more than the stalled sockets hold
	good.collectPublications("chat:busy", 40)
	for _, c := range stalled {
		// RSV2 set on a text frame: gws fails the connection and writes
		// the close frame from its reader, towards a socket nobody reads.
		if err := c.ws.WriteRaw([]byte{0xA1, 0x80, 1, 2, 3, 4}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	publish(41, 40)
	good.collectPublications("chat:busy", 40)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the well-behaved subscriber needed %s for 40 publications", d)
	}
}

// Connections that vanish (reset) while their frames are being sent, and
// new ones that may get the same descriptor numbers, never receive each
// other's frames: every frame a client reads is for its own channel.
func TestSendersNeverCrossConnectionsWhenSocketsCloseMidSend(t *testing.T) {
	srv := startServer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(3*time.Second, cancel) // the churn's length, not a wait
	var pubWG sync.WaitGroup
	pubWG.Add(1)
	go func() { // publishes to every channel until the churn ends
		defer pubWG.Done()
		for i := 0; ctx.Err() == nil; i++ {
			_, _ = srv.s.Publish(ctx, fmt.Sprintf("chat:own%d", i%16), []byte(fmt.Sprintf(`{"to":%d}`, i%16)), PublishOptions{})
		}
	}()
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for w := range 16 {
		tok := token(t, fmt.Sprintf("churn%d", w))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- churn(ctx, srv, w, tok)
		}()
	}
	wg.Wait()
	pubWG.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// churn connects as worker w to its own channel, reads a few frames, and
// resets the connection, again and again until ctx ends.
func churn(ctx context.Context, srv *testServer, w int, tok string) error {
	channel := fmt.Sprintf("chat:own%d", w)
	for round := 0; ctx.Err() == nil; round++ {
		req := srv.request(tok)
		ws, _, err := wstest.Dial(context.Background(), srv.addr, req, wstest.Options{})
		if err != nil {
			return fmt.Errorf("worker %d, round %d: %w", w, round, err)
		}
		if err := ws.WriteText(fmt.Sprintf(`{"id":1,"action":"subscribe","channel":%q}`, channel)); err != nil {
			ws.Close()
			continue
		}
		for range 2 + round%5 {
			op, data, err := ws.ReadMessage(2 * time.Second)
			if err != nil {
				break
			}
			if op != wstest.OpText {
				return fmt.Errorf("worker %d: opcode %d", w, op)
			}
			if strings.Contains(string(data), `"publication"`) && !strings.Contains(string(data), fmt.Sprintf(`"channel":%q`, channel)) {
				return fmt.Errorf("worker %d on %s received another connection's frame: %s", w, channel, data)
			}
		}
		if tc, ok := ws.NetConn().(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, not a close handshake
		}
		_ = ws.Close()
	}
	return nil
}

// A panic in a sender after it gathered (a broken ring here: nil) is
// logged, fails the connections of that submission alone, releases their
// locks and counts their work done: the process, the other connections and
// Shutdown (in Cleanup, which would wait for ever otherwise) go on.
func TestPanicInASenderFailsOnlyItsSubmission(t *testing.T) {
	srv := startServer(t, nil)
	victim := srv.dial(t, token(t, "victim"))
	var c *conn
	for _, x := range srv.s.reg.snapshot() {
		if x.id == victim.welcome.Client {
			c = x
		}
	}
	if c == nil {
		t.Fatal("the victim's connection is not listed")
	}
	var got any
	sd := &sender{reg: srv.s.reg, res: make([]int32, 4), panicked: func(v any) { got = v }}
	c.mu.Lock()
	c.queue = append(c.queue, frame{op: gws.OpcodeText, data: []byte(`{"push":"x"}`)})
	c.writing = true
	c.mu.Unlock()
	srv.s.reg.work.Add(1)
	sd.batch = []*conn{c}
	sd.write() // ring nil: Send panics
	if got == nil {
		t.Fatal("the sender's panic was not contained and reported")
	}
	if !victim.ws.WaitEOF(5 * time.Second) {
		t.Fatal("the connection of the failed submission is still open")
	}
	other := srv.dial(t, token(t, "other"))
	other.ok("ping", "")
}

// writerBlocked reports whether the connection with the client id has a
// writer that has not finished: frames queued or being written.
func (r *registry) writerBlocked(client string) bool {
	for _, c := range r.snapshot() {
		if c.id == client {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.writing && c.state == stateOpen
		}
	}
	return false
}

// sends counts the bursts the senders have sent.
func (r *registry) sends() uint64 {
	var n uint64
	for _, s := range r.senders {
		n += s.sends.Load()
	}
	return n
}
