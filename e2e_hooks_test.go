package rampart

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/hooks"
	"github.com/rampart-rt/rampart/internal/wstest"
	"github.com/rampart-rt/rampart/policy"
)

var testHookKey = []byte("hooks-test-signing-key-0123456789abcdef")

// hookBackend is a real HTTP backend on 127.0.0.1 that checks each
// request's signature with the hooks package and answers with answer.
type hookBackend struct {
	ts       *httptest.Server
	mu       sync.Mutex
	got      []hookCall
	unsigned atomic.Int32 // requests whose signature did not verify
	inflight atomic.Int32
	peak     atomic.Int32
}

type hookCall struct {
	hook string
	body map[string]any
	raw  []byte
}

// answer returns the status and the body for one verified request.
type answerFunc func(r *http.Request, hook string, body map[string]any) (int, string)

func newHookBackend(t *testing.T, answer answerFunc) *hookBackend {
	t.Helper()
	b := &hookBackend{}
	b.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := b.inflight.Add(1)
		defer b.inflight.Add(-1)
		for p := b.peak.Load(); n > p && !b.peak.CompareAndSwap(p, n); p = b.peak.Load() {
		}
		raw, err := hooks.Verify(r, testHookKey)
		if err != nil {
			b.unsigned.Add(1)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("hook body is not JSON: %q", raw)
		}
		hook := r.Header.Get(hooks.HookHeader)
		b.mu.Lock()
		b.got = append(b.got, hookCall{hook: hook, body: body, raw: raw})
		b.mu.Unlock()
		status, reply := answer(r, hook, body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, reply)
	}))
	t.Cleanup(b.ts.Close)
	return b
}

func (b *hookBackend) calls(hook string) []hookCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []hookCall
	for _, c := range b.got {
		if c.hook == hook {
			out = append(out, c)
		}
	}
	return out
}

// withHooks points the hooks named at the backend.
func withHooks(b *hookBackend, names ...string) func(*Config) {
	return func(c *Config) {
		c.Hooks.Key = testHookKey
		for _, n := range names {
			u := b.ts.URL + "/" + n
			switch n {
			case hooks.HookConnect:
				c.Hooks.Connect.URL = u
			case hooks.HookSubscribe:
				c.Hooks.Subscribe.URL = u
			case hooks.HookPublish:
				c.Hooks.Publish.URL = u
			case hooks.HookNotify:
				c.Hooks.Notify.URL = u
			}
		}
	}
}

func edits(fs ...func(*Config)) func(*Config) {
	return func(c *Config) {
		for _, f := range fs {
			f(c)
		}
	}
}

var docRule = policy.Rule{Pattern: "doc:*", Subscribe: []string{"editor"}, Publish: []string{"editor"}, History: policy.History{Size: 10}}

