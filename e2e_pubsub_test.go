package rampart

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// publications filters the publication pushes for channel out of msgs.
func publications(msgs []message, channel string) []message {
	var out []message
	for _, m := range msgs {
		if m.Push == "publication" && m.Channel == channel {
			out = append(out, m)
		}
	}
	return out
}

// collectPublications reads from c until n publications on channel arrived,
// keeping any reply it meets in the backlog.
func (c *client) collectPublications(channel string, n int) []message {
	c.t.Helper()
	var out, other []message
	for len(out) < n {
		m := c.next()
		if m.Push == "publication" && m.Channel == channel {
			out = append(out, m)
			continue
		}
		other = append(other, m)
	}
	c.backlog = append(other, c.backlog...)
	return out
}

// checkSequence checks offsets first, first+1, ... in one epoch, with the
// data published as {"n":offset} by user.
func checkSequence(t *testing.T, who string, pubs []message, first uint64, epoch, user string) {
	t.Helper()
	for i, p := range pubs {
		want := first + uint64(i)
		if p.Offset != want || p.Epoch != epoch {
			t.Fatalf("%s: publication %d has offset %d epoch %q, want %d %q", who, i, p.Offset, p.Epoch, want, epoch)
		}
		var d struct{ N uint64 }
		if err := json.Unmarshal(p.Data, &d); err != nil || d.N != want {
			t.Fatalf("%s: publication %d carries %s, want {\"n\":%d}", who, i, p.Data, want)
		}
		if p.Info == nil || p.Info.User != user {
			t.Fatalf("%s: publication %d info %s, want user %q", who, i, p.raw, user)
		}
	}
}

func TestPublishReachesEverySubscriberInOrder(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	alice := srv.dial(t, token(t, "alice"))
	bob := srv.dial(t, token(t, "bob"))
	if alice.welcome.User != "alice" || bob.welcome.User != "bob" || alice.welcome.Client == bob.welcome.Client {
		t.Fatalf("welcomes %s / %s", alice.welcome.raw, bob.welcome.raw)
	}
	ra, rb := alice.subscribe("chat:room"), bob.subscribe("chat:room")
	if ra.Epoch == "" || ra.Epoch != rb.Epoch || ra.Offset != 0 || rb.Offset != 0 || ra.Recovered || len(ra.Publications) != 0 {
		t.Fatalf("subscribe results %+v / %+v", ra, rb)
	}
	const n = 5
	for i := uint64(1); i <= n; i++ {
		if got := alice.publish("chat:room", fmt.Sprintf(`{"n":%d}`, i)); got != i {
			t.Fatalf("publish %d replied offset %d", i, got)
		}
	}
	checkSequence(t, "publisher", alice.collectPublications("chat:room", n), 1, ra.Epoch, "alice")
	checkSequence(t, "other subscriber", bob.collectPublications("chat:room", n), 1, ra.Epoch, "alice")
	for _, c := range []*client{alice, bob} {
		if extra := publications(c.barrier(), "chat:room"); len(extra) != 0 {
			t.Fatalf("duplicate publications: %s", extra[0].raw)
		}
	}
}

// A subscriber that never reads does not delay the others: publishing never
// waits for it, and the well-behaved subscriber gets everything while the
// stalled one's socket buffers are full and its writer blocked. The proof
// is not a clock but an order: the stalled connection's writes could only
// end by its write timeout (a minute, far longer than the test), and it is still
// open, its writer still blocked, when the other has every publication.
func TestSlowReaderDoesNotDelayOthers(t *testing.T) {
	srv := startServer(t, func(c *Config) {
		c.Limits.MaxMessageBytes = 128 << 10
		c.Limits.WriteTimeout = time.Minute
	})
	stalled := srv.dial(t, token(t, "stalled"))
	good := srv.dial(t, token(t, "good"))
	pub := srv.dial(t, token(t, "pub"))
	epoch := stalled.subscribe("chat:fast").Epoch
	good.subscribe("chat:fast")

	const n = 80 // 8 MB: more than the kernel buffers hold for the stalled reader (4 MB of send buffer at most)
	pad := strings.Repeat("x", 100<<10)
	for i := 1; i <= n; i++ {
		pub.send(fmt.Sprintf(`{"id":%d,"action":"publish","channel":"chat:fast","data":{"n":%d,"pad":%q}}`, i, i, pad))
	}
	got := good.collectPublications("chat:fast", n)
	for i, p := range got {
		if p.Offset != uint64(i+1) || p.Epoch != epoch {
			t.Fatalf("publication %d: offset %d epoch %q", i, p.Offset, p.Epoch)
		}
	}
	if !srv.s.reg.writerBlocked(stalled.welcome.Client) {
		t.Fatal("the stalled subscriber's writer is not blocked: the test did not fill its socket")
	}
	for i := 1; i <= n; i++ {
		if m := pub.roundTripNone(); m.Error != nil || m.ID != uint64(i) {
			t.Fatalf("publish reply %d: %s", i, m.raw)
		}
	}
}

// roundTripNone reads the next reply without sending anything.
func (c *client) roundTripNone() message {
	c.t.Helper()
	for {
		m := c.next()
		if m.isReply() {
			return m
		}
	}
}

