//go:build faults

package faulttest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// TestJudge checks the suite's own bookkeeping without any process: a
// scripted subscription that gets a duplicate, a push out of order, an
// exact recovery, a recovered: false, a new epoch and a recovery with a
// hole must come out as delivered, told, lost and counted as such.
func TestJudge(t *testing.T) {
	c := &cluster{ledger: &ledger{}, epochs: newEpochs(), res: &result{}}
	ps := func(e string, o uint64) position { return position{Epoch: e, Offset: o} }
	n := map[position]int64{}
	for _, p := range []position{ps("A", 1), ps("A", 2), ps("A", 3), ps("A", 4), ps("A", 5), ps("A", 6), ps("B", 1), ps("B", 2)} {
		r := c.ledger.add("ch")
		c.ledger.settle(r, acked, p, "")
		n[p] = r.n
	}
	pub := func(p position) publication {
		return publication{Offset: p.Offset, Epoch: p.Epoch, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n[p]))}
	}
	cs := &chanState{channel: "ch", delivered: map[position]int64{}, at: map[int64]time.Time{}}
	push := func(p position) bool { return cs.publication(c.epochs, p, n[p]) }
	resync := func(since position, res subscribeResult) {
		cs.state = idle
		cs.subscribed(c.epochs, res, &since)
	}

	cs.subscribed(c.epochs, subscribeResult{Epoch: "A"}, nil)
	push(ps("A", 1))
	push(ps("A", 2))
	push(ps("A", 2)) // duplicate
	if !push(ps("A", 4)) {
		t.Fatal("a skipped offset did not ask for a resync")
	}
	cs.state = unsubscribing
	push(ps("A", 3)) // after A4 in the same subscription: out of order
	resync(ps("A", 2), subscribeResult{Epoch: "A", Offset: 4, Recovered: true,
		Publications: []publication{pub(ps("A", 3)), pub(ps("A", 4))}})
	if !push(ps("A", 6)) {
		t.Fatal("a skipped offset did not ask for a resync")
	}
	resync(ps("A", 4), subscribeResult{Epoch: "A", Offset: 6}) // told: A5, A6
	if !push(ps("B", 2)) {                                     // a new epoch, told: nothing of A left
		t.Fatal("a new epoch starting past offset 1 did not ask for a resync")
	}
	resync(ps("B", 0), subscribeResult{Epoch: "B", Offset: 2, Recovered: true,
		Publications: []publication{pub(ps("B", 2))}}) // a hole: B1 is lost

	c.judgeSubscription("sub", cs, c.ledger.snapshot())
	r := c.res
	want := counts{Dup: 1, OutOfOrder: 1, BadRecovery: 1, Gaps: 3, RecoveredTrue: 2, RecoveredFalse: 1, NewEpochs: 1}
	if r.n != want || r.lost != 1 || r.told != 2 || r.mismatch != 0 {
		t.Fatalf("counts %+v lost %d told %d wrong %d; want %+v lost 1 told 2 wrong 0", r.n, r.lost, r.told, r.mismatch, want)
	}
}
