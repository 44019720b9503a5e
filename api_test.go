package rampart

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/policy"
)

var (
	apiKeyA = rememberSecret("key-a-0123456789abcdefghijklmnop")
	apiKeyB = rememberSecret("key-b-0123456789abcdefghijklmnop")
)

// apiCall makes one HTTP API request and decodes the JSON answer.
func (s *testServer) apiCall(t *testing.T, method, path, key, body string, hdr ...string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, s.ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %q", method, path, raw)
	}
	return resp.StatusCode, out, resp.Header
}

func schemaFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "msg.json")
	schema := `{"type":"object","properties":{"text":{"type":"string","maxLength":20}},"required":["text"],"additionalProperties":false}`
	if err := os.WriteFile(p, []byte(schema), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func apiServer(t *testing.T) *testServer {
	t.Helper()
	schema := schemaFile(t)
	return startServer(t, func(c *Config) {
		c.API.Keys = []string{apiKeyA, apiKeyB}
		c.API.MaxBodyBytes = 1024
		c.Channels = append([]policy.Rule{
			{Pattern: "strict:*", Subscribe: []string{"*"}, Publish: []string{"*"}, Schema: schema, SanitizeHTML: true, History: policy.History{Size: 10}},
			{Pattern: "room:*", Subscribe: []string{"*"}, Publish: []string{"*"}, Presence: true},
		}, c.Channels...)
	})
}

func TestAPIPublishReachesSubscribers(t *testing.T) {
	s := apiServer(t)
	c := s.dial(t, token(t, "alice"))
	c.subscribe("strict:a")
	status, body, hdr := s.apiCall(t, "POST", "/api/publish", apiKeyA, `{"channel":"strict:a","data":{"text":"<b>hi</b>"}}`)
	if status != 200 || body["offset"] != 1.0 || body["epoch"] == "" {
		t.Fatalf("publish: %d %v", status, body)
	}
	if hdr.Get("X-Request-Id") == "" {
		t.Fatal("no X-Request-Id")
	}
	p := c.nextPush()
	if p.Push != "publication" || string(p.Data) != `{"text":"&lt;b&gt;hi&lt;/b&gt;"}` || p.Info != nil {
		t.Fatalf("delivered %s", p.raw)
	}
	status, body, _ = s.apiCall(t, "GET", "/api/history?channel=strict:a&limit=5", apiKeyB, "")
	pubs, _ := body["publications"].([]any)
	if status != 200 || len(pubs) != 1 || body["offset"] != 1.0 {
		t.Fatalf("history: %d %v", status, body)
	}
	status, body, _ = s.apiCall(t, "POST", "/api/broadcast", apiKeyA, `{"channels":["strict:a","strict:b","nope"],"data":{"text":"x"}}`)
	res, _ := body["results"].([]any)
	if status != 200 || len(res) != 3 || res[2].(map[string]any)["error"] != "not_found" || res[1].(map[string]any)["offset"] != 1.0 {
		t.Fatalf("broadcast: %d %v", status, body)
	}
}

func TestAPIRefusals(t *testing.T) {
	s := apiServer(t)
	tests := []struct {
		name, method, path, key, body string
		hdr                           []string
		status                        int
		code                          string
	}{
		{"no key", "POST", "/api/publish", "", `{"channel":"chat:a","data":1}`, nil, 401, "unauthorized"},
		{"wrong key", "POST", "/api/publish", apiKeyA + "x", `{"channel":"chat:a","data":1}`, nil, 401, "unauthorized"},
		{"oversize body", "POST", "/api/publish", apiKeyA, `{"channel":"chat:a","data":"` + strings.Repeat("x", 2000) + `"}`, nil, 413, "bad_request"},
		{"schema failure", "POST", "/api/publish", apiKeyA, `{"channel":"strict:a","data":{"text":1}}`, nil, 400, "bad_request"},
		{"unknown field", "POST", "/api/publish", apiKeyA, `{"channel":"chat:a","data":1,"x":1}`, nil, 400, "bad_request"},
		{"no rule", "POST", "/api/publish", apiKeyA, `{"channel":"secret","data":1}`, nil, 404, "not_found"},
		{"cross-site", "POST", "/api/publish", apiKeyA, `{"channel":"chat:a","data":1}`, []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 403, "forbidden"},
		{"bad disconnect code", "POST", "/api/disconnect", apiKeyA, `{"user":"a","code":1000}`, nil, 400, "bad_request"},
		{"presence not kept", "GET", "/api/presence?channel=chat:a", apiKeyA, "", nil, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, hdr := s.apiCall(t, tt.method, tt.path, tt.key, tt.body, tt.hdr...)
			if status != tt.status || body["error"] != tt.code || body["request_id"] == "" || hdr.Get("X-Request-Id") != body["request_id"] {
				t.Fatalf("got %d %v, want %d %s with a request id", status, body, tt.status, tt.code)
			}
		})
	}
}