func TestRecovery(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	pub := srv.dial(t, token(t, "pub"))
	sub := srv.dial(t, token(t, "sub"))

	first := sub.subscribe("chat:rec")
	for i := 1; i <= 2; i++ {
		pub.publish("chat:rec", fmt.Sprintf(`{"n":%d}`, i))
	}
	seen := sub.collectPublications("chat:rec", 2)
	checkSequence(t, "live", seen, 1, first.Epoch, "pub")
	sub.ok("unsubscribe", `"channel":"chat:rec"`)
	for i := 3; i <= 5; i++ {
		pub.publish("chat:rec", fmt.Sprintf(`{"n":%d}`, i))
	}
	if extra := publications(sub.barrier(), "chat:rec"); len(extra) != 0 {
		t.Fatalf("publication after unsubscribe: %s", extra[0].raw)
	}

	r := sub.subscribeSince("chat:rec", fmt.Sprintf(`{"offset":2,"epoch":%q}`, first.Epoch))
	if !r.Recovered || r.Epoch != first.Epoch || r.Offset != 5 || len(r.Publications) != 3 {
		t.Fatalf("recovery result %+v, want recovered publications 3..5 at offset 5", r)
	}
	for i, p := range r.Publications {
		var d struct{ N uint64 }
		_ = json.Unmarshal(p.Data, &d)
		if p.Offset != uint64(3+i) || d.N != p.Offset || p.Info == nil || p.Info.User != "pub" {
			t.Fatalf("recovered publication %d: %+v", i, p)
		}
	}
	pub.publish("chat:rec", `{"n":6}`)
	live := sub.collectPublications("chat:rec", 1)
	checkSequence(t, "after recovery", live, 6, first.Epoch, "pub")
	if extra := publications(sub.barrier(), "chat:rec"); len(extra) != 0 {
		t.Fatalf("publication delivered twice: %s", extra[0].raw)
	}

	// Recovery that cannot succeed still subscribes, with nothing replayed.
	for i := 1; i <= 5; i++ {
		pub.publish("small:rec", fmt.Sprintf(`{"n":%d}`, i))
	}
	var h struct{ Epoch string }
	if err := json.Unmarshal(sub.ok("history", `"channel":"small:rec"`), &h); err != nil || h.Epoch == "" {
		t.Fatalf("history of small:rec: %v %+v", err, h)
	}
	for _, tc := range []struct{ name, channel, since string }{
		{"wrong epoch", "chat:rec", `{"offset":2,"epoch":"not-the-epoch"}`},
		{"gap beyond history", "small:rec", fmt.Sprintf(`{"offset":1,"epoch":%q}`, h.Epoch)},
		{"offset from the future", "small:rec", fmt.Sprintf(`{"offset":99,"epoch":%q}`, h.Epoch)},
	} {
		c := srv.dial(t, token(t, "late"))
		r := c.subscribeSince(tc.channel, tc.since)
		if r.Recovered || len(r.Publications) != 0 || r.Epoch == "" {
			t.Errorf("%s: result %+v, want recovered false and no publications", tc.name, r)
			continue
		}
		pub.publish(tc.channel, `{"n":0}`)
		if got := c.collectPublications(tc.channel, 1); got[0].Offset != r.Offset+1 {
			t.Errorf("%s: subscribed at offset %d, next publication has offset %d", tc.name, r.Offset, got[0].Offset)
		}
	}
}

func TestSubscriptionLimits(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) { c.Limits.MaxSubscriptions = 3 })
	c := srv.dial(t, token(t, "alice"))
	c.subscribe("chat:a")
	c.fails("subscribe", `"channel":"chat:a"`, "already_subscribed")
	c.subscribe("chat:b")
	c.subscribe("chat:c")
	c.fails("subscribe", `"channel":"chat:d"`, "limit_exceeded")
	c.ok("unsubscribe", `"channel":"chat:c"`)
	c.subscribe("chat:d")
}

func TestRateLimitAnswersRateLimited(t *testing.T) {
	t.Parallel()
	const burst = 4
	srv := startServer(t, func(c *Config) {
		c.Limits.Burst = burst
		c.Limits.MessagesPerMinute = 1 // no refill during the test
	})
	c := srv.dial(t, token(t, "alice"))
	for i := 1; i <= burst+5; i++ {
		c.send(fmt.Sprintf(`{"id":%d,"action":"ping"}`, i))
	}
	results, limited := 0, 0
	for i := 1; i <= burst+5; i++ {
		m := c.roundTripNone()
		if m.ID != uint64(i) {
			t.Fatalf("reply %d carries id %d: %s", i, m.ID, m.raw)
		}
		switch {
		case m.Error == nil && string(m.Result) == "{}":
			results++
		case m.Error != nil && m.Error.Code == "rate_limited" && m.Error.RetryAfterMS > 0 && m.Error.RequestID != "":
			limited++
		default:
			t.Fatalf("unexpected reply %s", m.raw)
		}
	}
	if results != burst || limited != 5 {
		t.Fatalf("%d results and %d rate_limited, want %d and 5", results, limited, burst)
	}
}
