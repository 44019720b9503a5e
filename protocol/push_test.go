package protocol

import (
	"testing"

	"github.com/go-json-experiment/json"
)

// TestPushTypesMatchEncoders: what the encoders write decodes into the push
// types with no field left over, and back to the same values.
func TestPushTypesMatchEncoders(t *testing.T) {
	strict := json.RejectUnknownMembers(true)
	var pub PublicationPush
	if err := json.Unmarshal(EncodePublication("ch", 3, "e", []byte(`{"a":1}`), "u"), &pub, strict); err != nil {
		t.Fatalf("publication: %v", err)
	}
	if pub.Push != PushPublication || pub.Channel != "ch" || pub.Offset != 3 || pub.Epoch != "e" ||
		string(pub.Data) != `{"a":1}` || pub.Info == nil || pub.Info.User != "u" {
		t.Fatalf("publication decoded as %+v", pub)
	}
	pub = PublicationPush{}
	if err := json.Unmarshal(EncodePublication("ch", 4, "e", []byte(`null`), ""), &pub, strict); err != nil || pub.Info != nil {
		t.Fatalf("publication by the server: %+v, %v", pub, err)
	}
	var ref RefreshRequiredPush
	if err := json.Unmarshal(EncodeRefreshRequired(1234), &ref, strict); err != nil || ref.Push != PushRefreshRequired || ref.ExpiresAt != 1234 {
		t.Fatalf("refresh_required: %+v, %v", ref, err)
	}
	var sub SubscribePush
	if err := json.Unmarshal(EncodeSubscribe("ch", 7, "e"), &sub, strict); err != nil ||
		sub != (SubscribePush{Push: PushSubscribe, Channel: "ch", Offset: 7, Epoch: "e"}) {
		t.Fatalf("subscribe: %+v, %v", sub, err)
	}
	var unsub UnsubscribePush
	if err := json.Unmarshal(EncodeUnsubscribe("ch", "why"), &unsub, strict); err != nil ||
		unsub.Push != PushUnsubscribe || unsub.Channel != "ch" || unsub.Reason != "why" {
		t.Fatalf("unsubscribe: %+v, %v", unsub, err)
	}
}

// TestJoinLeaveEncoders: join and leave pushes decode into JoinLeavePush
// with every client, quoted safely; presence_changed into its type.
func TestJoinLeaveEncoders(t *testing.T) {
	strict := json.RejectUnknownMembers(true)
	clients := []PresenceEntry{{User: `a"b`, Client: "c1"}, {User: "u\u2028", Client: "c2"}}
	for _, push := range []string{PushJoin, PushLeave} {
		var got JoinLeavePush
		if err := json.Unmarshal(EncodeJoinLeave(push, "ch", clients), &got, strict); err != nil {
			t.Fatalf("%s: %v", push, err)
		}
		if got.Push != push || got.Channel != "ch" || len(got.Clients) != 2 || got.Clients[0] != clients[0] || got.Clients[1] != clients[1] {
			t.Fatalf("%s decoded as %+v", push, got)
		}
	}
	var empty JoinLeavePush
	if err := json.Unmarshal(EncodeJoinLeave(PushJoin, "ch", nil), &empty, strict); err != nil || empty.Clients == nil {
		t.Fatalf("an empty list: %+v, %v", empty, err)
	}
	var pc PresenceChangedPush
	if err := json.Unmarshal(EncodePresenceChanged("ch"), &pc, strict); err != nil || pc != (PresenceChangedPush{Push: PushPresenceChanged, Channel: "ch"}) {
		t.Fatalf("presence_changed: %+v, %v", pc, err)
	}
}
