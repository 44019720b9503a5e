package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/rampart-rt/rampart"
	"github.com/rampart-rt/rampart/internal/devtoken"
	"github.com/rampart-rt/rampart/policy"
)

var auditTestSecret = []byte("audit-test-secret-0123456789abcdef-0123456789")

const auditTestOrigin = "https://app.example.com"

// startAuditTarget serves a rampart server with its defaults, behind
// httptest on 127.0.0.1 (with TLS when tlsOn), and returns the server.
func startAuditTarget(t *testing.T, tlsOn bool) *httptest.Server {
	t.Helper()
	srv, err := rampart.New(rampart.Config{
		Origins:  rampart.Origins{Allow: []string{auditTestOrigin}},
		Auth:     rampart.Auth{HMACSecret: auditTestSecret},
		Channels: []policy.Rule{{Pattern: "news:*", Subscribe: []string{"user"}, Publish: []string{"admin"}}},
	})
	if err != nil {
		t.Fatalf("rampart.New: %v", err)
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the TLS 1.1 probe's refusal
	if tlsOn {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return ts
}

func auditTestToken(t *testing.T) string {
	t.Helper()
	tok, err := devtoken.Mint(auditTestSecret, devtoken.Claims{Sub: "alice", Roles: []string{"user"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// runAudit runs the audit with JSON output and returns the verdicts, by
// check name and in order, and the error Run returned.
func runAudit(t *testing.T, o Options) (map[string]result, []result, error) {
	t.Helper()
	o.JSON = true
	var out bytes.Buffer
	err := Run(context.Background(), o, &out)
	var results []result
	if jerr := json.Unmarshal(out.Bytes(), &results); jerr != nil {
		t.Fatalf("Run: %v; output is not a JSON array: %v\n%s", err, jerr, out.String())
	}
	if len(results) != len(checks) {
		t.Fatalf("%d results, want %d", len(results), len(checks))
	}
	by := map[string]result{}
	for _, r := range results {
		if r.Detail == "" {
			t.Errorf("%s: empty detail", r.Check)
		}
		by[r.Check] = r
	}
	return by, results, err
}

func auditWSURL(ts *httptest.Server, scheme string) string {
	return scheme + "://" + strings.TrimPrefix(strings.TrimPrefix(ts.URL, "http://"), "https://") + "/ws"
}

func TestAuditRampartPlaintextLoopback(t *testing.T) {
	ts := startAuditTarget(t, false)
	tok := auditTestToken(t)
	by, results, err := runAudit(t, Options{URL: auditWSURL(ts, "ws"), Token: tok, Origin: auditTestOrigin, Timeout: 3 * time.Second})
	skipped := map[string]bool{"tls-version": true, "hsts": true} // ws:// has no TLS
	for _, r := range results {
		want := pass
		if skipped[r.Check] {
			want = skip
		}
		if r.Result != want {
			t.Errorf("%s: %s (%s), want %s", r.Check, r.Result, r.Detail, want)
		}
		if strings.Contains(r.Detail, tok) {
			t.Errorf("%s: the detail holds the token", r.Check)
		}
	}
	if err != nil {
		t.Errorf("Run: %v, want nil", err)
	}
	if d := by["baseline"].Detail; !strings.Contains(d, "max_message_bytes 16384") {
		t.Errorf("baseline detail %q", d)
	}

	var text bytes.Buffer
	printReport(&text, "ws://x/ws", results)
	for _, line := range []string{"PASS  baseline ", "SKIP  hsts ", "20 checks: 18 pass, 2 skip"} {
		if !strings.Contains(text.String(), line) {
			t.Errorf("text report lacks %q:\n%s", line, text.String())
		}
	}
}

func TestAuditRampartTLS(t *testing.T) {
	ts := startAuditTarget(t, true)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	_, results, err := runAudit(t, Options{URL: auditWSURL(ts, "wss"), Token: auditTestToken(t), Origin: auditTestOrigin, CAFile: ca, Timeout: 3 * time.Second})
	for _, r := range results {
		if r.Result != pass {
			t.Errorf("%s: %s (%s), want PASS", r.Check, r.Result, r.Detail)
		}
	}
	if err != nil {
		t.Errorf("Run: %v, want nil", err)
	}
}

// weakHandler echoes; its upgrader accepts any origin, asks for no token,
// selects no subprotocol and negotiates compression.
type weakHandler struct{ gws.BuiltinEventHandler }

func (weakHandler) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

func TestAuditWeakEndpointFails(t *testing.T) {
	up := gws.NewUpgrader(weakHandler{}, &gws.ServerOption{
		PermessageDeflate: gws.PermessageDeflate{Enabled: true},
	})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
	}))
	t.Cleanup(ts.Close)

	by, _, err := runAudit(t, Options{URL: auditWSURL(ts, "ws"), Token: auditTestToken(t), Origin: auditTestOrigin, Timeout: 2 * time.Second})
	if !errors.Is(err, ErrFailed) {
		t.Errorf("Run: %v, want ErrFailed", err)
	}
	want := map[string]string{
		"baseline": fail, "no-token": fail, "alg-none": fail, "bad-signature": fail,
		"origin-evil": fail, "origin-null": fail, "origin-suffix": fail, "origin-missing": info,
		"no-subprotocol": fail, "query-token": warn, "bearer-echo": fail,
		"binary-frame": fail, "invalid-utf8": fail, "too-big": fail, "unknown-field": fail,
		"compression": fail, "refusal-headers": fail, "tls-version": skip, "hsts": skip,
		"plaintext": pass,
	}
	for name, w := range want {
		if got := by[name]; got.Result != w {
			t.Errorf("%s: %s (%s), want %s", name, got.Result, got.Detail, w)
		}
	}
}

func TestAuditRefusesBadOptions(t *testing.T) {
	ok := Options{URL: "ws://127.0.0.1:1/ws", Token: "a.b.c", Timeout: time.Second}
	cases := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no token", func(o *Options) { o.Token = "" }, "--token is required"},
		{"token with a comma", func(o *Options) { o.Token = "a.b.c,d" }, "not a JWT"},
		{"not ws", func(o *Options) { o.URL = "http://127.0.0.1:1/ws" }, "ws:// or wss://"},
		{"no host", func(o *Options) { o.URL = "ws:///ws" }, "needs a host"},
		{"origin without scheme", func(o *Options) { o.Origin = "app.example.com" }, "--origin must look like"},
		{"no timeout", func(o *Options) { o.Timeout = 0 }, "--timeout"},
		{"timeout over a minute", func(o *Options) { o.Timeout = 2 * time.Minute }, "--timeout"},
		{"CA file missing", func(o *Options) { o.CAFile = filepath.Join(t.TempDir(), "none.pem") }, "none.pem"},
	}
	for _, tc := range cases {
		o := ok
		tc.edit(&o)
		var out bytes.Buffer
		err := Run(context.Background(), o, &out)
		if err == nil || errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), tc.want) || out.Len() != 0 {
			t.Errorf("%s: err %v, output %q; want an options error naming %q and no output", tc.name, err, out.String(), tc.want)
		}
	}
}

func TestAuditPlaintextRemoteWarns(t *testing.T) {
	a, err := newAuditor(Options{URL: "ws://rt.example.com/ws", Token: "a.b.c", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if v := a.checkPlaintext(context.Background()); v.result != warn {
		t.Errorf("ws:// to a remote host: %s, want WARN", v.result)
	}
	if a.hostPort != "rt.example.com:80" || a.path != "/ws" {
		t.Errorf("hostPort %q path %q", a.hostPort, a.path)
	}
}
