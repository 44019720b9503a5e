package client_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/broker/memory"
	"github.com/rampart-rt/rampart/client"
	"github.com/rampart-rt/rampart/policy"
)

// faultyBroker is the real memory broker (broker/memory) with faults a
// cluster really has, switched on by the test: it loses the next
// deliveries of a channel to this node while history keeps them (as a
// node whose Redis pub/sub connection dropped does), delivers a
// publication twice (an at-least-once transport), restarts empty (a
// broker without persistence: history gone, a new epoch), answers a
// history read slowly or not at all (unavailable), stores a publish and
// then answers it unavailable or late (a stalled Redis, a NATS leader
// change). It wraps the memory broker and delegates everything else to it;
// nothing is faked.
type faultyBroker struct {
	mu      sync.Mutex // guards the fields below
	inner   *memory.Broker
	handler broker.Handler
	lose    map[string]int           // channel: deliveries still to lose
	twice   map[string]int           // channel: deliveries still to repeat
	fail    map[string]int           // channel: history reads still to fail
	gate    map[string]chan struct{} // channel: history reads wait until it is closed
	waiting chan string              // a history read waits at a gate

	unanswered map[string]int           // channel: publishes still to store and answer unavailable
	pubGate    map[string]chan struct{} // channel: the next publish, once stored, waits until it is closed
	pubWaiting chan string              // a stored publish waits at a gate
	keys       map[string][]string      // channel: the idempotency key of every publish, in order
}

// newFaultyBroker returns a broker closed at cleanup, after the server
// using it (register it before the server).
func newFaultyBroker(t *testing.T) *faultyBroker {
	t.Helper()
	b := &faultyBroker{inner: memory.New(), lose: map[string]int{}, twice: map[string]int{},
		fail: map[string]int{}, gate: map[string]chan struct{}{}, waiting: make(chan string, 16),
		unanswered: map[string]int{}, pubGate: map[string]chan struct{}{}, pubWaiting: make(chan string, 16),
		keys: map[string][]string{}}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// failHistory makes the next n history reads of channel fail.
func (b *faultyBroker) failHistory(channel string, n int) {
	b.mu.Lock()
	b.fail[channel] += n
	b.mu.Unlock()
}

// holdHistory makes history reads of channel wait until release is called.
func (b *faultyBroker) holdHistory(channel string) (release func()) {
	g := make(chan struct{})
	b.mu.Lock()
	b.gate[channel] = g
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.gate, channel)
		b.mu.Unlock()
		close(g)
	}
}

func (b *faultyBroker) current() *memory.Broker {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inner
}

// loseNext makes the next n deliveries of channel to this node vanish.
func (b *faultyBroker) loseNext(channel string, n int) {
	b.mu.Lock()
	b.lose[channel] += n
	b.mu.Unlock()
}

// repeatNext makes the next n deliveries of channel arrive twice.
func (b *faultyBroker) repeatNext(channel string, n int) {
	b.mu.Lock()
	b.twice[channel] += n
	b.mu.Unlock()
}

// restart replaces the memory broker with a new, empty one: every channel
// starts again at offset 1 in a new epoch, and this node keeps hearing it.
func (b *faultyBroker) restart() {
	fresh := memory.New()
	_ = fresh.Run(b.deliver)
	b.mu.Lock()
	old := b.inner
	b.inner = fresh
	b.mu.Unlock()
	_ = old.Close()
}

func (b *faultyBroker) deliver(p broker.Publication) {
	b.mu.Lock()
	if b.lose[p.Channel] > 0 {
		b.lose[p.Channel]--
		b.mu.Unlock()
		return
	}
	again := b.twice[p.Channel] > 0
	if again {
		b.twice[p.Channel]--
	}
	h := b.handler
	b.mu.Unlock()
	h(p)
	if again {
		h(p)
	}
}

func (b *faultyBroker) Run(h broker.Handler) error {
	b.mu.Lock()
	b.handler = h
	b.mu.Unlock()
	return b.current().Run(b.deliver)
}

// answerUnavailable makes the next n publishes to channel be stored (and
// delivered) and then answered with broker.ErrUnavailable.
func (b *faultyBroker) answerUnavailable(channel string, n int) {
	b.mu.Lock()
	b.unanswered[channel] += n
	b.mu.Unlock()
}

// holdPublish makes the next publish to channel, once stored, wait for its
// answer until release is called.
func (b *faultyBroker) holdPublish(channel string) (release func()) {
	g := make(chan struct{})
	b.mu.Lock()
	b.pubGate[channel] = g
	b.mu.Unlock()
	return func() { close(g) }
}

