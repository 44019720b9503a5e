//go:build faults

package faulttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rampart-rt/rampart/internal/wstest"
)

const (
	sessionIdle  = 30 * time.Second       // a session with no frame this long is dead (the server pings every 25s)
	retryAfter   = 250 * time.Millisecond // before a refused subscribe is sent again
	dialTimeout  = 3 * time.Second
	maxBackoff   = time.Second            // between rounds of dials that all failed
	probeBackoff = 100 * time.Millisecond // a probe's: it measures the server, not a client's patience
	frameBacklog = 256
)

// subscriber is one WebSocket client following the protocol's recovery
// (docs/protocol.md §7). It keeps, per channel, the position of the last
// publication it delivered; after a reconnect, and when a push skips
// offsets (a node missed publications while its broker link was down), it
// subscribes again with since that position. A new epoch, or a reply
// recovered: false, tells it that what lies between is gone.
//
// It delivers each publication at most once and in order, and counts what
// the server sent that it could not deliver: duplicates, offsets out of
// order, recoveries that were not exact.
type subscriber struct {
	c      *cluster
	name   string
	home   int  // the node it connects to first
	pinned bool // a probe: connects only to home, waiting while home is down

	mu       sync.Mutex // guards the fields below and every chanState
	chans    map[string]*chanState
	node     int       // node of the session, -1 between sessions
	sessions []session // every session, the current one last
	errors   map[string]int
}

// session is one connection's life.
type session struct {
	node       int
	start, end time.Time
	how        string // how it ended: "close 1001", "eof", "stopped", ...
}

type state int

const (
	idle          state = iota // to subscribe (at retryAt)
	subscribing                // subscribe sent
	live                       // publications flow
	unsubscribing              // an offset was skipped: unsubscribe sent, subscribe since follows
)

// chanState is one subscription, across sessions.
type chanState struct {
	channel string
	state   state
	retryAt time.Time
	hasPos  bool
	pos     position // last delivered (or the subscribe reply's, when nothing came since)
	start   position // the first subscribe reply's: what the subscription is owed comes after it
	floor   position // this subscribe reply's: pushes come after it
	last    position // this subscription's last push
	hasLast bool

	delivered map[position]int64  // position → n
	at        map[int64]time.Time // n → when delivered
	told      []span              // gaps the server told about
	n         counts
}

// span is a told gap: everything after from, up to and including to.
type span struct{ from, to position }

// counts are what a subscription saw; the judge adds them up.
type counts struct {
	Dup, OutOfOrder, BadRecovery, Gaps, RecoveredTrue, RecoveredFalse, NewEpochs, Stray, Unsubscribed int
}

func newSubscriber(c *cluster, name string, home int, pinned bool, channels []string) *subscriber {
	s := &subscriber{c: c, name: name, home: home, pinned: pinned, node: -1,
		chans: map[string]*chanState{}, errors: map[string]int{}}
	for _, ch := range channels {
		s.chans[ch] = &chanState{channel: ch, delivered: map[position]int64{}, at: map[int64]time.Time{}}
	}
	return s
}

