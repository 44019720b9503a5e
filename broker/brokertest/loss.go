package brokertest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/broker"
)

// recoverWithin bounds how long after the backend lost its data (and, for a
// restart, listens again) a broker may take to work again: to reconnect and
// to recreate what was lost. The backends take well under a second.
const recoverWithin = 5 * time.Second

// Loss makes the backend lose what it keeps for the brokers under test
// (streams, buckets, keys) while the brokers stay open, for RunDataLoss.
type Loss struct {
	Name string
	// Lose loses the data; it returns once the backend accepts connections.
	Lose func(t *testing.T)
	// Restart: Lose restarts the backend, so the brokers reconnect first and
	// calls may fail with broker.ErrUnavailable until they have. Without
	// it, the very first call after Lose must work.
	Restart bool
}

// RunDataLoss checks two brokers on one backend, as two nodes, through
// each loss of the backend's data: the next Publish calls, made at once on
// both nodes, recreate what is missing and start the channel again at
// offset 1 in one new epoch, within recoverWithin; both nodes see that
// epoch, History since the old
// position reports another epoch (so clients get recovered: false), and
// both nodes' subscriptions deliver again, never an old epoch's offset
// twice. newPair returns two fresh brokers sharing a backend, not Run yet;
// the suite closes them.
func RunDataLoss(t *testing.T, newPair func(t *testing.T) (a, b broker.Broker), losses ...Loss) {
	for _, l := range losses {
		t.Run(l.Name, func(t *testing.T) {
			a, b := newPair(t)
			testDataLoss(t, a, b, l)
		})
	}
}

func testDataLoss(t *testing.T, a, b broker.Broker, l Loss) {
	ra, rb := start(t, a), start(t, b)
	// chP is first used after the loss by a Publish, chH by a History.
	chP, chH := channelName(t), channelName(t)
	old := map[string]broker.Position{}
	for _, ch := range []string{chP, chH} {
		mustSubscribe(t, a, ch)
		mustSubscribe(t, b, ch)
		for i := 1; i <= 3; i++ {
			old[ch] = mustPublish(t, a, ch, payload(i), keep)
		}
		ra.waitCount(t, ch, 3)
		rb.waitCount(t, ch, 3)
	}

	l.Lose(t)
	back := time.Now()
	top := burst(t, l.Restart, chP, a, b)
	took := time.Since(back)
	t.Logf("%s: %d concurrent Publish calls on two nodes succeeded %v after the backend was back",
		l.Name, burstSize, took.Round(100*time.Microsecond))
	if took > recoverWithin {
		t.Fatalf("Publish after the loss took %v, want at most %v", took, recoverWithin)
	}
	if top.Epoch == old[chP].Epoch {
		t.Fatalf("Publish after the loss = %+v, want an epoch other than %q", top, old[chP].Epoch)
	}
	// The other node, which may have recreated nothing, sees the new epoch.
	since := old[chP]
	pubs, pos := mustHistory(t, b, chP, broker.HistoryRequest{Since: &since, Limit: -1})
	if pos != top {
		t.Fatalf("History since %+v: position %+v, want %+v", since, pos, top)
	}
	checkEpoch(t, "History since the old position", pubs, top.Epoch)
	pubs, _ = mustHistory(t, b, chP, broker.HistoryRequest{Limit: -1})
	if len(pubs) == 0 || pubs[0].Offset != 1 || pubs[len(pubs)-1].Offset != top.Offset {
		t.Fatalf("History after the loss: offsets %v, want 1..%d", offsets(pubs), top.Offset)
	}
	checkEpoch(t, "History after the loss", pubs, top.Epoch)

	// A channel first read after the loss: the epoch History hands out at
	// offset 0 is new, and the next publication, on the other node, has it.
	since = old[chH]
	pubs, pos = mustHistory(t, b, chH, broker.HistoryRequest{Since: &since, Limit: -1})
	if len(pubs) != 0 || pos.Offset != 0 || pos.Epoch == since.Epoch {
		t.Fatalf("History of a lost channel since %+v = %v at %+v, want nothing at offset 0 in a new epoch", since, offsets(pubs), pos)
	}
	if got := mustPublish(t, a, chH, payload(1), keep); got != (broker.Position{Offset: 1, Epoch: pos.Epoch}) {
		t.Fatalf("Publish after History handed out %+v = %+v, want offset 1 in that epoch", pos, got)
	}
	if got := mustPublish(t, b, chP, payload(2), keep); got != (broker.Position{Offset: top.Offset + 1, Epoch: top.Epoch}) {
		t.Fatalf("Publish on the other node = %+v, want offset %d in epoch %q", got, top.Offset+1, top.Epoch)
	}

	// A new subscription works, and both nodes hear every channel again.
	chS := channelName(t)
	for _, node := range []broker.Broker{a, b} {
		retry(t, l.Restart, "Subscribe", func(ctx context.Context) error { return node.Subscribe(ctx, chS) })
	}
	for _, ch := range []string{chP, chH, chS} {
		last := heard(t, a, ch, ra, rb)
		for node, r := range map[string]*recorder{"a": ra, "b": rb} {
			checkAfterLoss(t, fmt.Sprintf("node %s, channel %q", node, ch), r.pubs(ch), old[ch], last, !l.Restart)
		}
	}
}