// The connect hook allows, refuses with the code it names, or adds roles
// and info: the added role opens a channel the token's roles do not, and
// the info travels with the connection's later hooks.
func TestHookConnectAllowDenyEnrich(t *testing.T) {
	b := newHookBackend(t, func(_ *http.Request, hook string, body map[string]any) (int, string) {
		if hook == hooks.HookSubscribe {
			return 200, `{"result":"allow"}`
		}
		switch body["user"] {
		case "alice":
			return 200, `{"result":"allow","roles":["editor"],"info":{"team":"blue"}}`
		case "mallory":
			return 200, `{"result":"deny"}`
		case "eve":
			return 200, `{"result":"deny","code":"unauthorized"}`
		}
		return 200, `{"result":"allow"}`
	})
	srv := startServer(t, edits(withHooks(b, hooks.HookConnect, hooks.HookSubscribe), func(c *Config) {
		c.Channels = append([]policy.Rule{docRule}, testRules...)
	}))

	alice := srv.dial(t, token(t, "alice", "user"))
	alice.subscribe("doc:1") // editor came from the hook
	alice.ok("refresh", `"token":"`+token(t, "alice", "user")+`"`)
	alice.subscribe("doc:2") // the hook's roles outlive a refresh of the token
	if got := alice.barrier(); len(got) != 0 {
		t.Fatalf("the refresh revoked something: %v", got)
	}
	bob := srv.dial(t, token(t, "bob", "user"))
	bob.fails("subscribe", `"channel":"doc:1"`, "forbidden")

	_, resp, err := srv.dialRaw(t, srv.request(token(t, "mallory")), wstest.Options{})
	expectRefused(t, resp, err, http.StatusForbidden, "forbidden")
	_, resp, err = srv.dialRaw(t, srv.request(token(t, "eve")), wstest.Options{})
	expectRefused(t, resp, err, http.StatusUnauthorized, "unauthorized")

	connects := b.calls(hooks.HookConnect)
	if len(connects) != 4 {
		t.Fatalf("%d connect calls, want 4", len(connects))
	}
	first := connects[0].body
	if first["user"] != "alice" || first["ip"] != "127.0.0.1" || first["request_id"] == "" || !strings.Contains(string(connects[0].raw), `"roles":["user"]`) {
		t.Fatalf("connect request %s lacks the handshake's facts", connects[0].raw)
	}
	subs := b.calls(hooks.HookSubscribe)
	if len(subs) != 2 || !strings.Contains(string(subs[0].raw), `"info":{"team":"blue"}`) ||
		!strings.Contains(string(subs[0].raw), `"roles":["user","editor"]`) || subs[0].body["channel"] != "doc:1" || subs[1].body["channel"] != "doc:2" {
		t.Fatalf("subscribe calls %s: want doc:1 then doc:2, carrying alice's info and roles", subs)
	}
	if b.unsigned.Load() != 0 {
		t.Fatal("a hook request did not verify")
	}
}

// The subscribe hook decides only what the channel rules allowed: a
// channel without a rule never reaches it; its deny code reaches the
// client with the request id the backend got.
func TestHookSubscribeDecides(t *testing.T) {
	b := newHookBackend(t, func(_ *http.Request, _ string, body map[string]any) (int, string) {
		if body["channel"] == "chat:secret" {
			return 200, `{"result":"deny","code":"not_found"}`
		}
		return 200, `{"result":"allow"}`
	})
	srv := startServer(t, withHooks(b, hooks.HookSubscribe))
	c := srv.dial(t, token(t, "u1"))
	c.subscribe("chat:open")
	e := c.fails("subscribe", `"channel":"chat:secret"`, "not_found")
	c.fails("subscribe", `"channel":"norule:x"`, "forbidden")
	calls := b.calls(hooks.HookSubscribe)
	if len(calls) != 2 || calls[1].body["request_id"] != e.RequestID {
		t.Fatalf("want 2 subscribe calls, the second with request id %s; got %v", e.RequestID, calls)
	}
}

// The publish hook replaces the data: subscribers and the history get the
// replacement, which the channel's sanitizing and size limit still check;
// a deny refuses the publish.
func TestHookPublishReplaces(t *testing.T) {
	b := newHookBackend(t, func(_ *http.Request, _ string, body map[string]any) (int, string) {
		d, _ := body["data"].(map[string]any)
		switch d["text"] {
		case "deny":
			return 200, `{"result":"deny","code":"bad_request"}`
		case "huge":
			return 200, `{"result":"allow","data":"` + strings.Repeat("x", 20000) + `"}`
		case "keep":
			return 200, `{"result":"allow"}`
		}
		return 200, `{"result":"allow","data":{"text":"<b>replaced</b>","checked":true}}`
	})
	logs := &logBuffer{}
	srv := startServer(t, edits(withHooks(b, hooks.HookPublish), func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		c.Channels = append([]policy.Rule{{Pattern: "clean:*", Subscribe: []string{"*"}, Publish: []string{"*"},
			History: policy.History{Size: 10}, SanitizeHTML: true}}, testRules...)
	}))
	sub := srv.dial(t, token(t, "reader"))
	sub.subscribe("clean:room")
	pub := srv.dial(t, token(t, "writer"))
	pub.publish("clean:room", `{"text":"original"}`)
	got := sub.nextPush()
	if strings.Contains(string(got.Data), "original") || !strings.Contains(string(got.Data), `"checked":true`) || strings.Contains(string(got.Data), "<b>") {
		t.Fatalf("subscriber got %s: want the replacement, sanitized", got.Data)
	}
	pub.publish("clean:room", `{"text":"keep"}`)
	if kept := sub.nextPush(); !strings.Contains(string(kept.Data), `"keep"`) {
		t.Fatalf("an allow without data changed it: %s", kept.Data)
	}
	hist := pub.ok("history", `"channel":"clean:room"`)
	if !strings.Contains(string(hist), `"checked":true`) || strings.Contains(string(hist), "original") {
		t.Fatalf("history %s lacks the replacement", hist)
	}
	pub.fails("publish", `"channel":"clean:room","data":{"text":"deny"}`, "bad_request")
	e := pub.fails("publish", `"channel":"clean:room","data":{"text":"huge"}`, "internal")
	logs.find(t, "hook_failed", map[string]any{"request_id": e.RequestID})
	if m := sub.barrier(); len(m) != 0 {
		t.Fatalf("refused publishes reached the subscriber: %v", m)
	}
}

