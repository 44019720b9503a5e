package rampart

import (
	"crypto/rand"
	"encoding/base64"
	"slices"
	"syscall"

	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/lxzan/gws"
	"golang.org/x/time/rate"

	"github.com/rampart-rt/rampart/auth"
	"github.com/rampart-rt/rampart/hooks"
	"github.com/rampart-rt/rampart/internal/deflate"
	"github.com/rampart-rt/rampart/internal/hub"
	"github.com/rampart-rt/rampart/internal/metrics"
	"github.com/rampart-rt/rampart/policy"
	"github.com/rampart-rt/rampart/protocol"
)

// conn is one WebSocket connection. The reader goroutine (gws's ReadLoop)
// hands each command to a short-lived goroutine and waits for it, so
// commands run one at a time; a writer goroutine exists only while frames
// are queued.
//
// Lock order: conn.subMu, then the hub's locks, then conn.mu. conn.mu is
// never held while calling into the hub, the broker or the network.
type conn struct {
	s         *Server   // reached through its methods only
	svc       *services // shared, read-only
	reg       *registry // owns c's life
	ws        *gws.Conn
	id        string
	requestID string // of the handshake
	ip        string
	origin    string
	console   bool // admitted by the console (see allowConsole)
	opened    time.Time
	held      held      // connection-limit counts to give back at close
	grant     *grant    // what the connect hook added, or nil; never changes
	deadline  time.Time // the write deadline set last; the writer's own
	snd       *sender   // writes c's bursts; nil: a goroutine per burst

	// subMu serialises the changes of c's subscriptions: its own
	// subscribe and unsubscribe, the server-side API's and a reload's. It
	// is held across the broker call of a subscribe (bounded), and taken
	// before the hub's locks and mu.
	subMu sync.Mutex

	mu       sync.Mutex // guards the fields below
	claims   *auth.Claims
	subs     hub.Subs
	queue    []frame
	writing  bool      // a writer goroutine is running
	state    connState // open, closing or closed (see registry)
	sent     uint16    // the close code the server sent, if it closed first
	sentWhy  string
	notified time.Time // the expiry refresh_required was sent for

	// Owned by the command being run (commands run one at a time).
	msgRate    *rate.Limiter // limits.messages_per_minute and limits.burst
	violations int
	violStart  time.Time
	rateDenied int // rate_limited answers in a row

	rpcInflight atomic.Int32 // rpc calls waiting for the backend

	lastRead atomic.Int64 // unix nanoseconds of the last frame read
	pingSent atomic.Int64 // unix nanoseconds of an unanswered ping, or 0
	in, out  atomic.Int64 // messages read and written
}

// connState is where a listed connection is in its life; see registry for
// the whole sequence.
type connState uint8

const (
	stateOpen    connState = iota
	stateClosing           // a close is decided: nothing more is queued, no further command runs
	stateClosed            // the socket is gone and every count is given back
)

// frame is one queued outgoing frame.
type frame struct {
	op    gws.Opcode
	data  []byte
	msg   *deflate.Message // a publication shared with other connections (data is msg.Data), or nil
	code  uint16           // close frames
	ping  bool
	close bool
}

func (s *Server) newConn(h *handshake) *conn {
	l := s.st().cfg.Limits
	c := &conn{
		s:         s,
		svc:       s.services,
		reg:       s.reg,
		id:        newClientID(),
		requestID: h.requestID,
		ip:        h.ip,
		origin:    h.origin,
		console:   h.console,
		opened:    time.Now(),
		claims:    h.claims,
		grant:     h.grant,
		msgRate:   rate.NewLimiter(rate.Limit(float64(l.MessagesPerMinute)/60), l.Burst),
	}
	c.lastRead.Store(c.opened.UnixNano())
	return c
}