// publishKeys returns the idempotency key of every publish to channel, in
// order (as the broker got them: scoped by the server, "" for none).
func (b *faultyBroker) publishKeys(channel string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.keys[channel]...)
}

func (b *faultyBroker) Publish(ctx context.Context, channel string, data []byte, user, client string, opts broker.PublishOptions) (broker.Position, error) {
	pos, err := b.current().Publish(ctx, channel, data, user, client, opts)
	b.mu.Lock()
	b.keys[channel] = append(b.keys[channel], opts.IdempotencyKey)
	unanswered := err == nil && b.unanswered[channel] > 0
	if unanswered {
		b.unanswered[channel]--
	}
	g := b.pubGate[channel]
	delete(b.pubGate, channel)
	b.mu.Unlock()
	if g != nil {
		b.pubWaiting <- channel
		select {
		case <-g:
		case <-ctx.Done(): // the server gave up waiting
			return broker.Position{}, ctx.Err()
		}
	}
	if unanswered {
		return broker.Position{}, fmt.Errorf("%w: publish to %s stored, answer lost for the test", broker.ErrUnavailable, channel)
	}
	return pos, err
}

func (b *faultyBroker) Subscribe(ctx context.Context, channel string) error {
	return b.current().Subscribe(ctx, channel)
}

func (b *faultyBroker) Unsubscribe(ctx context.Context, channel string) error {
	return b.current().Unsubscribe(ctx, channel)
}

func (b *faultyBroker) History(ctx context.Context, channel string, req broker.HistoryRequest) ([]broker.Publication, broker.Position, error) {
	b.mu.Lock()
	fail := b.fail[channel] > 0
	if fail {
		b.fail[channel]--
	}
	g := b.gate[channel]
	b.mu.Unlock()
	if fail {
		return nil, broker.Position{}, fmt.Errorf("%w: history of %s lost for the test", broker.ErrUnavailable, channel)
	}
	if g != nil {
		b.waiting <- channel
		select {
		case <-g:
		case <-ctx.Done():
			return nil, broker.Position{}, ctx.Err()
		}
	}
	return b.current().History(ctx, channel, req)
}

func (b *faultyBroker) Close() error { return b.current().Close() }

// gapSetup is a server on a faultyBroker, a subscriber of channel whose
// handlers record into got (losses with their positions), and a publisher.
type gapSetup struct {
	b      *faultyBroker
	got    *collector
	pub    *client.Client
	sub    *client.Subscription
	losses *lossLog
}

// lossLog keeps the positions OnRecoveryFailed was given.
type lossLog struct {
	mu  sync.Mutex
	got [][2]client.Position
}

func (l *lossLog) all() [][2]client.Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][2]client.Position(nil), l.got...)
}

func newGapSetup(t *testing.T, channel string, edit func(*rampart.Config)) *gapSetup {
	t.Helper()
	g := &gapSetup{b: newFaultyBroker(t), got: newCollector(), losses: &lossLog{}}
	srv := startServer(t, func(cfg *rampart.Config) {
		cfg.Broker = g.b
		cfg.Channels = append(cfg.Channels,
			policy.Rule{Pattern: "tiny:*", Subscribe: []string{"*"}, Publish: []string{"*"}, History: policy.History{Size: 1}})
		if edit != nil {
			edit(cfg)
		}
	})
	c := srv.dial(t, "sub", client.Config{})
	var err error
	g.sub, err = c.Subscribe(ctxFor(t), channel, g.got.publication, client.OnRecoveryFailed(func(lost, now client.Position) {
		g.losses.mu.Lock()
		g.losses.got = append(g.losses.got, [2]client.Position{lost, now})
		g.losses.mu.Unlock()
		g.got.lost(lost, now)
	}))
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	g.pub = srv.dial(t, "pub", client.Config{})
	return g
}

