package brokertest

import (
	"slices"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/broker"
)

// RunPresence runs the presence suite. newPair returns two brokers on one
// backend, as two nodes would use it (the same one twice for a single-node
// backend), not Run yet; both must implement broker.Presence. The suite
// closes them.
func RunPresence(t *testing.T, newPair func(t *testing.T) (a, b broker.Broker)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b broker.Presence)
	}{
		{"AddListRemove", testPresenceAddListRemove},
		{"ChannelsApart", testPresenceChannelsApart},
		{"Expiry", testPresenceExpiry},
		{"TwoNodes", testPresenceTwoNodes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newPair(t)
			start(t, a)
			if b != a {
				start(t, b)
			}
			pa, ok1 := a.(broker.Presence)
			pb, ok2 := b.(broker.Presence)
			if !ok1 || !ok2 {
				t.Fatalf("%T does not implement broker.Presence", a)
			}
			tc.fn(t, pa, pb)
		})
	}
}

func entry(user, client string) broker.PresenceEntry {
	return broker.PresenceEntry{User: user, Client: client}
}

func mustAdd(t *testing.T, p broker.Presence, ch string, e broker.PresenceEntry, ttl time.Duration) {
	t.Helper()
	if err := p.AddPresence(ctxT(t), ch, e, ttl); err != nil {
		t.Fatalf("AddPresence(%q, %+v): %v", ch, e, err)
	}
}

func mustRemove(t *testing.T, p broker.Presence, ch, client string) {
	t.Helper()
	if err := p.RemovePresence(ctxT(t), ch, client); err != nil {
		t.Fatalf("RemovePresence(%q, %q): %v", ch, client, err)
	}
}

func mustPresence(t *testing.T, p broker.Presence, ch string) []broker.PresenceEntry {
	t.Helper()
	got, err := p.Presence(ctxT(t), ch)
	if err != nil {
		t.Fatalf("Presence(%q): %v", ch, err)
	}
	return got
}

func checkPresence(t *testing.T, what string, got []broker.PresenceEntry, want ...broker.PresenceEntry) {
	t.Helper()
	if len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
		t.Fatalf("%s: presence = %+v, want %+v", what, got, want)
	}
}

// waitPresence polls until the channel's presence is exactly want.
func waitPresence(t *testing.T, p broker.Presence, ch, what string, want ...broker.PresenceEntry) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		got := mustPresence(t, p, ch)
		if len(got) == len(want) && (len(want) == 0 || slices.Equal(got, want)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: presence still %+v after %v, want %+v", what, got, waitFor, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func testPresenceAddListRemove(t *testing.T, p, _ broker.Presence) {
	ch := channelName(t)
	checkPresence(t, "new channel", mustPresence(t, p, ch))
	// Added out of order, with characters a careless encoding would mangle.
	mustAdd(t, p, ch, entry("zoé", "c-3"), time.Minute)
	mustAdd(t, p, ch, entry("alice", "c-9"), time.Minute)
	mustAdd(t, p, ch, entry("alice", "c-1"), time.Minute)
	mustAdd(t, p, ch, entry("bob \"b\" .>*", "c.2 x"), time.Minute)
	checkPresence(t, "after 4 adds", mustPresence(t, p, ch),
		entry("alice", "c-1"), entry("alice", "c-9"), entry("bob \"b\" .>*", "c.2 x"), entry("zoé", "c-3"))

	mustAdd(t, p, ch, entry("alice", "c-9"), time.Minute) // adding again changes nothing
	mustRemove(t, p, ch, "c-1")
	mustRemove(t, p, ch, "never-added") // not an error
	checkPresence(t, "after removing c-1", mustPresence(t, p, ch),
		entry("alice", "c-9"), entry("bob \"b\" .>*", "c.2 x"), entry("zoé", "c-3"))
	for _, c := range []string{"c-9", "c.2 x", "c-3"} {
		mustRemove(t, p, ch, c)
	}
	checkPresence(t, "after removing all", mustPresence(t, p, ch))
}

func testPresenceChannelsApart(t *testing.T, p, _ broker.Presence) {
	chA, chB := channelName(t), channelName(t)
	mustAdd(t, p, chA, entry("u1", "c1"), time.Minute)
	mustAdd(t, p, chB, entry("u2", "c2"), time.Minute)
	checkPresence(t, "channel A", mustPresence(t, p, chA), entry("u1", "c1"))
	checkPresence(t, "channel B", mustPresence(t, p, chB), entry("u2", "c2"))
	mustRemove(t, p, chA, "c2") // another channel's client: nothing happens
	checkPresence(t, "channel B after removing its client from A", mustPresence(t, p, chB), entry("u2", "c2"))
}

// testPresenceExpiry: an entry not added again vanishes after its TTL; one
// added again in time stays.
func testPresenceExpiry(t *testing.T, p, _ broker.Presence) {
	ch := channelName(t)
	const ttl = time.Second
	mustAdd(t, p, ch, entry("gone", "c-gone"), ttl)
	mustAdd(t, p, ch, entry("kept", "c-kept"), ttl)
	checkPresence(t, "before the TTL", mustPresence(t, p, ch), entry("gone", "c-gone"), entry("kept", "c-kept"))
	deadline := time.Now().Add(6 * time.Second)
	for {
		mustAdd(t, p, ch, entry("kept", "c-kept"), ttl)
		got := mustPresence(t, p, ch)
		if slices.Equal(got, []broker.PresenceEntry{entry("kept", "c-kept")}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("presence %+v 6s after a 1s TTL, want only the refreshed entry", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Stop refreshing: it goes too.
	deadline = time.Now().Add(6 * time.Second)
	for len(mustPresence(t, p, ch)) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("presence %+v 6s after the last refresh with a 1s TTL", mustPresence(t, p, ch))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// testPresenceTwoNodes: each node sees the other's entries and can remove
// them (a connection's entry is removed by whichever node learns it left).
func testPresenceTwoNodes(t *testing.T, a, b broker.Presence) {
	ch := channelName(t)
	mustAdd(t, a, ch, entry("ua", "ca"), time.Minute)
	mustAdd(t, b, ch, entry("ub", "cb"), time.Minute)
	want := []broker.PresenceEntry{entry("ua", "ca"), entry("ub", "cb")}
	waitPresence(t, a, ch, "read on a", want...)
	waitPresence(t, b, ch, "read on b", want...)
	mustRemove(t, b, ch, "ca")
	waitPresence(t, a, ch, "read on a after b removed ca", entry("ub", "cb"))
}