func newClientID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// attach binds the upgraded socket, opens the connection in the registry
// (visible to the sweeper, Drain, Shutdown and the API) and queues the
// welcome push.
func (c *conn) attach(ws *gws.Conn, userAgent string) {
	c.ws = ws
	if bc := c.batch(); bc.raw != nil {
		if c.snd = c.reg.pickSender(); c.snd != nil {
			bc.gatherAlways(c.s.st().cfg.Limits.WriteTimeout)
		}
	}
	ws.Session().Store("", c)
	claims := c.identityClaims()
	l := c.s.st().cfg.Limits
	w := protocol.Welcome{
		Push:      protocol.PushWelcome,
		Client:    c.id,
		User:      claims.Subject,
		ExpiresAt: unixMS(claims.ExpiresAt),
		Limits: protocol.WelcomeLimits{
			MaxMessageBytes:   l.MaxMessageBytes,
			MessagesPerMinute: l.MessagesPerMinute,
			PingIntervalMS:    l.PingInterval.Milliseconds(),
			PongTimeoutMS:     l.PongTimeout.Milliseconds(),
		},
	}
	// The welcome is queued first, but written only once the connection is
	// visible to the sweeper, to Drain, Shutdown and the API: a client that
	// has its welcome is always among the server's connections, and no push
	// from the sweeper can overtake the welcome.
	b, err := json.Marshal(w)
	if err != nil {
		c.svc.log.Error("encoding the welcome failed", "event", "internal_error", "client", c.id, "error", err.Error())
	}
	c.mu.Lock()
	c.queue = append(c.queue, frame{op: gws.OpcodeText, data: b})
	c.writing = true // held back: nobody else starts the writer
	c.mu.Unlock()
	accepting := c.reg.open(c)
	c.startWriter()
	c.svc.log.Info("connection opened", "event", "connection_opened", "request_id", c.requestID,
		"client", c.id, "user", claims.Subject, "ip", c.ip, "origin", c.origin, "user_agent", userAgent)
	c.notify(hooks.EventConnect, 0, "")
	if !accepting { // a drain or Shutdown began during the upgrade and did not see c
		c.closeWith(protocol.CloseGoingAway, protocol.CloseCodes[protocol.CloseGoingAway])
	}
}

func unixMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func (c *conn) identityClaims() *auth.Claims {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.claims
}

func (c *conn) identity() policy.Identity {
	cl := c.identityClaims()
	if c.grant != nil && len(c.grant.roles) > 0 { // the token's roles and the connect hook's; a refresh keeps the latter
		return policy.Identity{User: cl.Subject, Roles: slices.Concat(cl.Roles, c.grant.roles)}
	}
	return policy.Identity{User: cl.Subject, Roles: cl.Roles}
}

// send queues a text frame without blocking. A full queue means the client
// does not read: it is closed with 4009 and the frame dropped.
func (c *conn) send(b []byte) bool {
	return c.enqueue(frame{op: gws.OpcodeText, data: b})
}

func (c *conn) enqueue(f frame) bool {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return false
	}
	if len(c.queue) >= c.s.st().cfg.Limits.SendQueue {
		c.mu.Unlock()
		if f.op != gws.OpcodeText {
			return false // a control frame (ping, pong) is not worth a close
		}
		c.svc.metrics.QueueDrops.WithLabelValues("slow_consumer").Inc()
		c.svc.log.Warn("slow consumer", "event", "slow_consumer", "client", c.id, "user", c.identityClaims().Subject, "ip", c.ip, "request_id", c.requestID)
		c.closeWith(protocol.CloseSlowConsumer, protocol.CloseCodes[protocol.CloseSlowConsumer])
		return false
	}
	c.queue = append(c.queue, f)
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		c.startWriter()
	}
	return true
}

// closeWith decides the connection's close: from now on no further command
// of it runs and nothing more is queued. It queues a close frame after
// dropping whatever was still queued: the writer sends it as soon as the
// frame in flight is out, within limits.write_timeout.
func (c *conn) closeWith(code uint16, reason string) { c.decideClose(code, reason, false) }

// closeAfterQueued is closeWith, but the frames already queued are sent
// first.
func (c *conn) closeAfterQueued(code uint16, reason string) { c.decideClose(code, reason, true) }

func (c *conn) decideClose(code uint16, reason string, keep bool) {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return
	}
	c.state = stateClosing
	c.sent, c.sentWhy = code, reason
	if !keep {
		c.queue = c.queue[:0]
	}
	c.queue = append(c.queue, frame{close: true, code: code, data: []byte(reason)})
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		c.startWriter()
	}
}

// drop ends the connection at once, without a close frame; the reader then
// sees the socket gone and runs closed.
func (c *conn) drop() {
	c.mu.Lock()
	if c.state == stateOpen {
		c.state = stateClosing
	}
	c.mu.Unlock()
	_ = c.batch().Conn.Close() // not the batchConn's Close, which would first send what it holds
}

