package brokertest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/broker"
)

// RunShared runs the suite for two broker instances on one backend, as two
// Rampart nodes would use it. newPair returns two fresh brokers that have
// not been Run yet; the suite closes them.
func RunShared(t *testing.T, newPair func(t *testing.T) (a, b broker.Broker)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b broker.Broker)
	}{
		{"CrossNodeDelivery", testCrossNode},
		{"SubscribedOnReturn", testSubscribedOnReturn},
		{"OneSequenceForBothNodes", testOneSequence},
		{"NotAfterUnsubscribe", testNotAfterUnsubscribe},
		{"StateOutlivesANode", testStateOutlivesANode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newPair(t)
			tc.fn(t, a, b)
		})
	}
}

func testCrossNode(t *testing.T, a, b broker.Broker) {
	start(t, a)
	rb := start(t, b)
	ch := channelName(t)
	mustSubscribe(t, b, ch)
	pos := mustPublish(t, a, ch, payload(1), keep)
	p := rb.waitCount(t, ch, 1)[0]
	if p.Offset != pos.Offset || p.Epoch != pos.Epoch || string(p.Data) != payload(1) || p.User != "user-1" || p.Client != "client-1" {
		t.Fatalf("b received %+v (data %s), want %+v with data %s", p, p.Data, pos, payload(1))
	}
	pubs, at := mustHistory(t, b, ch, broker.HistoryRequest{Limit: -1})
	checkPubs(t, "history read on b", pubs, pos.Epoch, 1)
	if at != pos {
		t.Fatalf("b sees position %+v, a published at %+v", at, pos)
	}
}

// testSubscribedOnReturn: a publication made after Subscribe returns is
// delivered, so the server can read the position right after subscribing.
func testSubscribedOnReturn(t *testing.T, a, b broker.Broker) {
	start(t, a)
	rb := start(t, b)
	for range 20 {
		ch := channelName(t)
		mustSubscribe(t, b, ch)
		mustPublish(t, a, ch, payload(1), keep)
		rb.waitCount(t, ch, 1)
	}
}

