package rampart

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// secretMark is put in values the server must never echo.
const secretMark = "s3cr3t"

// Every malformed command is answered bad_request with the exact error
// shape, and the connection stays usable.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	c := srv.dial(t, token(t, "alice"))
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	const noID = 0
	cases := []struct {
		name  string
		frame string
		id    uint64 // echoed id; noID: the reply carries none
	}{
		{"invalid JSON", `{"id":1,"action":"ping"`, noID},
		{"trailing garbage", `{"id":1,"action":"ping"} x`, noID},
		{"array, not an object", `[1,2,3]`, noID},
		{"string, not an object", `"ping"`, noID},
		{"number, not an object", `42`, noID},
		{"null", `null`, noID},
		{"unknown top-level field", `{"id":3,"action":"ping","extra":"` + secretMark + `"}`, 3},
		{"unknown action", `{"id":4,"action":"` + secretMark + `"}`, 4},
		{"action of the wrong type", `{"id":4,"action":1}`, 4},
		{"duplicate key at top level", `{"id":5,"action":"ping","action":"ping"}`, 5},
		{"duplicate id", `{"id":5,"id":5,"action":"ping"}`, 5},
		{"duplicate key inside data", `{"id":6,"action":"publish","channel":"chat:a","data":{"x":1,"x":2}}`, 6},
		{"duplicate key deep inside data", `{"id":6,"action":"publish","channel":"chat:a","data":[{"a":{"b":1,"b":"` + secretMark + `"}}]}`, 6},
		{"id missing", `{"action":"ping"}`, noID},
		{"id 0", `{"id":0,"action":"ping"}`, noID},
		{"id negative", `{"id":-1,"action":"ping"}`, noID},
		{"id string", `{"id":"7","action":"ping"}`, noID},
		{"id float", `{"id":1.5,"action":"ping"}`, noID},
		{"id over uint64", `{"id":18446744073709551616,"action":"ping"}`, noID},
		{"channel of the wrong type", `{"id":8,"action":"subscribe","channel":8}`, 8},
		{"channel empty", `{"id":9,"action":"subscribe","channel":""}`, 9},
		{"channel of 129 characters", `{"id":10,"action":"subscribe","channel":"chat:` + strings.Repeat("a", 124) + `"}`, 10},
		{"channel with a slash", `{"id":11,"action":"subscribe","channel":"a/b"}`, 11},
		{"channel with a space", `{"id":12,"action":"subscribe","channel":"chat:` + secretMark + ` x"}`, 12},
		{"channel with unicode", `{"id":13,"action":"subscribe","channel":"chat:café"}`, 13},
		{"channel with an escaped NUL", `{"id":13,"action":"subscribe","channel":"chat:a\u0000"}`, 13},
		{"data on subscribe", `{"id":14,"action":"subscribe","channel":"chat:a","data":1}`, 14},
		{"channel on ping", `{"id":14,"action":"ping","channel":"chat:a"}`, 14},
		{"token on publish", `{"id":14,"action":"publish","channel":"chat:a","data":1,"token":"` + secretMark + `"}`, 14},
		{"publish without data", `{"id":15,"action":"publish","channel":"chat:a"}`, 15},
		{"subscribe without channel", `{"id":15,"action":"subscribe"}`, 15},
		{"refresh without token", `{"id":15,"action":"refresh"}`, 15},
		{"since of the wrong type", `{"id":16,"action":"subscribe","channel":"chat:a","since":"` + secretMark + `"}`, 16},
		{"unknown field inside since", `{"id":16,"action":"subscribe","channel":"chat:a","since":{"offset":1,"epoch":"e","x":1}}`, 16},
		{"negative limit", `{"id":17,"action":"history","channel":"chat:a","limit":-1}`, 17},
		{"limit of the wrong type", `{"id":17,"action":"history","channel":"chat:a","limit":"10"}`, 17},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			checkBadRequest(t, c.roundTrip(tc.frame), tc.id, false)
			c.checkUsable()
		})
	}
	// Nesting: 32 levels with the frame itself are fine, 33 levels in data
	// are not. The reply may leave the id out: the server does not parse a
	// frame that deep even to read its id.
	t.Run("nesting 31 deep inside data is accepted", func(t *testing.T) {
		c.t = t
		c.publish("chat:a", deep(31))
	})
	t.Run("nesting 33 deep inside data", func(t *testing.T) {
		c.t = t
		frame := fmt.Sprintf(`{"id":20,"action":"publish","channel":"chat:a","data":%s}`, deep(33))
		checkBadRequest(t, c.roundTrip(frame), 20, true)
		c.checkUsable()
	})
	t.Run("nesting 10000 deep inside data", func(t *testing.T) {
		c.t = t
		frame := fmt.Sprintf(`{"id":21,"action":"publish","channel":"chat:a","data":%s}`, deep(5000))
		checkBadRequest(t, c.roundTrip(frame), 21, true)
		c.checkUsable()
	})
	t.Run("channel of 128 characters is accepted", func(t *testing.T) {
		c.t = t
		c.subscribe("chat:" + strings.Repeat("a", 123))
	})
}

// checkBadRequest checks the exact shape
// {"id":n,"error":{"code":"bad_request","message":...,"request_id":...}},
// without "id" when id is 0 (or, with idOptional, either way).
func checkBadRequest(t *testing.T, m message, id uint64, idOptional bool) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(m.raw, &top); err != nil {
		t.Fatalf("reply %s: %v", m.raw, err)
	}
	wantKeys := 2
	_, hasID := top["id"]
	switch {
	case idOptional && !hasID, id == 0:
		wantKeys = 1
	}
	if len(top) != wantKeys || top["error"] == nil {
		t.Fatalf("reply %s: want exactly id (%d) and error", m.raw, id)
	}
	if wantKeys == 2 && string(top["id"]) != fmt.Sprint(id) {
		t.Fatalf("reply %s: id %s, want %d", m.raw, top["id"], id)
	}
	var e map[string]any
	if err := json.Unmarshal(top["error"], &e); err != nil {
		t.Fatalf("error object %s: %v", top["error"], err)
	}
	msg, _ := e["message"].(string)
	rid, _ := e["request_id"].(string)
	if len(e) != 3 || e["code"] != "bad_request" || msg == "" || rid == "" {
		t.Fatalf(`error %s: want exactly {"code":"bad_request","message":...,"request_id":...}`, top["error"])
	}
	if strings.Contains(msg, secretMark) {
		t.Fatalf("message %q echoes a value from the frame", msg)
	}
}

// checkUsable: a ping still gets exactly {"id":n,"result":{}}.
func (c *client) checkUsable() {
	c.t.Helper()
	c.lastID++
	frame := fmt.Sprintf(`{"id":%d,"action":"ping"}`, c.lastID)
	if m := c.roundTrip(frame); string(m.raw) != fmt.Sprintf(`{"id":%d,"result":{}}`, c.lastID) {
		c.t.Fatalf("ping after a bad request got %s", m.raw)
	}
}