// closing reports whether a close is decided: the reader runs no further
// command once it is.
func (c *conn) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state != stateOpen
}

func (c *conn) batch() *batchConn { return c.ws.NetConn().(*batchConn) }

// startWriter runs flush on a goroutine that Shutdown waits for.
func (c *conn) startWriter() { c.reg.startWriter(c) }

// flush writes queued frames until the queue is empty. Every write has a
// deadline, set by the writer alone; a failed write ends the connection.
// What a sender could not send goes out first.
func (c *conn) flush() {
	defer c.contain("writer", c.requestID, c.drop)
	if bc := c.batch(); bc.hasPending() {
		c.extendWriteDeadline()
		bc.mu.Lock()
		err := bc.flushLocked()
		bc.mu.Unlock()
		if err != nil {
			c.failWriter()
			return
		}
	}
	var batch []frame
	for {
		c.mu.Lock()
		batch, c.queue = c.queue, batch[:0]
		if len(batch) == 0 {
			c.writing = false
			c.queue = nil // an idle connection holds no queue memory
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.extendWriteDeadline()
		ok := c.writeBatch(batch)
		clear(batch)
		if !ok {
			c.failWriter()
			return
		}
	}
}

// failWriter ends the connection after a failed write; no writer runs
// for it any more.
func (c *conn) failWriter() {
	c.drop()
	c.mu.Lock()
	c.writing, c.queue = false, nil
	c.mu.Unlock()
}

// gather encodes c's queued frames for its sender: the bytes to send, with
// the batchConn's lock held until settle. Nil when there is nothing to send:
// the queue was empty (c's writer is then done), or the frames went
// another way: a burst over maxBatch, or with a close frame, goes to a
// writer goroutine, and gws's reader may have closed the connection (with
// a close frame) meanwhile. It never waits for the network: the sender
// never waits for one socket.
func (c *conn) gather() []byte {
	defer c.contain("writer", c.requestID, c.drop)
	c.mu.Lock()
	batch := c.queue
	c.queue = nil
	if len(batch) == 0 {
		c.writing = false
		c.mu.Unlock()
		return nil
	}
	if forGoroutine(batch) {
		c.queue = append(batch, c.queue...)
		c.mu.Unlock()
		c.reg.startWriterGoroutine(c)
		return nil
	}
	c.mu.Unlock()
	for i := range batch {
		if !c.write(&batch[i]) {
			c.failWriter()
			return nil
		}
	}
	buf, err := c.batch().takeForSend()
	if err != nil {
		c.failWriter()
		return nil
	}
	if buf == nil {
		c.writerDone()
	}
	return buf
}

// forGoroutine reports whether frames are for the writer goroutine rather
// than the sender: more than maxBatch bytes, or a close frame (gws closes
// the socket right after writing it, which waits for the network).
func forGoroutine(frames []frame) bool {
	n := 0
	for i := range frames {
		if frames[i].close {
			return true
		}
		n += len(frames[i].data) + 14
	}
	return n > maxBatch
}

// settle settles what the sender sent of gather's bytes (n, or -errno): all
// of it lets the next burst start; a rest goes to a writer goroutine, which
// sends it within limits.write_timeout; an error ends the connection.
func (c *conn) settle(n int) {
	var errno syscall.Errno
	if n < 0 {
		errno, n = syscall.Errno(-n), 0
	}
	switch rest := c.batch().sentBySender(n, errno); {
	case rest:
		c.reg.startWriterGoroutine(c)
	case errno != 0 && errno != syscall.EAGAIN:
		c.failWriter()
	default:
		c.writerDone()
	}
}

// writerDone ends a burst: frames queued meanwhile start the next one.
func (c *conn) writerDone() {
	c.mu.Lock()
	if len(c.queue) == 0 {
		c.writing, c.queue = false, nil
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.startWriter()
}

// extendWriteDeadline keeps the write deadline between half and all of
// limits.write_timeout ahead, setting it only when it has run down: a
// deadline costs a call into the poller, and one per delivery showed in
// profiles. Called by the writer only, before each batch: the deadline is
// the writer's from the first byte it writes (the welcome), and no other
// code sets or clears it (gws clears the handshake's own deadline before
// the connection is attached).
func (c *conn) extendWriteDeadline() {
	now := time.Now()
	timeout := c.s.st().cfg.Limits.WriteTimeout
	if c.deadline.Sub(now) > timeout/2 {
		return
	}
	c.deadline = now.Add(timeout)
	_ = c.ws.SetWriteDeadline(c.deadline)
}

// writeBatch writes frames with one network write where it can.
func (c *conn) writeBatch(frames []frame) bool {
	bc := c.batch()
	bc.begin()
	for i := range frames {
		if !c.write(&frames[i]) {
			_ = bc.end()
			return false
		}
	}
	return bc.end() == nil
}

func (c *conn) write(f *frame) bool {
	switch {
	case f.close:
		_ = c.ws.WriteClose(f.code, f.data)
		return true
	case f.ping:
		return c.ws.WritePing(nil) == nil
	default:
		if c.writeData(f) != nil {
			return false
		}
		if f.op == gws.OpcodeText {
			c.out.Add(1)
		}
		return true
	}
}

// tickContained runs tick; a panic in it closes c alone with 1011.
func (c *conn) tickContained(now time.Time) {
	defer c.contain("sweep", c.requestID, c.closeInternal)
	c.tick(now)
}

// tick runs the connection's clocks; called by the server's sweeper.
func (c *conn) tick(now time.Time) {
	l := c.s.st().cfg.Limits
	last := time.Unix(0, c.lastRead.Load())
	if sent := c.pingSent.Load(); sent != 0 {
		if now.Sub(time.Unix(0, sent)) > l.PongTimeout {
			c.svc.log.Info("peer did not answer ping", "event", "pong_timeout", "request_id", c.requestID, "client", c.id, "ip", c.ip)
			c.drop()
			return
		}
	} else if now.Sub(last) >= l.PingInterval {
		c.pingSent.Store(now.UnixNano())
		c.enqueue(frame{ping: true})
	}
	c.checkExpiry(now)
}

// checkExpiry pushes refresh_required auth.refresh_window before the
// token's exp and closes with 4001 once exp plus leeway has passed.
//
// A token that lives less than twice auth.refresh_window (exp - iat) is
// asked for at half its life instead: asked for at once, a client that
// renews within the same second would get a token with the same exp,
// which is never asked for again, and expire.
func (c *conn) checkExpiry(now time.Time) {
	a := c.s.st().cfg.Auth
	c.mu.Lock()
	exp, window := c.claims.ExpiresAt, a.RefreshWindow
	if iat := c.claims.IssuedAt; !iat.IsZero() && exp.Sub(iat) < 2*window {
		window = exp.Sub(iat) / 2
	}
	notify := !exp.IsZero() && !c.notified.Equal(exp) && now.After(exp.Add(-window))
	if notify {
		c.notified = exp
	}
	c.mu.Unlock()
	switch {
	case exp.IsZero():
	case now.After(exp.Add(a.Leeway)):
		c.svc.log.Info("token expired", "event", "token_expired", "request_id", c.requestID, "client", c.id, "user", c.identityClaims().Subject, "ip", c.ip)
		c.closeWith(protocol.CloseTokenExpired, protocol.CloseCodes[protocol.CloseTokenExpired])
	case notify:
		c.send(protocol.EncodeRefreshRequired(exp.UnixMilli()))
	}
}

// markRead notes that the peer is alive.
func (c *conn) markRead() {
	c.lastRead.Store(time.Now().UnixNano())
	c.pingSent.Store(0)
}

// closed runs once, from the reader goroutine, when the connection is gone:
// it ends every subscription, gives back every count and unlists c.
func (c *conn) closed(err error) {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	c.state = stateClosed
	subs := c.subs
	c.subs = nil // the queue is left to the writer: a close frame may still be on its way
	user := c.claims.Subject
	sent, sentWhy := c.sent, c.sentWhy
	c.mu.Unlock()
	for _, sb := range subs {
		c.svc.hub.Unsubscribe(c, sb.Channel)
		if sb.Tracked {
			c.s.leavePresence(sb.Channel, c.id)
		}
		c.s.announce(c, sb, true)
	}
	c.s.release(&c.held)
	c.reg.remove(c)
	code, reason := closeInfo(err)
	var undelivered uint16 // a close the server decided but could not write
	switch {
	case sent != 0 && c.batch().closeFrameSent():
		code, reason = sent, sentWhy
	case sent != 0:
		undelivered, code, reason = sent, 0, sentWhy+": close frame not delivered, connection dropped"
	}
	if _, known := protocol.CloseCodes[code]; known || code == 0 {
		c.svc.metrics.Closes.WithLabelValues(metrics.CodeLabel(code)).Inc()
	} else {
		c.svc.metrics.Closes.WithLabelValues("other").Inc()
	}
	c.svc.log.Info("connection closed", "event", "connection_closed", "request_id", c.requestID,
		"client", c.id, "user", user, "ip", c.ip, "origin", c.origin,
		"duration_ms", time.Since(c.opened).Milliseconds(), "code", code, "reason", reason, "decided_code", undelivered,
		"messages_in", c.in.Load(), "messages_out", c.out.Load())
	c.notify(hooks.EventDisconnect, code, reason)
}

func closeInfo(err error) (uint16, string) {
	if ce, ok := err.(*gws.CloseError); ok {
		return ce.Code, string(ce.Reason)
	}
	if err == nil {
		return 0, ""
	}
	return 0, err.Error()
}

// slot is the per-connection session storage gws asks for: one pointer
// instead of the map it would allocate.
type slot struct{ c *conn }

func (s *slot) Len() int { return 1 }
func (s *slot) Load(string) (any, bool) {
	return s.c, s.c != nil
}
func (s *slot) Delete(string)                  { s.c = nil }
func (s *slot) Store(_ string, v any)          { s.c, _ = v.(*conn) }
func (s *slot) Range(f func(string, any) bool) { f("", s.c) }

// events receives gws's callbacks for every connection.
type events struct{ s *Server }

func connOf(ws *gws.Conn) *conn {
	c, _ := ws.Session().Load("")
	cc, _ := c.(*conn)
	return cc
}

func (e *events) OnOpen(*gws.Conn) {}

func (e *events) OnClose(ws *gws.Conn, err error) {
	if c := connOf(ws); c != nil {
		c.closed(err)
	}
}

func (e *events) OnPing(ws *gws.Conn, payload []byte) {
	if c := connOf(ws); c != nil {
		c.markRead()
		c.enqueue(frame{op: gws.OpcodePong, data: append([]byte(nil), payload...)})
	}
}

func (e *events) OnPong(ws *gws.Conn, _ []byte) {
	if c := connOf(ws); c != nil {
		c.markRead()
	}
}

func (e *events) OnMessage(ws *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	c := connOf(ws)
	if c == nil {
		return
	}
	c.markRead()
	c.in.Add(1)
	if c.closing() { // once a close is decided, nothing more of c runs, whatever is still buffered
		return
	}
	if msg.Opcode != gws.OpcodeText {
		c.closeWith(protocol.CloseUnsupportedData, protocol.CloseCodes[protocol.CloseUnsupportedData])
		return
	}
	c.handleAside(msg.Bytes())
}

// handleAside runs the command on a short-lived goroutine and waits for it.
// Commands still run one after another, but their deep call stacks (JSON,
// schemas, the broker) never grow the reader's: an idle connection's
// reader keeps the smallest stack, which is most of what it costs.
func (c *conn) handleAside(frame []byte) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.handle(frame)
	}()
	<-done
}

// read runs gws's read loop. A panic in it (gws's own code) closes c with
// 1011 and runs closed, which gws would otherwise never call. The deferred
// call takes no arguments: this frame is under every blocked read of every
// idle connection, whose stack must stay within 2 KiB.
func (c *conn) read() {
	defer c.readerPanicked()
	c.ws.ReadLoop()
}

func (c *conn) readerPanicked() {
	if p := recover(); p != nil {
		c.s.panicked(p, "reader", c.requestID, c.id)
		c.closeInternal()
		c.closed(errPanic)
	}
}

// Send queues an encoded publication without blocking (the hub's
// Subscriber).
func (c *conn) Send(m *deflate.Message) bool {
	return c.enqueue(frame{op: gws.OpcodeText, data: m.Data, msg: m})
}

// Close closes the connection with code and reason without blocking (the
// hub's Subscriber).
func (c *conn) Close(code uint16, reason string) { c.closeWith(code, reason) }
