// Package brokertest is the conformance suite every broker backend passes:
// the in-memory broker defines the behaviour, and the Redis and NATS
// brokers are held to it against real servers.
//
// Run covers what one broker instance does on its own (delivery, offsets,
// epochs, history, TTL, Close). RunShared covers two instances sharing a
// backend (cross-node delivery, Unsubscribe, one offset sequence for both).
// RunOutage stops and restarts the backend under a live broker.
// RunDataLoss makes the backend lose its data under two live brokers and
// checks that channels go on in a new epoch. The suite decides nothing
// about how a backend stores or carries publications.
package brokertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/broker"
)

// opTimeout bounds each broker call made by the suite.
const opTimeout = 5 * time.Second

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// Run runs the single-instance suite. newBroker returns a fresh broker that
// has not been Run yet; the suite closes it.
func Run(t *testing.T, newBroker func(t *testing.T) broker.Broker) {
	tests := []struct {
		name string
		fn   func(*testing.T, broker.Broker)
	}{
		{"PublishDelivers", testPublishDelivers},
		{"NeverPublished", testNeverPublished},
		{"OffsetsPerChannel", testOffsetsPerChannel},
		{"ConcurrentPublishersInOrder", testConcurrentInOrder},
		{"HistoryLimit", testHistoryLimit},
		{"HistorySince", testHistorySince},
		{"HistorySizeBound", testHistorySizeBound},
		{"NoHistory", testNoHistory},
		{"HistoryTTL", testHistoryTTL},
		{"UnsubscribeKeepsStream", testUnsubscribeKeepsStream},
		{"IdempotentPublish", testIdempotentPublish},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newBroker(t)) })
	}
}

func mustPublish(t *testing.T, b broker.Broker, ch string, data string, opts broker.PublishOptions) broker.Position {
	t.Helper()
	pos, err := b.Publish(ctxT(t), ch, []byte(data), "user-1", "client-1", opts)
	if err != nil {
		t.Fatalf("Publish(%q): %v", ch, err)
	}
	return pos
}

func mustHistory(t *testing.T, b broker.Broker, ch string, req broker.HistoryRequest) ([]broker.Publication, broker.Position) {
	t.Helper()
	pubs, pos, err := b.History(ctxT(t), ch, req)
	if err != nil {
		t.Fatalf("History(%q, %+v): %v", ch, req, err)
	}
	return pubs, pos
}

func mustSubscribe(t *testing.T, b broker.Broker, ch string) {
	t.Helper()
	if err := b.Subscribe(ctxT(t), ch); err != nil {
		t.Fatalf("Subscribe(%q): %v", ch, err)
	}
}

var keep = broker.PublishOptions{HistorySize: 100, HistoryTTL: time.Minute}

// payload is the data published at offset n; it is valid JSON with
// characters a careless encoding would mangle.
func payload(n int) string { return fmt.Sprintf(`{"n":%d,"s":"é \" \\n 💥"}`, n) }

func testPublishDelivers(t *testing.T, b broker.Broker) {
	r := start(t, b)
	ch := channelName(t)
	mustSubscribe(t, b, ch)
	before := time.Now()
	pos := mustPublish(t, b, ch, payload(1), keep)
	if pos.Offset != 1 || pos.Epoch == "" {
		t.Fatalf("first Publish position = %+v, want offset 1 and an epoch", pos)
	}
	p := r.waitCount(t, ch, 1)[0]
	if p.Channel != ch || p.Offset != 1 || p.Epoch != pos.Epoch || string(p.Data) != payload(1) || p.User != "user-1" || p.Client != "client-1" {
		t.Fatalf("delivered %+v (data %s), want channel %q offset 1 epoch %q data %s user-1 client-1", p, p.Data, ch, pos.Epoch, payload(1))
	}
	if p.Time.Before(before.Add(-time.Minute)) || p.Time.After(time.Now().Add(time.Minute)) {
		t.Fatalf("publication time %v is not about now (%v)", p.Time, before)
	}
}