// burstSize publications are made at once, half on each node, as the
// first calls after a loss: the nodes race to recreate what is missing and
// to start the new epoch.
const burstSize = 8

// burst publishes burstSize times on ch at once from the nodes and returns
// the highest position: all in one new epoch, with distinct offsets, which
// are exactly 1..burstSize unless restarted (a call that timed out may have
// been stored, then tried again).
func burst(t *testing.T, restarted bool, ch string, nodes ...broker.Broker) broker.Position {
	t.Helper()
	got := make([]broker.Position, burstSize)
	var wg sync.WaitGroup
	errs := make(chan error, burstSize)
	for i := range got {
		wg.Go(func() {
			errs <- try(t.Context(), restarted, func(ctx context.Context) (err error) {
				got[i], err = nodes[i%len(nodes)].Publish(ctx, ch, []byte(payload(i)), "", "", keep)
				return err
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Publish after the backend lost its data: %v", err)
		}
	}
	slices.SortFunc(got, func(x, y broker.Position) int { return cmp.Compare(x.Offset, y.Offset) })
	for i, p := range got {
		if p.Epoch != got[0].Epoch || p.Offset == 0 || (i > 0 && p.Offset == got[i-1].Offset) || (!restarted && p.Offset != uint64(i+1)) {
			t.Fatalf("concurrent Publish calls after the loss returned %+v, want offsets 1..%d in one epoch", got, burstSize)
		}
	}
	return got[len(got)-1]
}

// retry fails t unless try(f) succeeds.
func retry(t *testing.T, restarted bool, what string, f func(ctx context.Context) error) {
	t.Helper()
	if err := try(t.Context(), restarted, f); err != nil {
		t.Fatalf("%s after the backend lost its data: %v", what, err)
	}
}

// try runs f under opTimeout. Unless restarted, f must work at once; else
// it is tried again while it fails with broker.ErrUnavailable, for at most
// recoverWithin.
func try(ctx context.Context, restarted bool, f func(ctx context.Context) error) error {
	deadline := time.Now().Add(recoverWithin)
	for {
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		err := f(cctx)
		cancel()
		switch {
		case err == nil:
			return nil
		case !restarted || !errors.Is(err, broker.ErrUnavailable):
			return err
		case time.Now().After(deadline):
			return fmt.Errorf("still failing %v after the backend came back: %w", recoverWithin, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// heard publishes on ch from p until both recorders have received that
// publication, and returns its position: deliveries resumed on both nodes.
func heard(t *testing.T, p broker.Broker, ch string, rs ...*recorder) broker.Position {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		pos := mustPublish(t, p, ch, payload(9), keep)
		poll := time.Now().Add(200 * time.Millisecond)
		for time.Now().Before(poll) {
			if allHeard(rs, ch, pos) {
				return pos
			}
			time.Sleep(10 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatalf("channel %q: publication %+v not delivered to both nodes within %v", ch, pos, waitFor)
		}
	}
}

func allHeard(rs []*recorder, ch string, pos broker.Position) bool {
	for _, r := range rs {
		got := r.pubs(ch)
		if len(got) == 0 || got[len(got)-1].Offset != pos.Offset || got[len(got)-1].Epoch != pos.Epoch {
			return false
		}
	}
	return true
}

// checkEpoch fails unless every publication is of epoch.
func checkEpoch(t *testing.T, what string, pubs []broker.Publication, epoch string) {
	t.Helper()
	for _, p := range pubs {
		if p.Epoch != epoch {
			t.Fatalf("%s: publication %+v, want epoch %q", what, p, epoch)
		}
	}
}

// checkAfterLoss fails unless got is offsets 1..old.Offset of old's epoch
// (when a node may have missed none, else a subset in order), then
// increasing offsets in last's epoch ending at last: exactly 1..last when
// gapless, as nothing disconnected.
func checkAfterLoss(t *testing.T, what string, got []broker.Publication, old, last broker.Position, gapless bool) {
	t.Helper()
	var before, after []broker.Publication
	for i, p := range got {
		switch {
		case p.Epoch == old.Epoch && len(after) == 0:
			before = append(before, p)
		case p.Epoch == last.Epoch:
			after = append(after, p)
		default:
			t.Fatalf("%s: publication %d %+v of neither the old epoch %q nor the new %q (offsets %v)", what, i, p, old.Epoch, last.Epoch, offsets(got))
		}
	}
	if old.Epoch != "" {
		checkSequence(t, before, 1, old.Offset, old.Epoch)
	}
	if gapless {
		checkSequence(t, after, 1, last.Offset, last.Epoch)
		return
	}
	for i, p := range after {
		if p.Offset == 0 || (i > 0 && p.Offset <= after[i-1].Offset) {
			t.Fatalf("%s: offsets %v in the new epoch, want increasing", what, offsets(after))
		}
	}
	if n := len(after); n == 0 || after[n-1].Offset != last.Offset {
		t.Fatalf("%s: offsets %v in the new epoch, want them to end at %d", what, offsets(after), last.Offset)
	}
}
