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