func testOneSequence(t *testing.T, a, b broker.Broker) {
	ra, rb := start(t, a), start(t, b)
	ch := channelName(t)
	mustSubscribe(t, a, ch)
	mustSubscribe(t, b, ch)
	const each = 30
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, node := range []broker.Broker{a, b} {
		wg.Go(func() {
			for i := range each {
				if _, err := node.Publish(ctxT(t), ch, []byte(payload(i)), "", "", keep); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Publish: %v", err)
	}
	got := ra.waitCount(t, ch, 2*each)
	checkSequence(t, got, 1, 2*each, got[0].Epoch)
	checkSequence(t, rb.waitCount(t, ch, 2*each), 1, 2*each, got[0].Epoch)
}

func testNotAfterUnsubscribe(t *testing.T, a, b broker.Broker) {
	start(t, a)
	rb := start(t, b)
	ch, marker := channelName(t), channelName(t)
	mustSubscribe(t, b, ch)
	mustSubscribe(t, b, marker)
	mustPublish(t, a, ch, payload(1), keep)
	rb.waitCount(t, ch, 1)
	if err := b.Unsubscribe(ctxT(t), ch); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	mustPublish(t, a, ch, payload(2), keep)
	mustPublish(t, a, marker, payload(1), keep)
	rb.waitCount(t, marker, 1)
	time.Sleep(100 * time.Millisecond) // room for a stray delivery to show up
	if got := rb.pubs(ch); len(got) != 1 {
		t.Fatalf("b received offsets %v on %q after unsubscribing, want only 1", offsets(got), ch)
	}
}

// testStateOutlivesANode: offsets and history live in the backend, so a
// node that closes (or restarts) takes nothing with it.
func testStateOutlivesANode(t *testing.T, a, b broker.Broker) {
	start(t, a)
	start(t, b)
	ch, epoch := fill(t, a, 3, keep)
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	pubs, pos := mustHistory(t, b, ch, broker.HistoryRequest{Limit: -1})
	checkPubs(t, "history after the publishing node closed", pubs, epoch, 1, 2, 3)
	if next := mustPublish(t, b, ch, payload(4), keep); next != (broker.Position{Offset: 4, Epoch: epoch}) || pos.Offset != 3 {
		t.Fatalf("position %+v then Publish %+v, want offset 3 then 4 in epoch %q", pos, next, epoch)
	}
}

// Backend stops and starts the engine behind the brokers under test, on
// the same address, for RunOutage.
type Backend struct {
	Stop  func(t *testing.T)
	Start func(t *testing.T)
	// Keeps: the engine keeps its data across Stop and Start, so channels
	// must go on in their epoch: an outage alone never starts a new one.
	Keeps bool
}

// RunOutage checks a broker through an outage of its backend: calls fail
// promptly with broker.ErrUnavailable and never outlast their context, and
// once the backend is back, Publish and delivery resume without a new
// broker. It leaves the backend running.
func RunOutage(t *testing.T, newBroker func(t *testing.T) broker.Broker, be Backend) {
	b := newBroker(t)
	r := start(t, b)
	ch := channelName(t)
	mustSubscribe(t, b, ch)
	before := mustPublish(t, b, ch, payload(1), keep)
	r.waitCount(t, ch, 1)

	be.Stop(t)
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			be.Start(t)
		}
	})
	checkDown(t, b, ch)

	be.Start(t)
	restarted = true
	after := publishUntil(t, b, ch)
	if after.Epoch == before.Epoch && after.Offset <= before.Offset {
		t.Fatalf("after the outage: %+v in the epoch of %+v, offsets must go on", after, before)
	}
	if be.Keeps && after.Epoch != before.Epoch {
		t.Fatalf("after an outage that lost nothing: %+v, want the epoch of %+v to go on", after, before)
	}
	// Delivery resumes once the broker has re-subscribed by itself.
	deadline := time.Now().Add(waitFor)
	for {
		if got := r.pubs(ch); len(got) > 1 && got[len(got)-1].Epoch == after.Epoch {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery on %q within %v of the backend coming back (got %v)", ch, waitFor, offsets(r.pubs(ch)))
		}
		publishUntil(t, b, ch)
		time.Sleep(100 * time.Millisecond)
	}
	ch2 := channelName(t)
	mustSubscribe(t, b, ch2)
	mustPublish(t, b, ch2, payload(1), keep)
	r.waitCount(t, ch2, 1)
}

// checkDown: with the backend down, Publish and History fail with
// ErrUnavailable, within a few seconds even under a long context, and
// within a short context's deadline.
func checkDown(t *testing.T, b broker.Broker, ch string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	_, err := b.Publish(ctx, ch, []byte(payload(2)), "", "", keep)
	if !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Publish with the backend down = %v, want broker.ErrUnavailable", err)
	}
	if d := time.Since(t0); d > 6*time.Second {
		t.Fatalf("Publish with the backend down took %v, want an answer within 6s", d)
	}
	if _, _, err := b.History(ctx, ch, broker.HistoryRequest{Limit: -1}); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("History with the backend down = %v, want broker.ErrUnavailable", err)
	}
	short, cancel2 := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel2()
	t0 = time.Now()
	_, err = b.Publish(short, ch, []byte(payload(2)), "", "", keep)
	if err == nil {
		t.Fatal("Publish with the backend down succeeded")
	}
	if !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Publish under a short deadline = %v, want broker.ErrUnavailable", err)
	}
	if d := time.Since(t0); d > 1300*time.Millisecond {
		t.Fatalf("Publish under a 300ms deadline took %v", d)
	}
}

// publishUntil retries Publish until the backend answers.
func publishUntil(t *testing.T, b broker.Broker, ch string) broker.Position {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		pos, err := b.Publish(ctx, ch, []byte(payload(9)), "", "", keep)
		cancel()
		if err == nil {
			return pos
		}
		if time.Now().After(deadline) {
			t.Fatalf("Publish still failing 20s after the backend came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