func TestAPIKeyRotation(t *testing.T) {
	s := apiServer(t)
	if status, _, _ := s.apiCall(t, "POST", "/api/publish", apiKeyB, `{"channel":"chat:a","data":1}`); status != 200 {
		t.Fatalf("second key refused: %d", status)
	}
	cfg := s.s.cfg
	cfg.API.Keys = []string{apiKeyB}
	if err := s.s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := s.apiCall(t, "POST", "/api/publish", apiKeyA, `{"channel":"chat:a","data":1}`); status != 401 {
		t.Fatalf("retired key still accepted: %d", status)
	}
	if status, _, _ := s.apiCall(t, "POST", "/api/publish", apiKeyB, `{"channel":"chat:a","data":1}`); status != 200 {
		t.Fatalf("kept key refused: %d", status)
	}
}

func TestAPIDisconnect(t *testing.T) {
	s := apiServer(t)
	a1, a2, b := s.dial(t, token(t, "alice")), s.dial(t, token(t, "alice")), s.dial(t, token(t, "bob"))
	status, body, _ := s.apiCall(t, "POST", "/api/disconnect", apiKeyA, `{"user":"alice","code":4100,"reason":"banned"}`)
	if status != 200 || body["disconnected"] != 2.0 {
		t.Fatalf("disconnect: %d %v", status, body)
	}
	a1.expectClose(4100)
	a2.expectClose(4100)
	b.ok("ping", "")
}

func TestPresenceJoinAndLeave(t *testing.T) {
	s := apiServer(t)
	a := s.dial(t, token(t, "alice"))
	b := s.dial(t, token(t, "bob"))
	a.subscribe("room:1")
	b.subscribe("room:1")
	var got struct {
		Clients []struct{ User, Client string } `json:"clients"`
	}
	json.Unmarshal(a.ok("presence", `"channel":"room:1"`), &got)
	if len(got.Clients) != 2 || got.Clients[0].User != "alice" || got.Clients[1].User != "bob" || got.Clients[0].Client != a.welcome.Client {
		t.Fatalf("presence: %+v", got)
	}
	a.fails("presence", `"channel":"chat:1"`, "not_found")
	a.fails("presence", `"channel":"secret"`, "forbidden")
	b.ok("unsubscribe", `"channel":"room:1"`)
	json.Unmarshal(a.ok("presence", `"channel":"room:1"`), &got)
	if len(got.Clients) != 1 || got.Clients[0].User != "alice" {
		t.Fatalf("after leave: %+v", got)
	}
	c := s.dial(t, token(t, "carol"))
	c.subscribe("room:1")
	c.ws.Close()
	waitFor(t, "carol's entry to vanish", func() bool {
		_, body, _ := s.apiCall(t, "GET", "/api/presence?channel=room:1", apiKeyA, "")
		clients, _ := body["clients"].([]any)
		return len(clients) == 1
	})
}