func testNeverPublished(t *testing.T, b broker.Broker) {
	start(t, b)
	ch := channelName(t)
	pubs, pos := mustHistory(t, b, ch, broker.HistoryRequest{Limit: -1})
	if len(pubs) != 0 || pos.Offset != 0 {
		t.Fatalf("History of a new channel = %d publications at %+v, want none at offset 0", len(pubs), pos)
	}
	_, again := mustHistory(t, b, ch, broker.HistoryRequest{})
	if again != pos {
		t.Fatalf("position moved without a publication: %+v then %+v", pos, again)
	}
	// The epoch handed out before the first publication is the one the
	// publications carry: a client that saw offset 0 can recover them.
	got := mustPublish(t, b, ch, payload(1), keep)
	if got.Offset != 1 || got.Epoch != pos.Epoch {
		t.Fatalf("first Publish after History = %+v, want offset 1 in epoch %q", got, pos.Epoch)
	}
}

func testOffsetsPerChannel(t *testing.T, b broker.Broker) {
	r := start(t, b)
	chA, chB := channelName(t), channelName(t)
	mustSubscribe(t, b, chA)
	mustSubscribe(t, b, chB)
	var epochA, epochB string
	for i := 1; i <= 5; i++ {
		pa := mustPublish(t, b, chA, payload(i), keep)
		if pa.Offset != uint64(i) || (epochA != "" && pa.Epoch != epochA) {
			t.Fatalf("publish %d on A = %+v, want offset %d epoch %q", i, pa, i, epochA)
		}
		epochA = pa.Epoch
		if i%2 == 0 {
			pb := mustPublish(t, b, chB, payload(i), keep)
			if pb.Offset != uint64(i/2) || (epochB != "" && pb.Epoch != epochB) {
				t.Fatalf("publish %d on B = %+v, want offset %d epoch %q", i/2, pb, i/2, epochB)
			}
			epochB = pb.Epoch
		}
	}
	checkSequence(t, r.waitCount(t, chA, 5), 1, 5, epochA)
	checkSequence(t, r.waitCount(t, chB, 2), 1, 2, epochB)
	if _, pos := mustHistory(t, b, chA, broker.HistoryRequest{}); pos != (broker.Position{Offset: 5, Epoch: epochA}) {
		t.Fatalf("History position of A = %+v, want offset 5 epoch %q", pos, epochA)
	}
}

// checkSequence fails unless ps are exactly offsets from..to in one epoch.
func checkSequence(t *testing.T, ps []broker.Publication, from, to uint64, epoch string) {
	t.Helper()
	if uint64(len(ps)) != to-from+1 {
		t.Fatalf("got offsets %v, want %d..%d", offsets(ps), from, to)
	}
	for i, p := range ps {
		if p.Offset != from+uint64(i) || p.Epoch != epoch {
			t.Fatalf("got offsets %v (publication %d: %+v), want %d..%d in epoch %q", offsets(ps), i, p, from, to, epoch)
		}
	}
}

func testConcurrentInOrder(t *testing.T, b broker.Broker) {
	r := start(t, b)
	ch := channelName(t)
	mustSubscribe(t, b, ch)
	const writers, each = 4, 25
	seen := make([]bool, writers*each+1)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				pos, err := b.Publish(ctxT(t), ch, []byte(payload(w*each+i)), "", "", keep)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if pos.Offset == 0 || pos.Offset >= uint64(len(seen)) || seen[pos.Offset] {
					errs <- fmt.Errorf("offset %d returned twice or out of range", pos.Offset)
				} else {
					seen[pos.Offset] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Publish: %v", err)
	}
	got := r.waitCount(t, ch, writers*each)
	checkSequence(t, got, 1, writers*each, got[0].Epoch)
	// Nothing more arrives: no duplicate is on its way.
	time.Sleep(50 * time.Millisecond)
	if n := len(r.pubs(ch)); n != writers*each {
		t.Fatalf("received %d publications, want %d", n, writers*each)
	}
}