// publish publishes n publications to channel.
func (g *gapSetup) publish(t *testing.T, channel string, n int) {
	t.Helper()
	for range n {
		if _, err := g.pub.Publish(ctxFor(t), channel, "x"); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
}

// TestGapFilledFromHistory: the node loses live deliveries (its pub/sub
// link dropped them) while history keeps them; the next live publication
// shows the gap and the client fills it from history, paging because
// max_history_limit is 2, before handing on the live one. Nothing is
// reported lost.
func TestGapFilledFromHistory(t *testing.T) {
	const ch = "chat:gap"
	g := newGapSetup(t, ch, func(cfg *rampart.Config) { cfg.Limits.MaxHistoryLimit = 2 })
	g.publish(t, ch, 3)
	g.got.waitPubs(t, 3)
	g.b.loseNext(ch, 5) // offsets 4 to 8 never reach the node
	g.publish(t, ch, 5)
	g.publish(t, ch, 3) // 9 to 11, live
	pubs := g.got.waitPubs(t, 11)
	checkSequence(t, pubs, 1, 11)
	g.publish(t, ch, 1)
	pubs = g.got.waitPubs(t, 12)
	checkSequence(t, pubs, 1, 12)
	if l := g.losses.all(); len(l) != 0 {
		t.Fatalf("OnRecoveryFailed called with %v; history had every publication", l)
	}
	if pos := g.sub.Position(); pos.Offset != 12 {
		t.Fatalf("Position() = %+v, want offset 12", pos)
	}
}

// TestGapNotRecoverable: the node loses ten live deliveries, more than
// the channel's history keeps. What history still has is handed on, the
// rest is reported to OnRecoveryFailed, in order with the publications,
// and delivery goes on.
func TestGapNotRecoverable(t *testing.T) {
	tests := []struct {
		channel   string
		want      []uint64 // offsets handled
		lostUntil uint64   // the loss reported: after 2, up to this offset
	}{
		// history keeps 5: 9 to 13 when 13 arrives; 3 to 8 are gone.
		{"gap:partly", []uint64{1, 2, 9, 10, 11, 12, 13, 14}, 8},
		// history keeps 1: only 13 itself; 3 to 12 are gone.
		{"tiny:all", []uint64{1, 2, 13, 14}, 12},
	}
	for _, tt := range tests {
		t.Run(tt.channel, func(t *testing.T) {
			g := newGapSetup(t, tt.channel, nil)
			g.publish(t, tt.channel, 2)
			g.got.waitPubs(t, 2)
			g.b.loseNext(tt.channel, 10) // 3 to 12
			g.publish(t, tt.channel, 11)
			g.got.waitPubs(t, len(tt.want)-1)
			g.publish(t, tt.channel, 1) // 14: delivery goes on
			pubs := g.got.waitPubs(t, len(tt.want))
			if got := offsets(pubs); !equalOffsets(got, tt.want) {
				t.Fatalf("handled offsets %v, want %v", got, tt.want)
			}
			losses := g.losses.all()
			if len(losses) != 1 {
				t.Fatalf("OnRecoveryFailed called %d times (%v), want once", len(losses), losses)
			}
			lost, now := losses[0][0], losses[0][1]
			epoch := pubs[0].Epoch
			if lost != (client.Position{Offset: 2, Epoch: epoch}) || now != (client.Position{Offset: tt.lostUntil, Epoch: epoch}) {
				t.Fatalf("OnRecoveryFailed(%+v, %+v), want offsets 2 and %d in epoch %s", lost, now, tt.lostUntil, epoch)
			}
			if _, events := g.got.snapshot(); events[2] != "lost" {
				t.Fatalf("events %v: want the loss reported after publication 2 and before the rest", events)
			}
		})
	}
}

// TestEpochChangeOnLivePush: the broker restarts without its history
// while the subscriber stays connected; the next live publication starts
// a new epoch at offset 1. The subscription reports the reset (from the
// last position to the new epoch) and goes on in the new epoch.
func TestEpochChangeOnLivePush(t *testing.T) {
	const ch = "chat:reset"
	g := newGapSetup(t, ch, nil)
	g.publish(t, ch, 3)
	old := g.got.waitPubs(t, 3)[2]
	g.b.restart()
	g.publish(t, ch, 2)
	pubs := g.got.waitPubs(t, 5)
	if got := offsets(pubs); !equalOffsets(got, []uint64{1, 2, 3, 1, 2}) {
		t.Fatalf("handled offsets %v, want 1 2 3 then 1 2 of the new epoch", got)
	}
	fresh := pubs[3].Epoch
	if fresh == old.Epoch || pubs[4].Epoch != fresh {
		t.Fatalf("epochs %q then %q %q: want one new epoch", old.Epoch, fresh, pubs[4].Epoch)
	}
	losses := g.losses.all()
	want := [2]client.Position{{Offset: 3, Epoch: old.Epoch}, {Offset: 0, Epoch: fresh}}
	if len(losses) != 1 || losses[0] != want {
		t.Fatalf("OnRecoveryFailed calls %v, want one with %v", losses, want)
	}
	if _, events := g.got.snapshot(); events[3] != "lost" || events[4] != "pub" {
		t.Fatalf("events %v: want the reset reported before the new epoch's first publication", events)
	}
	if pos := g.sub.Position(); pos != (client.Position{Offset: 2, Epoch: fresh}) {
		t.Fatalf("Position() = %+v, want offset 2 of the new epoch", pos)
	}
}

// TestDuplicatesDropped: the broker delivers publications twice (also
// while a gap is being filled, when the repeats are held); the handler
// sees each offset once.
func TestDuplicatesDropped(t *testing.T) {
	const ch = "chat:twice"
	g := newGapSetup(t, ch, nil)
	g.b.repeatNext(ch, 3)
	g.publish(t, ch, 3)
	g.got.waitPubs(t, 3)
	g.b.loseNext(ch, 2) // 4 and 5
	g.publish(t, ch, 2)
	g.b.repeatNext(ch, 2) // 6 and 7, twice each
	g.publish(t, ch, 2)
	g.got.waitPubs(t, 7)
	g.publish(t, ch, 1)
	// 8 is handled after every repeat before it was read: none slipped in.
	pubs := g.got.waitPubs(t, 8)
	checkSequence(t, pubs, 1, 8)
	if l := g.losses.all(); len(l) != 0 {
		t.Fatalf("OnRecoveryFailed called with %v", l)
	}
}

// TestGapHistoryFails: the history read meant to fill a gap fails (the
// broker is unavailable); the gap is reported lost and delivery goes on.
func TestGapHistoryFails(t *testing.T) {
	const ch = "chat:nohistory"
	g := newGapSetup(t, ch, nil)
	g.publish(t, ch, 2)
	g.got.waitPubs(t, 2)
	g.b.failHistory(ch, 1)
	g.b.loseNext(ch, 3) // 3 to 5
	g.publish(t, ch, 4)
	g.got.waitPubs(t, 3)
	g.publish(t, ch, 1)
	pubs := g.got.waitPubs(t, 4)
	if got := offsets(pubs); !equalOffsets(got, []uint64{1, 2, 6, 7}) {
		t.Fatalf("handled offsets %v, want 1 2 6 7", got)
	}
	e := pubs[0].Epoch
	want := [2]client.Position{{Offset: 2, Epoch: e}, {Offset: 5, Epoch: e}}
	if l := g.losses.all(); len(l) != 1 || l[0] != want {
		t.Fatalf("OnRecoveryFailed calls %v, want one with %v", l, want)
	}
}

// TestGapHeldOverflow: while the history read for a gap is slow, more live
// publications arrive than the subscription holds (3 here). The gap is
// filled, the held ones follow, and the ones not held are reported lost.
func TestGapHeldOverflow(t *testing.T) {
	t.Cleanup(client.SetHeldLimit(3)) // runs after the clients are closed
	const ch = "chat:flood"
	g := newGapSetup(t, ch, nil)
	g.publish(t, ch, 2)
	g.got.waitPubs(t, 2)
	release := g.b.holdHistory(ch)
	g.b.loseNext(ch, 1) // 3
	g.publish(t, ch, 2) // 4 shows the gap
	select {
	case <-g.b.waiting:
	case <-time.After(waitFor):
		t.Fatal("the client did not read history to fill the gap")
	}
	g.publish(t, ch, 3) // 5 and 6 held, 7 not
	eventually(t, "publication 7 to arrive and not be held", func() bool {
		n, dropped := client.Held(g.sub)
		return n == 3 && dropped == 7
	})
	release()
	g.got.waitPubs(t, 6)
	g.publish(t, ch, 1) // 8
	pubs := g.got.waitPubs(t, 7)
	if got := offsets(pubs); !equalOffsets(got, []uint64{1, 2, 3, 4, 5, 6, 8}) {
		t.Fatalf("handled offsets %v, want 1 to 6 and 8", got)
	}
	e := pubs[0].Epoch
	want := [2]client.Position{{Offset: 6, Epoch: e}, {Offset: 7, Epoch: e}}
	if l := g.losses.all(); len(l) != 1 || l[0] != want {
		t.Fatalf("OnRecoveryFailed calls %v, want one with %v", l, want)
	}
	if _, events := g.got.snapshot(); events[6] != "lost" {
		t.Fatalf("events %v: want the loss reported after publication 6", events)
	}
}

func equalOffsets(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
