package brokertest

import (
	"slices"
	"testing"

	"github.com/rampart-rt/rampart/broker"
)

// testIdempotentPublish: a publish repeated with the same idempotency key
// (a client's retry after an unknown outcome) is stored and delivered
// once, and the retry gets the first one's position; keys are per channel.
func testIdempotentPublish(t *testing.T, b broker.Broker) {
	r := start(t, b)
	ch, other := channelName(t), channelName(t)
	mustSubscribe(t, b, ch)
	withKey := keep
	withKey.IdempotencyKey = "k-0123456789abcdef"
	first := mustPublish(t, b, ch, payload(1), withKey)
	again := mustPublish(t, b, ch, payload(99), withKey) // the retry's data is not stored either
	if again != first {
		t.Fatalf("retry with the same key got %+v, want the first one's %+v", again, first)
	}
	if p := mustPublish(t, b, other, payload(1), withKey); p.Offset != 1 {
		t.Fatalf("the same key on another channel got %+v, want its own offset 1", p)
	}
	second := mustPublish(t, b, ch, payload(2), keep)
	if second.Offset != first.Offset+1 || second.Epoch != first.Epoch {
		t.Fatalf("next publish at %+v, want offset %d", second, first.Offset+1)
	}
	third := keep
	third.IdempotencyKey = "k-another-key"
	mustPublish(t, b, ch, payload(3), third)
	got := r.waitCount(t, ch, 3)
	if !slices.Equal(offsets(got), []uint64{1, 2, 3}) || string(got[0].Data) != payload(1) {
		t.Fatalf("delivered offsets %v (first data %s), want 1 2 3 with the first publish's data", offsets(got), got[0].Data)
	}
	pubs, _ := mustHistory(t, b, ch, broker.HistoryRequest{Limit: -1})
	if !slices.Equal(offsets(pubs), []uint64{1, 2, 3}) {
		t.Fatalf("history offsets %v, want 1 2 3", offsets(pubs))
	}
}