// A backend that fails, one way or another, fails closed: the client gets
// unavailable and a request id, never the backend's text; the log line
// with that id says what happened. With on_error: allow it fails open.
func TestHookFailuresFailClosed(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	cases := map[string]answerFunc{
		"status 500": func(*http.Request, string, map[string]any) (int, string) {
			return 500, `{"result":"allow","secret":"backend-internal-detail"}`
		},
		"not JSON": func(*http.Request, string, map[string]any) (int, string) { return 200, `backend-internal-detail` },
		"unknown member": func(*http.Request, string, map[string]any) (int, string) {
			return 200, `{"result":"allow","backend-internal-detail":1}`
		},
		"duplicate member": func(*http.Request, string, map[string]any) (int, string) {
			return 200, `{"result":"allow","result":"deny"}`
		},
		"unknown result": func(*http.Request, string, map[string]any) (int, string) { return 200, `{"result":"maybe"}` },
		"unknown code": func(*http.Request, string, map[string]any) (int, string) {
			return 200, `{"result":"deny","code":"backend-internal-detail"}`
		},
		"timeout": func(r *http.Request, _ string, _ map[string]any) (int, string) {
			select {
			case <-block:
			case <-r.Context().Done():
			}
			return 200, `{"result":"allow"}`
		},
	}
	for name, answer := range cases {
		t.Run(name, func(t *testing.T) {
			b := newHookBackend(t, answer)
			logs := &logBuffer{}
			srv := startServer(t, edits(withHooks(b, hooks.HookConnect, hooks.HookSubscribe), func(c *Config) {
				c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
				c.Hooks.Timeout = 100 * time.Millisecond
				c.Hooks.Connect.OnError = "allow"
			}))
			c := srv.dial(t, token(t, "u1")) // connect fails open
			e := c.fails("subscribe", `"channel":"chat:a"`, "unavailable")
			if strings.Contains(e.Message, "backend") {
				t.Fatalf("the client saw %q", e.Message)
			}
			ev := logs.find(t, "hook_failed", map[string]any{"request_id": e.RequestID, "hook": "subscribe"})
			if ev["error"] == "" {
				t.Fatalf("the log line lacks the cause: %v", ev)
			}
			logs.find(t, "hook_failed", map[string]any{"hook": "connect", "on_error": "allow"})

			closed := startServer(t, edits(withHooks(b, hooks.HookConnect), func(c *Config) { c.Hooks.Timeout = 100 * time.Millisecond }))
			_, resp, err := closed.dialRaw(t, closed.request(token(t, "u2")), wstest.Options{})
			expectRefused(t, resp, err, http.StatusServiceUnavailable, "unavailable")
			if strings.Contains(string(resp.Body), "backend") {
				t.Fatalf("the refusal carries the backend's text: %s", resp.Body)
			}
		})
	}
}

