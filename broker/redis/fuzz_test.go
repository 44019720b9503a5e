package redis

import (
	"testing"

	"github.com/rampart-rt/rampart/broker"
)

// Presence events come from Redis, which any process with access to it
// can write to: decodeEvent must refuse what encodeEvent did not write,
// never panic, and what it accepts must encode to an event that decodes
// the same again.
func FuzzDecodeEvent(f *testing.F) {
	for _, seed := range []string{
		encodeEvent(broker.PresenceEvent{Entry: broker.PresenceEntry{User: "alice", Client: "c1"}}),
		encodeEvent(broker.PresenceEvent{Leave: true, Entry: broker.PresenceEntry{User: "", Client: "c2"}}),
		"join 0\n", "leave 5\nab", "join -1\nx", "join 99999999999999999999\nx", "join +3\nabcdef",
		"join 3abc", "join\n", "", "leave ", "join 2\n\n\n\n",
	} {
		f.Add("chat:a", seed)
	}
	f.Fuzz(func(t *testing.T, channel, payload string) {
		e, ok := decodeEvent(channel, payload)
		if !ok {
			return
		}
		if e.Channel != channel {
			t.Fatalf("decoded channel %q, want %q", e.Channel, channel)
		}
		if len(e.Entry.User)+len(e.Entry.Client) > len(payload) {
			t.Fatalf("decoded %d bytes of user and client from a payload of %d", len(e.Entry.User)+len(e.Entry.Client), len(payload))
		}
		again, ok := decodeEvent(channel, encodeEvent(e))
		if !ok || again != e {
			t.Fatalf("%+v encodes to %q, which decodes to %+v, %t", e, encodeEvent(e), again, ok)
		}
	})
}