// rpcBackend is an HTTP server standing in for the application's backend:
// a real server on 127.0.0.1, answering by method.
func rpcBackend(t *testing.T, calls *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req struct {
			Method string          `json:"method"`
			Data   json.RawMessage `json:"data"`
			User   string          `json:"user"`
			Roles  []string        `json:"roles"`
			Client string          `json:"client"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		switch req.Method {
		case "echo":
			fmt.Fprintf(w, `{"data":{"user":%q,"roles":%q,"client":%q,"got":%s}}`, req.User, req.Roles, req.Client, req.Data)
		case "slow":
			time.Sleep(2 * time.Second)
			fmt.Fprint(w, `{"data":1}`)
		case "huge":
			fmt.Fprintf(w, `{"data":%q}`, strings.Repeat("x", 10000))
		case "refuse":
			w.WriteHeader(403)
			fmt.Fprint(w, `{"error":"forbidden","detail":"internal secret text"}`)
		default:
			w.WriteHeader(500)
			fmt.Fprint(w, `stack trace: secret internals`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRPC(t *testing.T) {
	var calls atomic.Int32
	backend := rpcBackend(t, &calls)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	s := startServer(t, func(c *Config) {
		c.RPC = RPC{URL: backend.URL, Timeout: 500 * time.Millisecond, MaxResponseBytes: 1000, Methods: map[string][]string{
			"echo": {"user"}, "slow": {"*"}, "huge": {"*"}, "refuse": {"*"}, "crash": {"*"}, "admin_only": {"admin"},
		}}
	})
	u := s.dial(t, token(t, "alice", "user"))
	var echo struct {
		Data struct {
			User   string   `json:"user"`
			Roles  []string `json:"roles"`
			Client string   `json:"client"`
			Got    any      `json:"got"`
		} `json:"data"`
	}
	json.Unmarshal(u.ok("rpc", `"method":"echo","data":{"q":1}`), &echo)
	if echo.Data.User != "alice" || echo.Data.Client != u.welcome.Client || len(echo.Data.Roles) != 1 || echo.Data.Got == nil {
		t.Fatalf("backend saw %+v", echo.Data)
	}
	before := calls.Load()
	u.fails("rpc", `"method":"admin_only"`, "forbidden")
	u.fails("rpc", `"method":"nope"`, "not_found")
	if calls.Load() != before {
		t.Fatal("a refused call reached the backend")
	}
	e := u.fails("rpc", `"method":"slow"`, "unavailable")
	if strings.Contains(e.Message, "secret") {
		t.Fatalf("backend detail leaked: %+v", e)
	}
	u.fails("rpc", `"method":"huge"`, "internal")
	u.fails("rpc", `"method":"refuse"`, "forbidden")
	e = u.fails("rpc", `"method":"crash"`, "unavailable")
	if strings.Contains(e.Message, "stack") {
		t.Fatalf("backend detail leaked: %+v", e)
	}
	cfg := s.s.cfg
	cfg.RPC.URL = downURL
	if err := s.s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	u.fails("rpc", `"method":"echo"`, "unavailable")
}

func TestRPCConcurrencyBound(t *testing.T) {
	var calls atomic.Int32
	backend := rpcBackend(t, &calls)
	s := startServer(t, func(c *Config) {
		c.RPC = RPC{URL: backend.URL, Timeout: 3 * time.Second, MaxConcurrent: 2, Methods: map[string][]string{"slow": {"*"}}}
	})
	u := s.dial(t, token(t, "alice"))
	for i := 1; i <= 3; i++ {
		u.send(fmt.Sprintf(`{"id":%d,"action":"rpc","method":"slow"}`, i))
	}
	got := map[uint64]message{}
	for len(got) < 3 {
		m := u.readNet()
		got[m.ID] = m
	}
	if got[3].Error == nil || got[3].Error.Code != "limit_exceeded" || got[1].Error != nil || got[2].Error != nil {
		t.Fatalf("want two results and limit_exceeded for the third: %s %s %s", got[1].raw, got[2].raw, got[3].raw)
	}
}