// fill publishes n publications to a fresh channel and returns it and its epoch.
func fill(t *testing.T, b broker.Broker, n int, opts broker.PublishOptions) (string, string) {
	t.Helper()
	ch := channelName(t)
	var epoch string
	for i := 1; i <= n; i++ {
		epoch = mustPublish(t, b, ch, payload(i), opts).Epoch
	}
	return ch, epoch
}

// checkPubs fails unless pubs are the publications at offsets want, with
// the data fill gave them.
func checkPubs(t *testing.T, what string, pubs []broker.Publication, epoch string, want ...uint64) {
	t.Helper()
	if len(pubs) != len(want) {
		t.Fatalf("%s: got offsets %v, want %v", what, offsets(pubs), want)
	}
	for i, p := range pubs {
		if p.Offset != want[i] || p.Epoch != epoch || !bytes.Equal(p.Data, []byte(payload(int(want[i])))) || p.User != "user-1" || p.Client != "client-1" {
			t.Fatalf("%s: publication %d = %+v (data %s), want offset %d epoch %q data %s", what, i, p, p.Data, want[i], epoch, payload(int(want[i])))
		}
		if p.Time.IsZero() {
			t.Fatalf("%s: publication %d has no time", what, i)
		}
	}
}

func testHistoryLimit(t *testing.T, b broker.Broker) {
	start(t, b)
	ch, epoch := fill(t, b, 6, keep)
	at := broker.Position{Offset: 6, Epoch: epoch}
	for _, tc := range []struct {
		limit int
		want  []uint64
	}{
		{3, []uint64{4, 5, 6}},
		{1, []uint64{6}},
		{6, []uint64{1, 2, 3, 4, 5, 6}},
		{100, []uint64{1, 2, 3, 4, 5, 6}},
		{-1, []uint64{1, 2, 3, 4, 5, 6}},
		{0, nil},
	} {
		pubs, pos := mustHistory(t, b, ch, broker.HistoryRequest{Limit: tc.limit})
		checkPubs(t, fmt.Sprintf("Limit %d", tc.limit), pubs, epoch, tc.want...)
		if pos != at {
			t.Fatalf("Limit %d: position %+v, want %+v", tc.limit, pos, at)
		}
	}
}

func testHistorySince(t *testing.T, b broker.Broker) {
	start(t, b)
	ch, epoch := fill(t, b, 6, keep)
	for _, tc := range []struct {
		since uint64
		limit int
		want  []uint64
	}{
		{0, -1, []uint64{1, 2, 3, 4, 5, 6}},
		{3, -1, []uint64{4, 5, 6}},
		{3, 2, []uint64{4, 5}},
		{3, 0, nil},
		{5, 10, []uint64{6}},
		{6, -1, nil},
		{9, -1, nil},
	} {
		req := broker.HistoryRequest{Since: &broker.Position{Offset: tc.since, Epoch: epoch}, Limit: tc.limit}
		pubs, pos := mustHistory(t, b, ch, req)
		checkPubs(t, fmt.Sprintf("Since %d Limit %d", tc.since, tc.limit), pubs, epoch, tc.want...)
		if pos.Offset != 6 || pos.Epoch != epoch {
			t.Fatalf("Since %d: position %+v, want offset 6 epoch %q", tc.since, pos, epoch)
		}
	}
}

func testHistorySizeBound(t *testing.T, b broker.Broker) {
	start(t, b)
	ch, epoch := fill(t, b, 10, broker.PublishOptions{HistorySize: 4, HistoryTTL: time.Minute})
	pubs, pos := mustHistory(t, b, ch, broker.HistoryRequest{Limit: -1})
	checkPubs(t, "size 4 after 10", pubs, epoch, 7, 8, 9, 10)
	if pos.Offset != 10 {
		t.Fatalf("position %+v, want offset 10", pos)
	}
	// A client behind the kept window gets what is kept, and sees the gap.
	pubs, _ = mustHistory(t, b, ch, broker.HistoryRequest{Since: &broker.Position{Offset: 2, Epoch: epoch}, Limit: -1})
	checkPubs(t, "since 2, size 4 after 10", pubs, epoch, 7, 8, 9, 10)
}

