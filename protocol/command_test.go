package protocol

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseCommandAccepts(t *testing.T) {
	tests := []struct {
		frame string
		check func(Command) bool
	}{
		{`{"id":1,"action":"ping"}`, func(c Command) bool { return c.ID == 1 && c.Action == ActionPing }},
		{`{"id":2,"action":"subscribe","channel":"news:a"}`, func(c Command) bool { return c.Channel == "news:a" && c.Since == nil }},
		{`{"id":3,"action":"subscribe","channel":"a","since":{"offset":4,"epoch":"e"}}`, func(c Command) bool { return c.Since.Offset == 4 && c.Since.Epoch == "e" }},
		{`{"id":4,"action":"publish","channel":"a","data":null}`, func(c Command) bool { return string(c.Data) == "null" }},
		{`{"id":5,"action":"publish","channel":"a","data":{"x":[1,{"y":"z"}]}}`, func(c Command) bool { return strings.Contains(string(c.Data), `"y"`) }},
		{`{"id":6,"action":"history","channel":"a","limit":0}`, func(c Command) bool { return c.Limit != nil && *c.Limit == 0 }},
		{`{"id":7,"action":"refresh","token":"t.t.t"}`, func(c Command) bool { return c.Token == "t.t.t" }},
		{`{"id":8,"action":"rpc","method":"read_data"}`, func(c Command) bool { return c.Method == "read_data" && c.Data == nil }},
		{`{"id":9,"action":"presence","channel":"` + strings.Repeat("a", 128) + `"}`, func(c Command) bool { return len(c.Channel) == 128 }},
	}
	for _, tt := range tests {
		c, err := ParseCommand([]byte(tt.frame))
		if err != nil {
			t.Errorf("%s: %v", tt.frame, err)
			continue
		}
		if !tt.check(c) {
			t.Errorf("%s: parsed as %+v", tt.frame, c)
		}
	}
}

func TestParseCommandRefuses(t *testing.T) {
	deep := `{"id":1,"action":"publish","channel":"a","data":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}`
	tests := []struct {
		frame  string
		id     uint64
		reason string
	}{
		{`not json`, 0, "invalid JSON"},
		{`[1,2]`, 0, "frame must be a JSON object"},
		{`{"id":1,"action":"ping","extra":1}`, 1, "unknown field"},
		{`{"id":1,"action":"fly"}`, 1, "unknown action"},
		{`{"id":1,"id":2,"action":"ping"}`, 2, "duplicate key"},
		{`{"id":3,"action":"publish","channel":"a","data":{"k":1,"k":2}}`, 3, "duplicate key"},
		{deep, 1, "nesting deeper than 32"},
		{`{"action":"ping"}`, 0, "id must be a positive integer"},
		{`{"id":0,"action":"ping"}`, 0, "id must be a positive integer"},
		{`{"id":-1,"action":"ping"}`, 0, "wrong type at /id"},
		{`{"id":"1","action":"ping"}`, 0, "wrong type at /id"},
		{`{"id":1.5,"action":"ping"}`, 0, "wrong type at /id"},
		{`{"id":1,"action":"subscribe","channel":5}`, 1, "wrong type at /channel"},
		{`{"id":1,"action":"subscribe","channel":""}`, 1, `field "channel" is required`},
		{`{"id":1,"action":"subscribe","channel":"` + strings.Repeat("a", 129) + `"}`, 1, "invalid channel name"},
		{`{"id":1,"action":"subscribe","channel":"a/b"}`, 1, "invalid channel name"},
		{`{"id":1,"action":"subscribe","channel":"a b"}`, 1, "invalid channel name"},
		{`{"id":1,"action":"subscribe","channel":"é"}`, 1, "invalid channel name"},
		{`{"id":1,"action":"subscribe","channel":"a","data":1}`, 1, `field "data" is not taken by subscribe`},
		{`{"id":1,"action":"publish","channel":"a"}`, 1, `field "data" is required`},
		{`{"id":1,"action":"history","channel":"a","limit":-1}`, 1, "limit must not be negative"},
		{`{"id":1,"action":"rpc","method":"a b"}`, 1, "invalid method name"},
	}
	for _, tt := range tests {
		_, err := ParseCommand([]byte(tt.frame))
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%.60s: want *ParseError, got %v", tt.frame, err)
			continue
		}
		if pe.ID != tt.id || !strings.Contains(pe.Reason, tt.reason) {
			t.Errorf("%.60s: got id %d %q, want id %d %q", tt.frame, pe.ID, pe.Reason, tt.id, tt.reason)
		}
	}
}

func TestEncoders(t *testing.T) {
	got := string(EncodePublication("ch", 3, "e", []byte(`{"a":1}`), `u"x`))
	want := `{"push":"publication","channel":"ch","offset":3,"epoch":"e","data":{"a":1},"info":{"user":"u\"x"}}`
	if got != want {
		t.Fatalf("publication:\n got %s\nwant %s", got, want)
	}
	if got := string(EncodeError(0, Error{Code: CodeBadRequest, Message: "m", RequestID: "r"})); got != `{"error":{"code":"bad_request","message":"m","request_id":"r"}}` {
		t.Fatalf("error without id: %s", got)
	}
	if got := string(EncodeError(7, Error{Code: CodeRateLimited, Message: "m", RequestID: "r", RetryAfterMS: 5})); !strings.Contains(got, `"id":7`) || !strings.Contains(got, `"retry_after_ms":5`) {
		t.Fatalf("rate limited: %s", got)
	}
}

// FuzzParseCommand feeds arbitrary frames, also split the way a client
// could send them, and checks the parser never panics, never accepts what
// it must refuse, and never echoes input in its reasons.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"action":"ping"}`,
		`{"id":2,"action":"publish","channel":"a","data":{"x":[1,"<b>"]}}`,
		`{"id":3,"action":"subscribe","channel":"a","since":{"offset":1,"epoch":"e"}}`,
		`{"id":1,"id":1}`, `[[[[`, `{"id":1,"action":"refresh","token":"a.b.c"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		c, err := ParseCommand(frame)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error of type %T", err)
			}
			if len(pe.Reason) > 120 || !utf8.ValidString(pe.Reason) && utf8.Valid(frame) {
				t.Fatalf("reason too long or not text: %q", pe.Reason)
			}
			return
		}
		if c.ID == 0 || depth(frame) > MaxDepth {
			t.Fatalf("accepted %q", frame)
		}
		if _, ok := fields[c.Action]; !ok {
			t.Fatalf("accepted unknown action %q", c.Action)
		}
		if c.Channel != "" && !ValidChannel(c.Channel) {
			t.Fatalf("accepted channel %q", c.Channel)
		}
	})
}

// The parser takes exactly the actions Actions lists.
func TestParserTakesEveryListedAction(t *testing.T) {
	var parsed []string
	for a := range fields {
		parsed = append(parsed, a)
	}
	slices.Sort(parsed)
	listed := slices.Sorted(slices.Values(Actions))
	if !slices.Equal(parsed, listed) {
		t.Fatalf("the parser takes %v, Actions lists %v", parsed, listed)
	}
}
