package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-rt/rampart/protocol"
)

// heldLimit bounds the live publications a subscription holds while it
// fills a gap; those arriving past it are reported lost once the held ones
// are handed on. A variable for the tests only.
var heldLimit = 1024

// pageTimeout bounds one history round trip of a gap's filler.
const pageTimeout = 10 * time.Second

// rateLimitRetries is how many times a filler sends a history command
// again after rate_limited, waiting as the server said.
const rateLimitRetries = 3

// gapFill is a gap being filled: the live publications held meanwhile,
// oldest first. Guarded by Subscription.mu.
type gapFill struct {
	held    []Publication
	dropped *Position // the last live publication not held: held was full
}

func (f *gapFill) hold(pub Publication) {
	if len(f.held) < heldLimit {
		f.held = append(f.held, pub)
		return
	}
	f.dropped = &Position{Offset: pub.Offset, Epoch: pub.Epoch}
}

// fillGaps runs on its own goroutine while sub.fill is f: for each held
// publication after a gap it reads the missing ones from history (on s,
// the connection the gap was seen on), hands them on, then the held ones,
// and ends when nothing is held. It stops without a word when s ends (the
// subscribe after the reconnect recovers from the same position), when
// the client is closed, or when f is no longer the subscription's filler.
func (sub *Subscription) fillGaps(s *session, f *gapFill) {
	for {
		from, to, ok := sub.drain(f)
		if !ok {
			return
		}
		if !sub.fetch(s, f, from, to) {
			sub.out.Lock()
			sub.mu.Lock()
			if sub.fill == f {
				sub.fill = nil
			}
			sub.mu.Unlock()
			sub.out.Unlock()
			return
		}
	}
}

// current reports whether f still fills sub. sub.mu is held.
func (sub *Subscription) current(f *gapFill) bool {
	return sub.fill == f && !sub.stopped.Load()
}

// drain hands on the held publications up to the next gap and returns
// that gap: after from, up to to. ok is false once f is done: nothing held
// any more (the publications not held are then reported lost), or f no
// longer fills sub.
func (sub *Subscription) drain(f *gapFill) (from Position, to uint64, ok bool) {
	sub.out.Lock()
	defer sub.out.Unlock()
	for {
		sub.mu.Lock()
		if !sub.current(f) {
			sub.mu.Unlock()
			return Position{}, 0, false
		}
		if len(f.held) == 0 {
			var events []func()
			if d := f.dropped; d != nil && (d.Epoch != sub.pos.Epoch || d.Offset > sub.pos.Offset) {
				events = append(events, sub.lose(*d, "too many publications arrived while a gap was filled"))
			}
			sub.fill = nil
			sub.mu.Unlock()
			sub.queue(events)
			return Position{}, 0, false
		}
		pub := f.held[0]
		if sub.gapBefore(pub) {
			from = sub.pos
			sub.mu.Unlock()
			return from, pub.Offset - 1, true
		}
		f.held = f.held[1:]
		events := sub.take(pub)
		sub.mu.Unlock()
		sub.queue(events)
	}
}

// fetch fills the gap after from, up to to, from history, page by page
// (the server caps each answer at its max_history_limit), and reports what
// history no longer has. It returns false when it gave up without a word:
// s ended or the client is closed.
func (sub *Subscription) fetch(s *session, f *gapFill, from Position, to uint64) bool {
	for {
		pubs, epoch, err := sub.history(s, from, to)
		if errors.Is(err, ErrDisconnected) || sub.c.ctx.Err() != nil {
			return false
		}
		if err != nil {
			sub.c.log.Warn("reading history to fill a gap failed", "channel", sub.channel, "error", err.Error())
		}
		var more bool
		if from, more = sub.page(f, to, epoch, pubs, err); !more {
			return true
		}
	}
}

// page hands on one history answer's publications that fall in the gap
// (after the position, up to to), reporting as lost those history no
// longer has, and the whole rest of the gap when the answer brings it no
// further (failed, another epoch, nothing kept). It returns the new
// position and whether the gap is still open.
func (sub *Subscription) page(f *gapFill, to uint64, epoch string, pubs []Publication, failed error) (Position, bool) {
	sub.out.Lock()
	defer sub.out.Unlock()
	sub.mu.Lock()
	if !sub.current(f) {
		sub.mu.Unlock()
		return Position{}, false
	}
	start := sub.pos
	why := "history no longer has them"
	var events []func()
	switch {
	case failed != nil:
		why = "reading history failed"
	case epoch != start.Epoch:
		why = "the channel is in another epoch"
	default:
		for _, p := range pubs {
			if p.Offset > to {
				break
			}
			if p.Offset <= sub.pos.Offset {
				continue
			}
			if p.Offset > sub.pos.Offset+1 {
				events = append(events, sub.lose(Position{Offset: p.Offset - 1, Epoch: start.Epoch}, why))
			}
			events = append(events, sub.take(p)...)
		}
	}
	if sub.pos == start {
		events = append(events, sub.lose(Position{Offset: to, Epoch: start.Epoch}, why))
	}
	now := sub.pos
	sub.mu.Unlock()
	sub.c.log.Debug("gap filled from history", "channel", sub.channel, "after", start.Offset, "offset", now.Offset)
	sub.queue(events)
	return now, now.Offset < to
}

// history asks s for the publications after from, at most up to to,
// trying again after rate_limited.
func (sub *Subscription) history(s *session, from Position, to uint64) ([]Publication, string, error) {
	limit := int(min(to-from.Offset, 1<<20))
	cmd := protocol.Command{Action: protocol.ActionHistory, Channel: sub.channel, Limit: &limit,
		Since: &protocol.Since{Offset: from.Offset, Epoch: from.Epoch}}
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(sub.c.ctx, pageTimeout)
		raw, err := s.roundTrip(ctx, cmd, nil)
		cancel()
		var e *Error
		if errors.As(err, &e) && e.Code == protocol.CodeRateLimited && try < rateLimitRetries {
			if err := s.pause(e.RetryAfter); err != nil {
				return nil, "", err
			}
			continue
		}
		if err != nil {
			return nil, "", err
		}
		var res protocol.HistoryResult
		if err := json.Unmarshal(raw, &res); err != nil {
			return nil, "", fmt.Errorf("client: history: decoding the result: %w", err)
		}
		return publications(sub.channel, res.Epoch, res.Publications), res.Epoch, nil
	}
}

// pause waits for d, unless s ends or the client is closed first.
func (s *session) pause(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-s.done:
		return fmt.Errorf("%w: %w", ErrDisconnected, s.cause())
	case <-s.c.ctx.Done():
		return ErrClosed
	}
}
