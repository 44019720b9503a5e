package client

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/rampart-rt/rampart/protocol"
)

// session is one WebSocket connection: gws's ReadLoop is its reader, and
// writeLoop its writer. It ends once; done is closed then.
type session struct {
	c       *Client
	ws      *gws.Conn
	out     chan []byte  // frames for the writer; bounded
	pong    chan []byte  // a pong owed to the server; capacity 1
	welcome chan Welcome // the welcome push, once
	done    chan struct{}
	maxMsg  atomic.Int64 // the server's max_message_bytes; 0 until the welcome

	greeted bool // the welcome was read; touched by the reader only
	// silence is how long the reader waits for the next frame before it
	// counts the connection lost: what the welcome announced, the server's
	// ping interval and pong timeout, plus silenceSlack; 0 when the server
	// announced none. extended is when the read deadline was last moved.
	// Both are the reader's.
	silence  time.Duration
	extended time.Time

	mu      sync.Mutex // guards the fields below
	pending map[uint64]*call
	err     error // why the connection ended; set before done is closed
	ended   bool
}

// dial opens a connection and waits for its welcome.
func (c *Client) dial(ctx context.Context) (*session, Welcome, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	tok, err := c.cfg.Token(ctx)
	if err != nil {
		return nil, Welcome{}, fmt.Errorf("client: token: %w", err)
	}
	netConn, err := c.dialNet(ctx)
	if err != nil {
		return nil, Welcome{}, err
	}
	s := &session{
		c:       c,
		out:     make(chan []byte, sendQueue),
		pong:    make(chan []byte, 1),
		welcome: make(chan Welcome, 1),
		done:    make(chan struct{}),
		pending: make(map[uint64]*call),
	}
	if s.ws, err = c.upgrade(ctx, netConn, tok, s); err != nil {
		return nil, Welcome{}, err
	}
	c.goroutine(s.ws.ReadLoop)
	c.goroutine(s.writeLoop)
	select {
	case w := <-s.welcome:
		return s, w, nil
	case <-s.done:
		return nil, Welcome{}, fmt.Errorf("client: connection ended before the welcome: %w", s.cause())
	case <-ctx.Done():
		_ = netConn.Close()
		<-s.done
		return nil, Welcome{}, fmt.Errorf("client: waiting for the welcome: %w", ctx.Err())
	}
}

func (c *Client) dialNet(ctx context.Context) (net.Conn, error) {
	u, _ := url.Parse(c.cfg.URL) // checked by validate
	port := u.Port()
	if port == "" {
		port = map[string]string{"ws": "80", "wss": "443"}[u.Scheme]
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, fmt.Errorf("client: dial: %w", err)
	}
	if u.Scheme != "wss" {
		return conn, nil
	}
	cfg := c.cfg.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{}
	} else {
		cfg = cfg.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("client: tls: %w", err)
	}
	return tc, nil
}

// upgrade runs the WebSocket handshake on conn; ctx ends it early.
func (c *Client) upgrade(ctx context.Context, conn net.Conn, tok string, s *session) (*gws.Conn, error) {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+tok)
	h.Set("Sec-WebSocket-Protocol", protocol.Subprotocol)
	if c.cfg.Origin != "" {
		h.Set("Origin", c.cfg.Origin)
	}
	timeout := c.cfg.DialTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	ws, resp, err := gws.NewClientFromConn(s, &gws.ClientOption{
		Addr:             c.cfg.URL,
		RequestHeader:    h,
		HandshakeTimeout: timeout,
		// Without context takeover (the zero values), as the server
		// requires; gws compresses a message from 512 bytes on.
		PermessageDeflate: gws.PermessageDeflate{Enabled: c.cfg.Compression},
	}, conn)
	if !stop() {
		err = errors.Join(ctx.Err(), err)
	}
	if err != nil {
		_ = conn.Close()
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, handshakeError(resp)
		}
		return nil, fmt.Errorf("client: websocket handshake: %w", err)
	}
	return ws, nil
}

// handshakeError reads what a refusal says: status, Retry-After, request
// id, and the body's error code when it arrived with the headers.
func handshakeError(resp *http.Response) *HandshakeError {
	e := &HandshakeError{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		e.RetryAfter = time.Duration(secs) * time.Second
	}
	if resp.Body != nil {
		var body protocol.APIError
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		if json.Unmarshal(b, &body) == nil {
			e.Code = string(body.Error)
			if e.RequestID == "" {
				e.RequestID = body.RequestID
			}
		}
	}
	return e
}