// A backend answering with a redirect is a failure: the redirect is not
// followed, and the server it names hears nothing.
func TestHookRedirectNotFollowed(t *testing.T) {
	var reached atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	other := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached.Add(1)
		_, _ = io.WriteString(w, `{"result":"allow"}`)
	})}}
	other.Start()
	t.Cleanup(other.Close)
	b := newHookBackend(t, func(r *http.Request, _ string, _ map[string]any) (int, string) { return 0, "" })
	b.ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/connect", http.StatusTemporaryRedirect)
	})
	srv := startServer(t, withHooks(b, hooks.HookConnect))
	_, resp, err := srv.dialRaw(t, srv.request(token(t, "u1")), wstest.Options{})
	expectRefused(t, resp, err, http.StatusServiceUnavailable, "unavailable")
	if n := reached.Load(); n != 0 {
		t.Fatalf("the redirect target was called %d times", n)
	}
	if v := metricValue(t, srv, `rampart_hook_calls_total{hook="connect",result="redirect"}`); v != 1 {
		t.Fatalf("redirect calls counted %v, want 1", v)
	}
}

// Rotating the hooks' key: with hooks.previous_key set, every request is
// signed with both keys, so a backend that still verifies with the old
// key accepts it; once the old key is dropped, that backend refuses (and
// the connect hook fails closed).
func TestHookKeyRotation(t *testing.T) {
	oldKey := testHookKey
	b := newHookBackend(t, func(*http.Request, string, map[string]any) (int, string) { return 200, `{"result":"allow"}` })
	newKey := []byte("hooks-test-signing-key-NEW-0123456789abcd")
	rotating := startServer(t, edits(withHooks(b, hooks.HookConnect), func(c *Config) {
		c.Hooks.Key, c.Hooks.PreviousKey = newKey, oldKey
	}))
	rotating.dial(t, token(t, "alice"))
	if n := len(b.calls(hooks.HookConnect)); n != 1 || b.unsigned.Load() != 0 {
		t.Fatalf("while rotating: %d connect calls, %d refused; want 1 and 0", n, b.unsigned.Load())
	}
	rotated := startServer(t, edits(withHooks(b, hooks.HookConnect), func(c *Config) { c.Hooks.Key = newKey }))
	if _, resp, err := rotated.dialRaw(t, rotated.request(token(t, "alice")), wstest.Options{}); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("with only the new key, against a backend on the old one: %v, %+v; want 503", err, resp)
	}
	if b.unsigned.Load() != 1 {
		t.Fatalf("%d requests refused by the backend, want 1", b.unsigned.Load())
	}
}

// With channels, the subscribe and publish hooks are asked only about the
// channels their globs match: the others go by the channel rules alone,
// with no call to the backend.
func TestHookChannelsFilter(t *testing.T) {
	b := newHookBackend(t, func(_ *http.Request, _ string, body map[string]any) (int, string) {
		return 200, `{"result":"deny","code":"forbidden"}`
	})
	srv := startServer(t, edits(withHooks(b, hooks.HookSubscribe, hooks.HookPublish), func(c *Config) {
		c.Hooks.Subscribe.Channels = []string{"chat:guarded-*"}
		c.Hooks.Publish.Channels = []string{"chat:guarded-*", "chat:moderated"}
	}))
	c := srv.dial(t, token(t, "u1"))
	c.subscribe("chat:open")
	c.ok("publish", `"channel":"chat:open","data":{"n":1}`)
	if n := len(b.calls(hooks.HookSubscribe)) + len(b.calls(hooks.HookPublish)); n != 0 {
		t.Fatalf("%d hook calls for a channel no glob matches, want 0", n)
	}
	c.fails("subscribe", `"channel":"chat:guarded-1"`, "forbidden")
	c.fails("publish", `"channel":"chat:moderated","data":{"n":2}`, "forbidden")
	if s, p := b.calls(hooks.HookSubscribe), b.calls(hooks.HookPublish); len(s) != 1 || len(p) != 1 ||
		s[0].body["channel"] != "chat:guarded-1" || p[0].body["channel"] != "chat:moderated" {
		t.Fatalf("hook calls: subscribe %v, publish %v; want one each, for the matching channels", s, p)
	}
}
