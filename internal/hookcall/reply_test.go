package hookcall

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/rampart-rt/rampart/hooks"
	"github.com/rampart-rt/rampart/protocol"
)

func TestDecodeConnectReply(t *testing.T) {
	cases := []struct {
		raw string
		ok  bool
	}{
		{`{"result":"allow"}`, true},
		{`{"result":"allow","roles":["editor"],"info":{"a":1}}`, true},
		{`{"result":"allow","info":null}`, true},
		{`{"result":"deny","code":"unauthorized"}`, true},
		{`{"result":"deny","code":"not_found"}`, false}, // not a connect code
		{`{"result":"deny","roles":["x"]}`, false},
		{`{"result":"allow","code":"forbidden"}`, false},
		{`{"result":"allow","info":[1]}`, false},
		{`{"result":"allow","info":"x"}`, false},
		{`{"result":"allow","roles":["bad role"]}`, false},
		{`{"result":"allow","roles":["self"]}`, false},
		{`{"Result":"allow"}`, false},
		{`{"result":"allow","extra":1}`, false},
		{`{"result":"allow","result":"allow"}`, false},
		{`{"result":"allow"} {}`, false},
		{`[]`, false},
		{`{"result":"allow","info":{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}}`, false},
		{`{"result":"allow","info":{"a":"` + strings.Repeat("x", maxInfoBytes) + `"}}`, false},
	}
	for _, c := range cases {
		var rep hooks.ConnectReply
		err := decodeReply([]byte(c.raw), &rep)
		if err == nil {
			err = checkConnect(&rep)
		}
		if (err == nil) != c.ok {
			t.Errorf("%.80s: error %v, want ok=%v", c.raw, err, c.ok)
		}
	}
}

// FuzzDecodeReply feeds arbitrary replies to every hook's decoder: none
// panics, and a reply that passes holds only what a reply may hold.
func FuzzDecodeReply(f *testing.F) {
	for _, s := range []string{`{"result":"allow"}`, `{"result":"deny","code":"forbidden"}`,
		`{"result":"allow","roles":["a"],"info":{"k":[1,{"x":null}]}}`, `{"result":"allow","data":{"t":"<b>"}}`,
		`{"result":"allow","result":"deny"}`, `{"result":"allow","info":{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var c hooks.ConnectReply
		if decodeReply(raw, &c) == nil && checkConnect(&c) == nil {
			if c.Result != hooks.Allow && c.Result != hooks.Deny || len(c.Roles) > maxAddedRoles || len(c.Info) > maxInfoBytes {
				t.Fatalf("accepted %q", raw)
			}
			if c.Info != nil && jsontext.Value(c.Info).Kind() != '{' {
				t.Fatalf("accepted info that is not an object: %q", raw)
			}
		}
		var s hooks.SubscribeReply
		if decodeReply(raw, &s) == nil && checkResult(s.Result, s.Code, commandCodes) == nil {
			if _, code := replyResult(&s); s.Result == hooks.Deny && !slices.Contains(protocol.Codes, code) {
				t.Fatalf("accepted code %q", code)
			}
		}
		var p hooks.PublishReply
		if decodeReply(raw, &p) == nil && checkPublish(&p) == nil && p.Data != nil && !jsontext.Value(p.Data).IsValid() {
			t.Fatalf("accepted invalid data: %q", raw)
		}
	})
}

func TestBackoff(t *testing.T) {
	for attempt := 1; attempt < 70; attempt++ {
		d := backoff(100*time.Millisecond, attempt)
		want := min(100*time.Millisecond<<min(attempt-1, 20), maxBackoff)
		if d < want/2 || d > want {
			t.Fatalf("attempt %d: %s, want between %s and %s", attempt, d, want/2, want)
		}
	}
}