// writeLoop writes queued frames, each with a deadline. A failed write
// closes the connection, which ends the reader. When the client is closed
// it sends close 1000.
func (s *session) writeLoop() {
	for {
		var b []byte
		op := gws.OpcodeText
		select {
		case b = <-s.out:
		case b = <-s.pong:
			op = gws.OpcodePong
		case <-s.done:
			return
		case <-s.c.ctx.Done():
			_ = s.ws.SetWriteDeadline(time.Now().Add(s.c.cfg.WriteTimeout))
			_ = s.ws.WriteClose(protocol.CloseNormal, nil) // also closes the socket
			return
		}
		_ = s.ws.SetWriteDeadline(time.Now().Add(s.c.cfg.WriteTimeout))
		if err := s.ws.WriteMessage(op, b); err != nil {
			_ = s.ws.NetConn().Close()
			return
		}
	}
}

// cause returns why s ended, as a *CloseError when it can.
func (s *session) cause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// OnOpen implements gws.Event.
func (s *session) OnOpen(*gws.Conn) {}

// OnClose implements gws.Event: it runs once, on the reader, when the
// connection is gone. Every call still waiting fails, after s stopped
// being the current connection, so that a call sent again (a publish)
// waits for the next one.
func (s *session) OnClose(_ *gws.Conn, err error) {
	cause := closeCause(err)
	s.mu.Lock()
	s.ended, s.err = true, cause
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	s.c.ended(s)
	lost := fmt.Errorf("%w: %w", ErrDisconnected, cause)
	if s.c.ctx.Err() != nil {
		lost = fmt.Errorf("%w: %w", ErrDisconnected, ErrClosed)
	}
	for _, cl := range pending {
		cl.finish(nil, lost)
	}
	close(s.done)
}

func closeCause(err error) error {
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		return &CloseError{Code: int(ce.Code), Reason: string(ce.Reason)}
	}
	reason := "connection lost"
	if err != nil && err.Error() != "" {
		reason = err.Error()
	}
	return &CloseError{Code: CloseAbnormal, Reason: reason}
}

// OnPing implements gws.Event: the pong is written by the writer.
func (s *session) OnPing(ws *gws.Conn, payload []byte) {
	s.heard(ws)
	select {
	case s.pong <- append([]byte(nil), payload...):
	default: // one owed pong is enough to show we are alive
	}
}

// OnPong implements gws.Event.
func (s *session) OnPong(ws *gws.Conn, _ []byte) { s.heard(ws) }

// silenceSlack is added to the silence the welcome announces, for the
// network's delay and the server's clock; the read deadline moves at most
// once a second, so it also covers that second.
const silenceSlack = 5 * time.Second

// heard moves the read deadline on, at most once a second: a server that
// sends nothing, not even its pings, for the announced silence ends the
// connection with a timeout, and the client reconnects, instead of
// waiting for TCP to notice a peer that is gone (minutes, or never behind
// some middleboxes).
func (s *session) heard(ws *gws.Conn) {
	if s.silence <= 0 {
		return
	}
	if now := time.Now(); now.Sub(s.extended) >= time.Second {
		s.extended = now
		_ = ws.SetReadDeadline(now.Add(s.silence))
	}
}

// OnMessage implements gws.Event: one server frame, on the reader. A frame
// that does not decode closes the connection.
func (s *session) OnMessage(ws *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	s.heard(ws)
	var f frame
	ok := msg.Opcode == gws.OpcodeText && json.Unmarshal(msg.Bytes(), &f) == nil
	switch {
	case !ok:
	case !s.greeted:
		ok = s.greet(ws, msg.Bytes())
	case f.Push != "":
		ok = s.c.onPush(s, f.Push, msg.Bytes()) == nil
	case f.ID != 0:
		s.onReply(&f)
	case f.Error != nil:
		s.c.log.Warn("server refused a frame it could not read", "code", f.Error.Code, "request_id", f.Error.RequestID)
	}
	if !ok {
		s.c.log.Warn("server sent a frame that does not decode; closing")
		_ = ws.WriteClose(protocol.CloseUnsupportedData, nil)
	}
}

// greet reads the welcome, which must be the first frame; false when raw
// is a welcome that does not decode.
func (s *session) greet(ws *gws.Conn, raw []byte) bool {
	var p protocol.Welcome
	if err := json.Unmarshal(raw, &p); err != nil {
		return false
	}
	if p.Push != protocol.PushWelcome {
		s.c.log.Warn("first frame is not a welcome push; closing")
		_ = ws.WriteClose(protocol.CloseProtocolError, nil)
		return true
	}
	s.greeted = true
	w := Welcome{
		Client:            p.Client,
		User:              p.User,
		MaxMessageBytes:   p.Limits.MaxMessageBytes,
		MessagesPerMinute: p.Limits.MessagesPerMinute,
		PingInterval:      announced(p.Limits.PingIntervalMS),
		PongTimeout:       announced(p.Limits.PongTimeoutMS),
	}
	if w.PingInterval > 0 && w.PongTimeout > 0 {
		s.silence = w.PingInterval + w.PongTimeout + silenceSlack
		s.heard(ws)
	}
	if p.ExpiresAt > 0 {
		w.ExpiresAt = time.UnixMilli(p.ExpiresAt)
	}
	s.maxMsg.Store(int64(w.MaxMessageBytes))
	s.welcome <- w
	return true
}

