package rampart

import (
	"encoding/json"
	"fmt"
	"testing"
)

// noPublications fails when msgs hold a publication on channel.
func noPublications(t *testing.T, who string, msgs []message, channel string) {
	t.Helper()
	if p := publications(msgs, channel); len(p) != 0 {
		t.Fatalf("%s received a publication on %s it may not see: %s", who, channel, p[0].raw)
	}
}

func TestChannelRulesDeny(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	admin := srv.dial(t, token(t, "root", "admin"))
	reader := srv.dial(t, token(t, "reader", "user"))
	guest := srv.dial(t, token(t, "guest", "guest"))
	nobody := srv.dial(t, token(t, "nobody")) // no roles claim at all

	reader.subscribe("news:a")
	for _, c := range []*client{guest, nobody} {
		c.fails("subscribe", `"channel":"news:a"`, "forbidden")
		c.fails("history", `"channel":"news:a"`, "forbidden")
		c.fails("publish", `"channel":"news:a","data":1`, "forbidden")
	}
	// A channel no rule matches is denied to everyone.
	admin.fails("subscribe", `"channel":"other:a"`, "forbidden")
	admin.fails("publish", `"channel":"other:a","data":1`, "forbidden")

	// reader may subscribe and read history, not publish.
	reader.fails("publish", `"channel":"news:a","data":1`, "forbidden")
	if off := admin.publish("news:a", `{"n":1}`); off != 1 {
		t.Fatalf("admin publish offset %d", off)
	}
	checkSequence(t, "reader", reader.collectPublications("news:a", 1), 1, publicationsEpoch(t, reader, "news:a"), "root")
	var h struct {
		Publications []json.RawMessage `json:"publications"`
		Offset       uint64            `json:"offset"`
	}
	if err := json.Unmarshal(reader.ok("history", `"channel":"news:a"`), &h); err != nil || len(h.Publications) != 1 || h.Offset != 1 {
		t.Fatalf("reader history: %v %+v", err, h)
	}
	noPublications(t, "guest", guest.barrier(), "news:a")
	noPublications(t, "nobody", nobody.barrier(), "news:a")
	noPublications(t, "reader", reader.barrier(), "news:a") // exactly one, already read
}

// publicationsEpoch reads the channel's epoch through history.
func publicationsEpoch(t *testing.T, c *client, channel string) string {
	t.Helper()
	var h struct{ Epoch string }
	if err := json.Unmarshal(c.ok("history", fmt.Sprintf(`"channel":%q,"limit":0`, channel)), &h); err != nil || h.Epoch == "" {
		t.Fatalf("history of %s: %v", channel, err)
	}
	return h.Epoch
}

func TestPersonalChannels(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	alice := srv.dial(t, token(t, "alice", "user", "admin"))
	bob := srv.dial(t, token(t, "bob", "user"))

	alice.subscribe("user:alice")
	alice.fails("subscribe", `"channel":"user:bob"`, "forbidden")
	alice.fails("publish", `"channel":"user:bob","data":1`, "forbidden")
	alice.fails("history", `"channel":"user:bob"`, "forbidden")
	bob.fails("subscribe", `"channel":"user:alice"`, "forbidden")
	bob.fails("subscribe", `"channel":"user:alicex"`, "forbidden")
	bob.subscribe("user:bob")

	alice.publish("user:alice", `{"n":1}`)
	bob.publish("user:bob", `{"n":1}`)
	if p := alice.collectPublications("user:alice", 1); p[0].Info == nil || p[0].Info.User != "alice" {
		t.Fatalf("alice's own channel: %s", p[0].raw)
	}
	noPublications(t, "alice", alice.barrier(), "user:bob")
	noPublications(t, "bob", bob.collectAndBarrier("user:bob", 1), "user:alice")
}

// collectAndBarrier reads n publications on channel, then returns what else
// arrived before a ping's reply.
func (c *client) collectAndBarrier(channel string, n int) []message {
	c.t.Helper()
	c.collectPublications(channel, n)
	return c.barrier()
}

// A refresh whose roles no longer allow a subscription ends it with an
// unsubscribe push, and nothing more arrives on that channel.
func TestRefreshRemovesSubscriptions(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	admin := srv.dial(t, token(t, "root", "admin"))
	alice := srv.dial(t, token(t, "alice", "user"))
	alice.subscribe("news:a")
	alice.subscribe("chat:a")
	admin.publish("news:a", `{"n":1}`)
	alice.collectPublications("news:a", 1)

	m := alice.call("refresh", fmt.Sprintf(`"token":%q`, token(t, "alice", "guest")))
	if m.Error != nil {
		t.Fatalf("refresh: %s", m.raw)
	}
	var pushes []message
	for _, p := range append(alice.backlog, alice.barrier()...) {
		if p.Push == "unsubscribe" {
			pushes = append(pushes, p)
		}
	}
	alice.backlog = nil
	if len(pushes) != 1 || pushes[0].Channel != "news:a" || pushes[0].Reason == "" {
		t.Fatalf("want one unsubscribe push for news:a with a reason, got %+v", pushes)
	}

	admin.publish("news:a", `{"n":2}`)
	admin.publish("chat:a", `{"n":1}`)
	got := alice.collectPublications("chat:a", 1) // chat:a is still allowed
	noPublications(t, "alice", append(got, alice.barrier()...), "news:a")
	alice.fails("subscribe", `"channel":"news:a"`, "forbidden")
	alice.fails("unsubscribe", `"channel":"news:a"`, "not_found")
}