// run connects and reconnects until ctx ends.
func (s *subscriber) run(ctx context.Context) {
	next := s.home
	for backoff := 50 * time.Millisecond; ctx.Err() == nil; {
		ws, nd, err := s.connect(ctx, next)
		if err != nil {
			if !sleepCtx(ctx, backoff/2+rand.N(backoff)) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			if s.pinned {
				backoff = min(backoff, probeBackoff)
			}
			continue
		}
		backoff = 50 * time.Millisecond
		s.session(ctx, ws, nd)
		if !s.pinned {
			next = (nd + 1) % len(s.c.nodes) // as a client told to go away (1001) or cut off would
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// connect dials the nodes, starting at first, and reads the welcome.
func (s *subscriber) connect(ctx context.Context, first int) (*wstest.Conn, int, error) {
	var err error
	for k := range s.c.nodes {
		nd := (first + k) % len(s.c.nodes)
		if s.pinned && nd != s.home {
			continue
		}
		var ws *wstest.Conn
		if ws, err = s.dial(ctx, nd); err == nil {
			return ws, nd, nil
		}
	}
	return nil, 0, err
}

func (s *subscriber) dial(ctx context.Context, nd int) (*wstest.Conn, error) {
	req := wstest.NewRequest("/ws")
	req.Header.Set("Sec-WebSocket-Protocol", "rampart.v1")
	req.Header.Set("Authorization", "Bearer "+token(s.name))
	ws, _, err := wstest.Dial(ctx, s.c.nodes[nd].addr(), req, wstest.Options{Timeout: dialTimeout})
	if err != nil {
		return nil, err
	}
	_, msg, err := ws.ReadMessage(dialTimeout)
	var f frame
	if err == nil {
		err = json.Unmarshal(msg, &f)
	}
	if err == nil && f.Push != "welcome" {
		err = fmt.Errorf("first frame %s, want the welcome push", msg)
	}
	if err != nil {
		_ = ws.Close()
		return nil, err
	}
	return ws, nil
}

// frame is anything the server sends; err ends the session.
type frame struct {
	ID      int                    `json:"id"`
	Push    string                 `json:"push"`
	Result  json.RawMessage        `json:"result"`
	Error   *struct{ Code string } `json:"error"`
	Channel string                 `json:"channel"`
	Offset  uint64                 `json:"offset"`
	Epoch   string                 `json:"epoch"`
	Data    json.RawMessage        `json:"data"`
	err     error
}

type publication struct {
	Offset uint64          `json:"offset"`
	Epoch  string          `json:"epoch"`
	Data   json.RawMessage `json:"data"`
}

type subscribeResult struct {
	Offset       uint64        `json:"offset"`
	Epoch        string        `json:"epoch"`
	Recovered    bool          `json:"recovered"`
	Publications []publication `json:"publications"`
}

// dataN is the publisher's number in a publication's data, 0 if none.
func dataN(data json.RawMessage) int64 {
	var d struct{ N int64 }
	_ = json.Unmarshal(data, &d)
	return d.N
}

// reader hands the session's frames over until the socket fails.
func reader(ws *wstest.Conn, out chan<- frame, done <-chan struct{}) {
	for {
		var f frame
		_, msg, err := ws.ReadMessage(sessionIdle)
		if err == nil {
			err = json.Unmarshal(msg, &f)
		}
		f.err = err
		select {
		case out <- f:
		case <-done:
			return
		}
		if err != nil {
			return
		}
	}
}

// command is a command waiting for its reply.
type command struct {
	action  string
	channel string
	since   *position
}

// conversation is one session's command bookkeeping.
type conversation struct {
	ws      *wstest.Conn
	nextID  int
	pending map[int]command
}

func (cv *conversation) send(cmd command) error {
	cv.nextID++
	m := map[string]any{"id": cv.nextID, "action": cmd.action, "channel": cmd.channel}
	if cmd.since != nil {
		m["since"] = map[string]any{"offset": cmd.since.Offset, "epoch": cmd.since.Epoch}
	}
	b, _ := json.Marshal(m)
	cv.pending[cv.nextID] = cmd
	return cv.ws.WriteText(string(b))
}

// session subscribes every channel and follows the publications until
// the connection fails or ctx ends.
func (s *subscriber) session(ctx context.Context, ws *wstest.Conn, nd int) {
	frames, done := make(chan frame, frameBacklog), make(chan struct{})
	go reader(ws, frames, done)
	s.begin(nd)
	how := "stopped"
	defer func() {
		_ = ws.Close()
		close(done)
		s.end(how)
	}()
	cv := &conversation{ws: ws, pending: map[int]command{}}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := s.sendDue(cv); err != nil {
			how = "write: " + err.Error()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case f := <-frames:
			if f.err != nil {
				how = endReason(f.err)
				return
			}
			if err := s.handle(cv, f); err != nil {
				how = "write: " + err.Error()
				return
			}
		}
	}
}

func endReason(err error) string {
	var ce *wstest.CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("close %d", ce.Code)
	}
	return "dropped"
}

func (s *subscriber) begin(nd int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.node = nd
	s.sessions = append(s.sessions, session{node: nd, start: time.Now()})
	for _, cs := range s.chans {
		cs.state, cs.retryAt = idle, time.Time{}
	}
}

func (s *subscriber) end(how string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.node = -1
	last := &s.sessions[len(s.sessions)-1]
	last.end, last.how = time.Now(), how
	for _, cs := range s.chans {
		cs.state, cs.hasLast = idle, false
	}
}

// sendDue sends the subscribes that are due.
func (s *subscriber) sendDue(cv *conversation) error {
	s.mu.Lock()
	var due []command
	now := time.Now()
	for _, cs := range s.chans {
		if cs.state == idle && !now.Before(cs.retryAt) {
			cmd := command{action: "subscribe", channel: cs.channel}
			if cs.hasPos {
				since := cs.pos
				cmd.since = &since
			}
			cs.state = subscribing
			due = append(due, cmd)
		}
	}
	s.mu.Unlock()
	for _, cmd := range due {
		if err := cv.send(cmd); err != nil {
			return err
		}
	}
	return nil
}

// handle takes one frame; it may send an unsubscribe to resynchronise.
func (s *subscriber) handle(cv *conversation, f frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Push != "" {
		return s.push(cv, f)
	}
	cmd, ok := cv.pending[f.ID]
	if !ok {
		s.errors[fmt.Sprintf("reply to unknown id %d", f.ID)]++
		return nil
	}
	delete(cv.pending, f.ID)
	cs := s.chans[cmd.channel]
	if f.Error != nil {
		s.errors[cmd.action+": "+f.Error.Code]++
		cs.state, cs.retryAt = idle, time.Now().Add(retryAfter)
		return nil
	}
	switch cmd.action {
	case "subscribe":
		var res subscribeResult
		if err := json.Unmarshal(f.Result, &res); err != nil {
			s.errors["subscribe result: "+err.Error()]++
			cs.state = idle
			return nil
		}
		cs.subscribed(s.c.epochs, res, cmd.since)
	case "unsubscribe":
		cs.state = idle // the subscribe since follows at once
	}
	return nil
}

func (s *subscriber) push(cv *conversation, f frame) error {
	switch f.Push {
	case "publication":
	case "unsubscribe":
		if cs := s.chans[f.Channel]; cs != nil {
			cs.n.Unsubscribed++
			cs.state, cs.hasLast = idle, false
		}
		return nil
	default:
		return nil
	}
	cs := s.chans[f.Channel]
	if cs == nil {
		s.errors["publication of a channel never subscribed"]++
		return nil
	}
	if cs.publication(s.c.epochs, position{Epoch: f.Epoch, Offset: f.Offset}, dataN(f.Data)) {
		cs.state = unsubscribing
		return cv.send(command{action: "unsubscribe", channel: cs.channel})
	}
	return nil
}

// subscribed takes a subscribe reply; since is what the subscribe asked for.
func (cs *chanState) subscribed(ep *epochs, res subscribeResult, since *position) {
	reply := position{Epoch: res.Epoch, Offset: res.Offset}
	ep.idx(reply.Epoch)
	cs.state, cs.floor, cs.hasLast = live, reply, false
	switch {
	case since == nil:
		cs.pos, cs.start, cs.hasPos = reply, reply, true
	case res.Recovered:
		cs.n.RecoveredTrue++
		cs.recovered(ep, res, *since)
	default:
		cs.n.RecoveredFalse++
		if len(res.Publications) > 0 {
			cs.n.BadRecovery++
		}
		cs.told = append(cs.told, span{from: *since, to: reply})
		cs.pos = reply
	}
}

// recovered delivers the publications of a reply recovered: true: exactly
// those after since, in order, up to the reply's offset.
func (cs *chanState) recovered(ep *epochs, res subscribeResult, since position) {
	reply := position{Epoch: res.Epoch, Offset: res.Offset}
	if res.Epoch != since.Epoch {
		cs.n.BadRecovery++
	}
	for _, p := range res.Publications {
		pos := position{Epoch: p.Epoch, Offset: p.Offset}
		if pos.Epoch == "" {
			pos.Epoch = res.Epoch
		}
		n := dataN(p.Data)
		switch {
		case ep.cmp(pos, cs.pos) <= 0:
			cs.misplaced(ep, pos)
		case pos.Epoch != cs.pos.Epoch || pos.Offset != cs.pos.Offset+1:
			cs.n.BadRecovery++ // a hole: what it skipped is lost, unless told otherwise
			cs.deliver(pos, n)
		default:
			cs.deliver(pos, n)
		}
	}
	if c := ep.cmp(reply, cs.pos); c != 0 {
		cs.n.BadRecovery++ // the reply's offset is not its last publication's
		if c > 0 {
			cs.pos = reply
		}
	}
}

// publication takes a push; it reports whether the subscription must be
// resynchronised (offsets were skipped).
func (cs *chanState) publication(ep *epochs, pos position, n int64) bool {
	ep.idx(pos.Epoch)
	if cs.state != live && cs.state != unsubscribing {
		cs.n.Stray++
		return false
	}
	ref := cs.floor
	if cs.hasLast {
		ref = cs.last
	}
	if ep.cmp(pos, ref) <= 0 {
		cs.misplaced(ep, pos)
		return false
	}
	cs.last, cs.hasLast = pos, true
	if cs.state != live {
		return false // the subscription is being replaced; the subscribe since brings it
	}
	if pos.Epoch != cs.pos.Epoch {
		cs.n.NewEpochs++
		cs.told = append(cs.told, span{from: cs.pos, to: position{Epoch: pos.Epoch}})
		cs.pos = position{Epoch: pos.Epoch}
	}
	switch {
	case pos.Offset == cs.pos.Offset+1:
		cs.deliver(pos, n)
	case pos.Offset <= cs.pos.Offset:
		cs.misplaced(ep, pos)
	default:
		cs.n.Gaps++
		return true
	}
	return false
}

// misplaced counts a publication at or before what the subscription
// already has: a duplicate if it was delivered or counted by a subscribe
// reply, else out of order.
func (cs *chanState) misplaced(ep *epochs, pos position) {
	if _, ok := cs.delivered[pos]; ok || ep.cmp(pos, cs.floor) <= 0 {
		cs.n.Dup++
		return
	}
	cs.n.OutOfOrder++
}

func (cs *chanState) deliver(pos position, n int64) {
	cs.delivered[pos] = n
	cs.at[n] = time.Now()
	cs.pos = pos
}

// isLive reports whether every channel is live.
func (s *subscriber) isLive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cs := range s.chans {
		if cs.state != live {
			return false
		}
	}
	return true
}

// deliveredAt is when publication n reached the subscriber, if it did.
func (s *subscriber) deliveredAt(channel string, n int64) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.chans[channel]
	if cs == nil {
		return time.Time{}, false
	}
	at, ok := cs.at[n]
	return at, ok
}