// announced is a duration the welcome gave in milliseconds; 0 when it is
// absent, negative or over a day (a server's limits are at most an hour).
func announced(ms int64) time.Duration {
	if ms <= 0 || ms > 24*60*60*1000 {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

func (s *session) onReply(f *frame) {
	s.mu.Lock()
	cl := s.pending[f.ID]
	delete(s.pending, f.ID)
	s.mu.Unlock()
	if cl == nil {
		return // an abandoned call
	}
	if f.Error != nil {
		cl.finish(nil, replyError(f.Error))
		return
	}
	cl.finish(f.Result, nil)
}

// frame is any server frame: a reply (id, and result or error) or a push
// (push), whose own fields are decoded into its protocol type by onPush.
type frame struct {
	ID     uint64          `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *protocol.Error `json:"error"`
	Push   string          `json:"push"`
}

// replyError is the *Error of an error reply.
func replyError(e *protocol.Error) *Error {
	return &Error{
		Code:       e.Code,
		Message:    e.Message,
		RequestID:  e.RequestID,
		RetryAfter: time.Duration(e.RetryAfterMS) * time.Millisecond,
	}
}

// call is one command waiting for its reply.
type call struct {
	// onReply, when set, runs on the reader when the reply comes (not when
	// the connection drops), before the next frame is read; abandoned says
	// the caller stopped waiting.
	onReply func(s *session, result json.RawMessage, err error, abandoned bool)
	s       *session
	state   atomic.Int32 // waiting, answered or abandoned
	done    chan struct{}
	result  json.RawMessage
	err     error
}

const (
	waiting int32 = iota
	answered
	abandoned
)

// finish records the outcome once and wakes the caller.
func (cl *call) finish(result json.RawMessage, err error) {
	claimed := cl.state.CompareAndSwap(waiting, answered)
	if cl.onReply != nil && !errors.Is(err, ErrDisconnected) {
		cl.onReply(cl.s, result, err, !claimed)
	}
	cl.result, cl.err = result, err
	close(cl.done)
}

// wait returns the reply, or ctx's error if ctx ends first (the reply is
// then ignored, or handed to onReply as abandoned).
func (cl *call) wait(ctx context.Context) (json.RawMessage, error) {
	select {
	case <-cl.done:
	case <-ctx.Done():
		if cl.state.CompareAndSwap(waiting, abandoned) {
			return nil, ctx.Err()
		}
		<-cl.done // answered meanwhile
	}
	return cl.result, cl.err
}

// send queues cmd on s (giving it a fresh id) and returns the call that
// will receive the reply.
func (s *session) send(ctx context.Context, cmd protocol.Command, onReply func(*session, json.RawMessage, error, bool)) (*call, error) {
	cmd.ID = s.c.ids.Add(1)
	b, err := json.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("client: encoding %s: %w", cmd.Action, err)
	}
	if limit := s.maxMsg.Load(); limit > 0 && int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s of %d bytes, limit %d", ErrMessageTooBig, cmd.Action, len(b), limit)
	}
	cl := &call{onReply: onReply, s: s, done: make(chan struct{})}
	s.mu.Lock()
	if s.ended {
		err := s.err
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrDisconnected, err)
	}
	s.pending[cmd.ID] = cl
	s.mu.Unlock()
	select {
	case s.out <- b:
		return cl, nil
	case <-s.done:
		<-cl.done
		return nil, cl.err
	case <-ctx.Done():
		s.forget(cmd.ID)
		return nil, ctx.Err()
	}
}

func (s *session) forget(id uint64) {
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
}

// roundTrip sends cmd and waits for its reply.
func (s *session) roundTrip(ctx context.Context, cmd protocol.Command, onReply func(*session, json.RawMessage, error, bool)) (json.RawMessage, error) {
	cl, err := s.send(ctx, cmd, onReply)
	if err != nil {
		return nil, err
	}
	return cl.wait(ctx)
}

// sendAsync queues a command whose reply nobody waits for, without
// blocking; a full queue drops it.
func (s *session) sendAsync(cmd protocol.Command) {
	cmd.ID = s.c.ids.Add(1)
	b, err := json.Marshal(cmd)
	if err != nil {
		return
	}
	select {
	case s.out <- b:
	default:
		s.c.log.Warn("send queue full; dropped a command", "action", cmd.Action)
	}
}
