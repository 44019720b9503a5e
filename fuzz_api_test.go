package rampart

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/policy"
	"github.com/rampart-rt/rampart/protocol"
)

// apiFuzzPaths are the HTTP API's endpoints, and a few that are not.
var apiFuzzPaths = []string{
	"/api/publish", "/api/broadcast", "/api/disconnect", "/api/subscribe",
	"/api/unsubscribe", "/api/presence?channel=", "/api/history?channel=", "/api/nope",
}

// FuzzAPI sends arbitrary bodies and query values to every endpoint of
// the HTTP API of a real server, with a valid key. Whatever arrives, the
// answer is a documented status; a refusal is exactly {"error": <a listed
// code>, "request_id": <the header's id>}, also for a path or a method
// the API does not have; nothing answers 500.
func FuzzAPI(f *testing.F) {
	for _, seed := range []string{
		`{"channel":"chat:a","data":{"x":1}}`, `{"channels":["chat:a","nope"],"data":1}`,
		`{"user":"bob","code":4001,"reason":"bye"}`, `{"user":"bob","channel":"chat:a"}`,
		`{"client":"x","channel":"room:b"}`, `chat:a&limit=5`, `{"channel":"chat:a","data":{"x":1},"idempotency_key":"k-1"}`,
		`{"user":"bob","code":4000,"reason":"\xff"}`, `[`, ``, `{"channel":"strict:a","data":{"text":"<b>x</b>"}}`,
	} {
		for i := range apiFuzzPaths {
			f.Add(byte(i), []byte(seed))
		}
	}
	schema := filepath.Join(f.TempDir(), "msg.json")
	if err := os.WriteFile(schema, []byte(`{"type":"object","properties":{"text":{"type":"string","maxLength":20}},"required":["text"]}`), 0o600); err != nil {
		f.Fatal(err)
	}
	cfg := baseConfig()
	cfg.API.Keys = []string{apiKeyA}
	cfg.API.MaxBodyBytes = 2048
	cfg.Channels = append([]policy.Rule{
		{Pattern: "strict:*", Subscribe: []string{"*"}, Publish: []string{"*"}, Schema: schema, SanitizeHTML: true, History: policy.History{Size: 10}},
		{Pattern: "room:*", Subscribe: []string{"*"}, Publish: []string{"*"}, Presence: true},
	}, cfg.Channels...)
	s, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	ts := httptest.NewServer(s)
	f.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	statuses := []int{200, 400, 403, 404, 405, 409, 413, 503}
	f.Fuzz(func(t *testing.T, which byte, body []byte) {
		path := apiFuzzPaths[int(which)%len(apiFuzzPaths)]
		method := http.MethodPost
		var rd io.Reader = bytes.NewReader(body)
		if strings.Contains(path, "?") {
			method, rd = http.MethodGet, nil
			path += url.QueryEscape(string(body))
		}
		if which&0x80 != 0 { // the other method: 405
			method = map[string]string{http.MethodPost: http.MethodGet, http.MethodGet: http.MethodPost}[method]
		}
		req, err := http.NewRequest(method, ts.URL+path, rd)
		if err != nil {
			return // not a request a client could send
		}
		req.Header.Set("Authorization", "Bearer "+apiKeyA)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !slices.Contains(statuses, resp.StatusCode) {
			t.Fatalf("%s %s %q: status %d: %s", method, path, body, resp.StatusCode, raw)
		}
		if resp.StatusCode == 200 {
			return
		}
		var e map[string]any
		if err := json.Unmarshal(raw, &e); err != nil || len(e) != 2 || e["request_id"] != resp.Header.Get("X-Request-Id") {
			t.Fatalf("%s %s %q: refusal body %s", method, path, body, raw)
		}
		code, _ := e["error"].(string)
		if !slices.Contains(protocol.Codes, protocol.Code(code)) {
			t.Fatalf("%s %s %q: code %q is not a listed one", method, path, body, code)
		}
	})
}
