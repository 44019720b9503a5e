package rampart

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-rt/rampart/policy"
)

// End-to-end tests of the message-level defences: channel schemas and HTML
// sanitizing, over the WebSocket and over the HTTP API.

const payloadSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "text": {"type": "string", "maxLength": 40},
    "n":    {"type": "integer", "minimum": 0},
    "kind": {"enum": ["a", "b"]},
    "code": {"type": "string", "pattern": "^[a-z]+$"}
  },
  "required": ["text"],
  "additionalProperties": false
}`

// writeSchema writes a schema file into a fresh directory.
func writeSchema(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// payloadServer serves "form:*" (schema), "html:*" (sanitizing) and
// "both:*" (schema, then sanitizing), with API keys.
func payloadServer(t *testing.T, edit func(*Config)) *testServer {
	t.Helper()
	schema := writeSchema(t, "form.json", payloadSchema)
	return startServer(t, func(c *Config) {
		c.API.Keys = []string{apiKeyA}
		c.Channels = append([]policy.Rule{
			{Pattern: "form:*", Subscribe: []string{"*"}, Publish: []string{"*"}, Schema: schema, History: policy.History{Size: 10}},
			{Pattern: "html:*", Subscribe: []string{"*"}, Publish: []string{"*"}, SanitizeHTML: true, History: policy.History{Size: 10}},
			{Pattern: "both:*", Subscribe: []string{"*"}, Publish: []string{"*"}, Schema: schema, SanitizeHTML: true, History: policy.History{Size: 10}},
		}, c.Channels...)
		if edit != nil {
			edit(c)
		}
	})
}

// jsonString encodes s as a JSON string the way the server does (no HTML
// escaping).
func jsonString(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// schemaRefusal publishes data and checks the exact reply.
func (c *client) schemaRefusal(channel, data, reason string) message {
	c.t.Helper()
	m := c.call("publish", fmt.Sprintf(`"channel":%q,"data":%s`, channel, data))
	if m.Error == nil {
		c.t.Fatalf("publish %s: want a refusal, got %s", data, m.raw)
	}
	want := fmt.Sprintf(`{"id":%d,"error":{"code":"bad_request","message":%s,"request_id":%s}}`,
		m.ID, jsonString(c.t, "data does not match the channel schema: "+reason), jsonString(c.t, m.Error.RequestID))
	if string(m.raw) != want || m.Error.RequestID == "" {
		c.t.Fatalf("publish %s:\n got %s\nwant %s", data, m.raw, want)
	}
	return m
}

func TestPayloadSchema(t *testing.T) {
	t.Parallel()
	s := payloadServer(t, nil)
	sub := s.dial(t, token(t, "reader"))
	sub.subscribe("form:1")
	c := s.dial(t, token(t, "alice"))

	if off := c.publish("form:1", `{"text":"hello","n":3,"kind":"a","code":"abc"}`); off != 1 {
		t.Fatalf("offset %d", off)
	}
	if p := sub.nextPush(); p.Push != "publication" || string(p.Data) != `{"text":"hello","n":3,"kind":"a","code":"abc"}` {
		t.Fatalf("delivered %s", p.raw)
	}
	cases := []struct{ name, data, reason string }{
		{"wrong type", `{"text":1}`, "/text: must be string, not number"},
		{"not an object", `"text"`, "(root): must be object, not string"},
		{"missing property", `{"n":1}`, `(root): missing property "text"`},
		{"extra property", `{"text":"x","extra":true}`, "/extra: property not allowed"},
		{"too long", `{"text":"` + strings.Repeat("x", 41) + `"}`, "/text: length must be <= 40"},
		{"below minimum", `{"text":"x","n":-1}`, "/n: must be >= 0"},
		{"not an integer", `{"text":"x","n":1.5}`, "/n: must be integer, not number"},
		{"not in the enum", `{"text":"x","kind":"c"}`, `/kind: must be one of "a", "b"`},
		{"pattern", `{"text":"x","code":"ABC"}`, "/code: must match pattern ^[a-z]+$"},
		{"markup in a member name", `{"text":"x","<img src=x>":1}`, "/?img src=x?: property not allowed"},
	}
	for _, tc := range cases {
		t.Log(tc.name)
		c.schemaRefusal("form:1", tc.data, tc.reason)
	}
	// Nothing refused was published or delivered.
	if off := c.publish("form:1", `{"text":"again"}`); off != 2 {
		t.Fatalf("offset %d after refusals, want 2", off)
	}
	if p := sub.nextPush(); p.Offset != 2 || string(p.Data) != `{"text":"again"}` {
		t.Fatalf("delivered %s", p.raw)
	}
	if pushes := sub.barrier(); len(pushes) != 0 {
		t.Fatalf("refused data delivered: %v", pushes)
	}
}

// A refusal carries at most 64 bytes of the input, however long the input.
func TestPayloadSchemaReasonIsShort(t *testing.T) {
	t.Parallel()
	s := payloadServer(t, nil)
	c := s.dial(t, token(t, "alice"))
	// Inputs without repeated 8-byte runs, so any echo shows as a substring.
	var b strings.Builder
	for i := 0; b.Len() < 3000; i++ {
		fmt.Fprintf(&b, "k%04dq", i)
	}
	long := b.String()
	for _, data := range []string{
		fmt.Sprintf(`{"text":"x",%q:1}`, long),
		fmt.Sprintf(`{"text":"x","code":%q}`, long),
		fmt.Sprintf(`{"text":%q}`, long),
		fmt.Sprintf(`{"text":"x","kind":%q}`, long),
		fmt.Sprintf(`{"text":"x","n":%s}`, "-"+strings.Repeat("9", 3000)),
		fmt.Sprintf(`{"text":"x",%q:{%q:{%q:1}}}`, long[:1000], long[1000:2000], long[2000:]),
	} {
		m := c.call("publish", fmt.Sprintf(`"channel":"form:1","data":%s`, data))
		if m.Error == nil || m.Error.Code != "bad_request" || !strings.HasPrefix(m.Error.Message, "data does not match the channel schema: ") {
			t.Fatalf("want a schema refusal, got %s", m.raw)
		}
		if n := longestEcho(m.Error.Message, data); n > 64 {
			t.Fatalf("message %q carries %d bytes of the input", m.Error.Message, n)
		}
		if len(m.raw) > 400 {
			t.Fatalf("reply of %d bytes: %s", len(m.raw), m.raw)
		}
	}
}

// longestEcho is the length of the longest substring of msg found in input.
func longestEcho(msg, input string) int {
	best := 0
	for i := range msg {
		for j := i + best + 1; j <= len(msg); j++ {
			if !strings.Contains(input, msg[i:j]) {
				break
			}
			best = j - i
		}
	}
	return best
}

func TestPayloadSanitizeHTML(t *testing.T) {
	t.Parallel()
	s := payloadServer(t, nil)
	sub := s.dial(t, token(t, "reader"))
	sub.subscribe("html:x")
	sub.subscribe("both:x")
	c := s.dial(t, token(t, "alice"))
	cases := []struct{ channel, data, want string }{
		{"html:x", `"<img src=x onerror=alert(1)>"`, `"&lt;img src=x onerror=alert(1)&gt;"`},
		{"html:x", `{"body":"<script>alert(1)</script>"}`, `{"body":"&lt;script&gt;alert(1)&lt;/script&gt;"}`},
		{"html:x", `{"<b>":["<a href=\"javascript:x\">'hi'</a> & co",1.50,true,null]}`,
			`{"&lt;b&gt;":["&lt;a href=&#34;javascript:x&#34;&gt;&#39;hi&#39;&lt;/a&gt; &amp; co",1.50,true,null]}`},
		{"html:x", `"\u003cscript\u003e"`, `"&lt;script&gt;"`},
		// The schema sees the data as sent: 40 characters pass maxLength 40
		// and arrive escaped, four times as long.
		{"both:x", `{"text":"` + strings.Repeat("<", 40) + `"}`, `{"text":"` + strings.Repeat("&lt;", 40) + `"}`},
	}
	for i, tc := range cases {
		c.publish(tc.channel, tc.data)
		p := sub.nextPush()
		if p.Channel != tc.channel || string(p.Data) != tc.want {
			t.Fatalf("case %d: delivered %s, want data %s", i, p.raw, tc.want)
		}
		if strings.ContainsAny(string(p.raw), "<>") {
			t.Fatalf("case %d: markup reached a subscriber: %s", i, p.raw)
		}
	}
	var h struct {
		Publications []struct {
			Data json.RawMessage `json:"data"`
		} `json:"publications"`
		Epoch string `json:"epoch"`
	}
	if err := json.Unmarshal(c.ok("history", `"channel":"html:x"`), &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Publications) != 4 {
		t.Fatalf("history holds %d publications, want 4", len(h.Publications))
	}
	for i, p := range h.Publications {
		if string(p.Data) != cases[i].want {
			t.Fatalf("history %d: %s, want %s", i, p.Data, cases[i].want)
		}
	}
	// A late subscriber recovering from offset 0 gets the escaped data too.
	late := s.dial(t, token(t, "late"))
	r := late.subscribeSince("html:x", `{"offset":0,"epoch":`+jsonString(t, h.Epoch)+`}`)
	if !r.Recovered || len(r.Publications) != 4 {
		t.Fatalf("recovery: %+v", r)
	}
	for _, p := range r.Publications {
		if strings.ContainsAny(string(p.Data), "<>") {
			t.Fatalf("recovered markup: %s", p.Data)
		}
	}
	// Schema failures on a sanitizing channel are refused before escaping.
	c.schemaRefusal("both:x", `{"text":"`+strings.Repeat("<", 41)+`"}`, "/text: length must be <= 40")
}

func TestPayloadBrokenSchemaStopsNew(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"broken_json.json":    `{"type": "object", "properties": {`,
		"broken_keyword.json": `{"type": "object", "properties": {"text": {"type": "string", "maxLength": "forty"}}}`,
		"remote_ref.json":     `{"type": "object", "properties": {"text": {"$ref": "https://evil.example/x.json"}}}`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"broken_json.json", "broken_keyword.json", "remote_ref.json", "missing.json"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			cfg := baseConfig()
			cfg.Channels = append([]policy.Rule{{Pattern: "form:*", Subscribe: []string{"*"}, Publish: []string{"*"}, Schema: path}}, cfg.Channels...)
			s, err := New(cfg)
			if err == nil {
				_ = s.Shutdown(t.Context())
				t.Fatal("New accepted a broken schema")
			}
			if msg := err.Error(); !strings.Contains(msg, name) || !strings.Contains(msg, "channels[0].schema") {
				t.Fatalf("error %q does not name the file and the key", msg)
			}
		})
	}
}

// Schema failures count as violations: past limits.max_violations, 1008.
func TestPayloadSchemaFailuresAreViolations(t *testing.T) {
	t.Parallel()
	s := payloadServer(t, func(c *Config) { c.Limits.MaxViolations = 3 })
	c := s.dial(t, token(t, "alice"))
	for range 3 {
		c.schemaRefusal("form:1", `{"text":1}`, "/text: must be string, not number")
		c.publish("form:1", `{"text":"fine"}`) // valid messages do not wash violations away
	}
	c.send(`{"id":99,"action":"publish","channel":"form:1","data":{"text":1}}`)
	c.expectClose(1008)
	s.waitConnections(t, 0)
}

// The HTTP API's publishes pass the same schema and sanitizing.
func TestPayloadAPIPublish(t *testing.T) {
	t.Parallel()
	s := payloadServer(t, nil)
	sub := s.dial(t, token(t, "reader"))
	sub.subscribe("both:api")
	for _, data := range []string{`{"text":1}`, `{"text":"x","extra":1}`, `{"text":"` + strings.Repeat("x", 41) + `"}`, `"plain"`} {
		status, body, hdr := s.apiCall(t, "POST", "/api/publish", apiKeyA, `{"channel":"both:api","data":`+data+`}`)
		if status != 400 || body["error"] != "bad_request" || body["request_id"] != hdr.Get("X-Request-Id") || len(body) != 2 {
			t.Fatalf("publish %s: %d %v", data, status, body)
		}
	}
	status, body, _ := s.apiCall(t, "POST", "/api/broadcast", apiKeyA, `{"channels":["both:api","form:api","html:api"],"data":{"text":1}}`)
	res, _ := body["results"].([]any)
	if status != 200 || len(res) != 3 {
		t.Fatalf("broadcast: %d %v", status, body)
	}
	for i, want := range []string{"bad_request", "bad_request", ""} {
		got, _ := res[i].(map[string]any)["error"].(string)
		if got != want {
			t.Fatalf("broadcast result %d: %v, want error %q", i, res[i], want)
		}
	}
	status, body, _ = s.apiCall(t, "POST", "/api/publish", apiKeyA, `{"channel":"both:api","data":{"text":"<img src=x onerror=alert(1)>"}}`)
	if status != 200 || body["offset"] != 1.0 {
		t.Fatalf("publish: %d %v", status, body)
	}
	p := sub.nextPush()
	if p.Offset != 1 || string(p.Data) != `{"text":"&lt;img src=x onerror=alert(1)&gt;"}` || p.Info != nil {
		t.Fatalf("delivered %s", p.raw)
	}
	if pushes := sub.barrier(); len(pushes) != 0 {
		t.Fatalf("refused data delivered: %v", pushes)
	}
	// Nothing refused reached the history either.
	status, body, _ = s.apiCall(t, "GET", "/api/history?channel=both:api", apiKeyA, "")
	if pubs, _ := body["publications"].([]any); status != 200 || len(pubs) != 1 {
		t.Fatalf("history: %d %v", status, body)
	}
}
