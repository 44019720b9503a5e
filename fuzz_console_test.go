package rampart

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/internal/console"
	"github.com/rampart-rt/rampart/protocol"
)

// consoleFuzzPaths are the console's endpoints but the drain and the
// logout (which would drain the server under test and end the session),
// and a few it does not have.
var consoleFuzzPaths = []string{
	"/console/api/login", "/console/api/session", "/console/api/events?reason=",
	"/console/api/presence?channel=", "/console/api/disconnect", "/console/nope", "/console/static/",
}

// FuzzConsole sends arbitrary bodies, query values, origins and CSRF
// tokens to the console of a real server, with or without a session.
// Whatever arrives, the answer is a documented status, a refusal is
// exactly {"error": <a listed code>, "request_id": <the header's id>},
// nothing answers 500, and only a login with the key sets a cookie.
func FuzzConsole(f *testing.F) {
	for _, seed := range []string{`{"key":"x"}`, `{"token":"a.b.c"}`, `{"key":"","token":""}`, `{"user":"bob"}`,
		`{"client":"c1"}`, `{"user":"a","client":"b"}`, `origin`, `chat:a`, `[`, ``, "\xff", `{"window":"1s"}`} {
		for i := range consoleFuzzPaths {
			f.Add(byte(i), []byte(seed), "")
			f.Add(byte(i)|0xe0, []byte(seed), "http://evil.example")
		}
	}
	cfg := baseConfig()
	cfg.API.Keys = []string{consoleKey}
	cfg.Console.Enabled = true
	cfg.Console.LoginsPerIPPerMinute = 600
	cfg.AdminSeparate = true
	s, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	admin := httptest.NewServer(s.AdminHandler())
	f.Cleanup(func() {
		admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	cs := &consoleServer{admin: admin}
	sess := cs.login(f)
	statuses := []int{200, 400, 401, 403, 404, 415, 429}
	f.Fuzz(func(t *testing.T, which byte, body []byte, origin string) {
		path := consoleFuzzPaths[int(which)%len(consoleFuzzPaths)]
		method := http.MethodPost
		var rd io.Reader = bytes.NewReader(body)
		if strings.Contains(path, "?") || strings.HasPrefix(path, "/console/static") || path == "/console/api/session" {
			method, rd = http.MethodGet, nil
			path += url.PathEscape(string(body))
		}
		req, err := http.NewRequest(method, admin.URL+path, rd)
		if err != nil {
			return // not a request a client could send
		}
		req.Header.Set("Content-Type", "application/json")
		if which&0x20 == 0 {
			req.AddCookie(sess.cookie)
		}
		if which&0x40 == 0 {
			req.Header.Set(console.CSRFHeader, sess.csrf)
		}
		if origin == "" {
			origin = admin.URL
		}
		if strings.ContainsFunc(origin, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return // not a header a client could send
		}
		req.Header.Set("Origin", origin)
		resp, err := admin.Client().Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !slices.Contains(statuses, resp.StatusCode) {
			t.Fatalf("%s %s %q: status %d: %s", method, path, body, resp.StatusCode, raw)
		}
		if len(resp.Cookies()) > 0 && !(path == "/console/api/login" && resp.StatusCode == 200) {
			t.Fatalf("%s %s %q: set a cookie", method, path, body)
		}
		if resp.StatusCode == 200 {
			return
		}
		var e map[string]any
		if err := json.Unmarshal(raw, &e); err != nil || len(e) != 2 || e["request_id"] != resp.Header.Get("X-Request-Id") {
			t.Fatalf("%s %s %q: refusal body %s", method, path, body, raw)
		}
		if code, _ := e["error"].(string); !slices.Contains(protocol.Codes, protocol.Code(code)) && !slices.Contains(protocol.RefusalCodes, protocol.Code(code)) {
			t.Fatalf("%s %s %q: code %q is not a listed one", method, path, body, code)
		}
	})
}
