//go:build faults

package faulttest

import (
	"sync"
	"time"
)

// position is a place in a channel's history: an offset means something
// only with its epoch.
type position struct {
	Epoch  string
	Offset uint64
}

// epochs orders the epochs seen in one run by when they were first seen
// (by the publisher or any subscriber): a channel's epochs follow each
// other, so the order of first sight is their order.
type epochs struct {
	mu    sync.Mutex
	index map[string]int
}

func newEpochs() *epochs { return &epochs{index: map[string]int{}} }

func (e *epochs) idx(epoch string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	i, ok := e.index[epoch]
	if !ok {
		i = len(e.index)
		e.index[epoch] = i
	}
	return i
}

// cmp orders positions: by epoch, then offset.
func (e *epochs) cmp(a, b position) int {
	if a.Epoch != b.Epoch {
		return e.idx(a.Epoch) - e.idx(b.Epoch)
	}
	switch {
	case a.Offset < b.Offset:
		return -1
	case a.Offset > b.Offset:
		return 1
	}
	return 0
}

// outcome is what the publisher learnt of one publish.
type outcome int

const (
	pending outcome = iota
	acked           // 200 with an offset and an epoch: it must reach every subscriber, or they are told
	maybe           // "unavailable", or no answer: it may have been stored
	failed          // refused (another error, or no node took the connection): not stored
)

// record is one publish: its data is {"n": n}.
type record struct {
	n        int64
	channel  string
	sent     time.Time
	answered time.Time
	outcome  outcome
	pos      position // when acked
	why      string   // when not acked
}

// ledger is the publisher's bookkeeping, shared with the judge.
type ledger struct {
	mu   sync.Mutex
	recs []*record // recs[n-1]
}

func (l *ledger) add(channel string) *record {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := &record{n: int64(len(l.recs) + 1), channel: channel, sent: time.Now()}
	l.recs = append(l.recs, r)
	return r
}

func (l *ledger) settle(r *record, o outcome, pos position, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.answered, r.outcome, r.pos, r.why = time.Now(), o, pos, why
}

// snapshot copies the records (each by value) for reading without the lock.
func (l *ledger) snapshot() []record {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]record, len(l.recs))
	for i, r := range l.recs {
		out[i] = *r
	}
	return out
}

func (l *ledger) get(n int64) (record, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n < 1 || n > int64(len(l.recs)) {
		return record{}, false
	}
	return *l.recs[n-1], true
}