func testNoHistory(t *testing.T, b broker.Broker) {
	start(t, b)
	ch, epoch := fill(t, b, 3, broker.PublishOptions{})
	pubs, pos := mustHistory(t, b, ch, broker.HistoryRequest{Limit: -1})
	if len(pubs) != 0 || pos != (broker.Position{Offset: 3, Epoch: epoch}) {
		t.Fatalf("History without history size = %v at %+v, want none at offset 3 epoch %q", offsets(pubs), pos, epoch)
	}
	if next := mustPublish(t, b, ch, payload(4), broker.PublishOptions{}); next != (broker.Position{Offset: 4, Epoch: epoch}) {
		t.Fatalf("next Publish = %+v, want offset 4 epoch %q", next, epoch)
	}
}

func testHistoryTTL(t *testing.T, b broker.Broker) {
	start(t, b)
	ttl := broker.PublishOptions{HistorySize: 10, HistoryTTL: time.Second}
	ch, epoch := fill(t, b, 3, ttl)
	pubs, _ := mustHistory(t, b, ch, broker.HistoryRequest{Limit: -1})
	checkPubs(t, "before TTL", pubs, epoch, 1, 2, 3)
	deadline := time.Now().Add(6 * time.Second)
	var pos broker.Position
	for {
		pubs, pos = mustHistory(t, b, ch, broker.HistoryRequest{Limit: -1})
		if len(pubs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publications %v still kept 6s after a 1s TTL", offsets(pubs))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Either the stream goes on (same epoch, same offset) or it is gone and
	// its epoch changed with it.
	if pos.Epoch == epoch && pos.Offset != 3 {
		t.Fatalf("after TTL: position %+v in the same epoch, want offset 3", pos)
	}
	next := mustPublish(t, b, ch, payload(4), ttl)
	if pos.Epoch == epoch && next != (broker.Position{Offset: 4, Epoch: epoch}) {
		t.Fatalf("Publish after TTL = %+v, want offset 4 epoch %q", next, epoch)
	}
	if pos.Epoch != epoch && (next.Epoch != pos.Epoch || next.Offset != pos.Offset+1) {
		t.Fatalf("Publish after TTL = %+v, want offset %d epoch %q", next, pos.Offset+1, pos.Epoch)
	}
}

func testUnsubscribeKeepsStream(t *testing.T, b broker.Broker) {
	start(t, b)
	ch := channelName(t)
	mustSubscribe(t, b, ch)
	first := mustPublish(t, b, ch, payload(1), keep)
	if err := b.Unsubscribe(ctxT(t), ch); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	if next := mustPublish(t, b, ch, payload(2), keep); next != (broker.Position{Offset: 2, Epoch: first.Epoch}) {
		t.Fatalf("Publish after Unsubscribe = %+v, want offset 2 epoch %q", next, first.Epoch)
	}
	mustSubscribe(t, b, ch) // subscribing again works
}

func testClose(t *testing.T, b broker.Broker) {
	start(t, b)
	ch, _ := fill(t, b, 1, keep)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := ctxT(t)
	checks := map[string]error{
		"Subscribe":   b.Subscribe(ctx, ch),
		"Unsubscribe": b.Unsubscribe(ctx, ch),
	}
	_, checks["Publish"] = b.Publish(ctx, ch, []byte(payload(2)), "", "", keep)
	_, _, checks["History"] = b.History(ctx, ch, broker.HistoryRequest{Limit: -1})
	for op, err := range checks {
		if !errors.Is(err, broker.ErrClosed) {
			t.Errorf("%s after Close = %v, want broker.ErrClosed", op, err)
		}
	}
}
