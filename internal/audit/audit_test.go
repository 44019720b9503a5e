package audit

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
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
// httptest on 127.0.0.1 with TLS, and returns the server.
func startAuditTarget(t *testing.T) *httptest.Server {
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
	ts.StartTLS()
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

// runAudit runs the audit with JSON output and returns the verdicts by
// check ID, and the error Run returned.
func runAudit(t *testing.T, o Options) (map[string]result, error) {
	t.Helper()
	o.Format = "json"
	var out bytes.Buffer
	a, err := runAuditor(context.Background(), o, &out)
	if a != nil && a.open.Load() != 0 {
		t.Errorf("%d connections still count against --max-connections after the audit: one was not closed", a.open.Load())
	}
	var rep report
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
		t.Fatalf("Run: %v; output is not a JSON report: %v\n%s", err, jerr, out.String())
	}
	by := map[string]result{}
	for _, r := range rep.Results {
		if r.Detail == "" {
			t.Errorf("%s: empty detail", r.ID)
		}
		if (r.Result == fail) != (r.Fix != "") {
			t.Errorf("%s: %s with fix %q: a fix comes with every finding and only then", r.ID, r.Result, r.Fix)
		}
		by[r.ID] = r
	}
	return by, err
}

func writeCA(t *testing.T, cert []byte) string {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

func wsURL(ts *httptest.Server, scheme string) string {
	return scheme + "://" + strings.TrimPrefix(strings.TrimPrefix(ts.URL, "http://"), "https://") + "/ws"
}

// Rampart with its defaults over TLS passes the transport checks.
func TestAuditRampartTLS(t *testing.T) {
	ts := startAuditTarget(t)
	by, err := runAudit(t, Options{URL: wsURL(ts, "wss"), Token: auditTestToken(t), Origin: auditTestOrigin, Profile: "rampart",
		CAFile: writeCA(t, ts.Certificate().Raw), Timeout: 3 * time.Second, IdleWait: time.Second, HeaderWait: time.Second, MaxConns: 20})
	for _, id := range []string{"baseline", "tls-versions", "tls-ciphers", "tls-certificate", "tls-hsts", "transport-plaintext", "cswsh-foreign-origin", "rampart-bad-signature"} {
		if r := by[id]; r.Result != pass {
			t.Errorf("%s: %s (%s), want PASS", id, r.Result, r.Detail)
		}
	}
	// Rampart pings after 25s: a one-second --idle-wait is too short to see it.
	if r := by["idle-connection"]; r.Result != fail || r.Severity != SevLow {
		t.Errorf("idle-connection: %s %s (%s), want a low FAIL", r.Result, r.Severity, r.Detail)
	}
	if !errors.Is(err, ErrFindings) {
		t.Errorf("Run: %v, want ErrFindings (the idle connection)", err)
	}
}

// weakHandler echoes; its upgrader accepts any origin, asks for no token
// and negotiates compression with gws's default 16 MiB limit.
type weakHandler struct{ gws.BuiltinEventHandler }

func (weakHandler) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

// A TLS endpoint with old versions, weak suites, a certificate nobody
// trusts, no HSTS, and compression without a limit: each check names it.
func TestAuditWeakTLSEndpoint(t *testing.T) {
	up := gws.NewUpgrader(weakHandler{}, &gws.ServerOption{PermessageDeflate: gws.PermessageDeflate{Enabled: true}})
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		go c.ReadLoop()
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.TLS = &tls.Config{MinVersion: tls.VersionTLS10, CipherSuites: append(weakSuites(), tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)}
	ts.StartTLS()
	t.Cleanup(ts.Close)

	by, err := runAudit(t, Options{URL: wsURL(ts, "wss"), Token: "a.b.c", Origin: auditTestOrigin, Timeout: 2 * time.Second,
		CAFile: writeCA(t, ts.Certificate().Raw), SizeCap: 64 << 10, IdleWait: time.Second, HeaderWait: time.Second, MaxConns: 10, FailOn: "high"})
	want := map[string]string{
		"tls-versions": fail, "tls-ciphers": fail, "tls-certificate": pass, "tls-hsts": fail,
		"compression-bomb": fail, "limit-message-size": fail, "auth-none": fail, "cswsh-foreign-origin": fail,
		// gws checks UTF-8 only when told to: its default lets it through.
		"rfc-invalid-utf8": fail, "rfc-unmasked": pass,
	}
	for id, w := range want {
		if r := by[id]; r.Result != w {
			t.Errorf("%s: %s (%s), want %s", id, r.Result, r.Detail, w)
		}
	}
	if !errors.Is(err, ErrFindings) {
		t.Errorf("Run: %v, want ErrFindings", err)
	}

	// Without the CA, the certificate is a finding.
	by, _ = runAudit(t, Options{URL: wsURL(ts, "wss"), Timeout: 2 * time.Second, Duration: time.Second})
	if r := by["baseline"]; r.Result != fail || !strings.Contains(r.Detail, "certificate") {
		t.Errorf("baseline without the CA: %s (%s), want FAIL naming the certificate", r.Result, r.Detail)
	}
}

func TestAuditRefusesBadOptions(t *testing.T) {
	ok := Options{URL: "ws://127.0.0.1:1/ws", Token: "a.b.c", Timeout: time.Second}
	cases := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"token with a comma", func(o *Options) { o.Token = "a.b.c,d" }, "not a bearer token"},
		{"cookie without =", func(o *Options) { o.Cookie = "session" }, "--cookie"},
		{"cookie with a newline", func(o *Options) { o.Cookie = "a=b\r\nX: y" }, "--cookie"},
		{"subprotocol list", func(o *Options) { o.Subprotocol = "a, b" }, "--subprotocol"},
		{"not ws", func(o *Options) { o.URL = "http://127.0.0.1:1/ws" }, "ws:// or wss://"},
		{"no host", func(o *Options) { o.URL = "ws:///ws" }, "needs a host"},
		{"origin without scheme", func(o *Options) { o.Origin = "app.example.com" }, "--origin must look like"},
		{"no timeout", func(o *Options) { o.Timeout = 0 }, "--timeout"},
		{"timeout over a minute", func(o *Options) { o.Timeout = 2 * time.Minute }, "--timeout"},
		{"duration over an hour", func(o *Options) { o.Duration = 2 * time.Hour }, "--duration"},
		{"one connection", func(o *Options) { o.MaxConns = 1 }, "--max-connections"},
		{"tiny size cap", func(o *Options) { o.SizeCap = 10 }, "--size-cap"},
		{"unknown profile", func(o *Options) { o.Profile = "phoenix" }, "--profile"},
		{"unknown severity", func(o *Options) { o.FailOn = "critical" }, "--fail-on"},
		{"CA file missing", func(o *Options) { o.CAFile = filepath.Join(t.TempDir(), "none.pem") }, "none.pem"},
	}
	for _, tc := range cases {
		o := ok
		tc.edit(&o)
		var out bytes.Buffer
		err := Run(context.Background(), o, &out)
		if err == nil || errors.Is(err, ErrFindings) || !strings.Contains(err.Error(), tc.want) || out.Len() != 0 {
			t.Errorf("%s: err %v, output %q; want an options error naming %q and no output", tc.name, err, out.String(), tc.want)
		}
	}
}

// --dry-run lists every check of the profile and connects to nothing.
func TestAuditDryRunConnectsToNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	var out bytes.Buffer
	err = Run(context.Background(), Options{URL: "ws://" + ln.Addr().String() + "/ws", Profile: "socketio", Timeout: time.Second, DryRun: true}, &out)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, c := range plan("socketio") {
		if !strings.Contains(out.String(), c.ID) {
			t.Errorf("the dry run does not list %s", c.ID)
		}
	}
	if strings.Contains(out.String(), "rampart-no-token") {
		t.Error("the dry run lists a check of another profile")
	}
	// Something the listener accepted would have been counted by now: the
	// dial, had there been one, happened before Run returned.
	probe, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = probe.Close()
	deadline := time.Now().Add(5 * time.Second)
	for accepted.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling the counter, not synchronising
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("%d connections accepted, want only the test's own", n)
	}
}

// No check assumes a protocol without a profile; every check has what the
// report and the docs need; IDs are unique.
func TestChecksAreComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range allChecks() {
		if seen[c.ID] {
			t.Errorf("%s: twice", c.ID)
		}
		seen[c.ID] = true
		if c.Title == "" || c.Sends == "" || c.Fix == "" || c.run == nil {
			t.Errorf("%s: title, sends, fix and run are all needed", c.ID)
		}
		if c.Profile != "" && !strings.HasPrefix(c.ID, c.Profile+"-") {
			t.Errorf("%s: a %s check's ID starts with its profile", c.ID, c.Profile)
		}
	}
	for _, c := range plan("") {
		if c.Profile != "" {
			t.Errorf("%s of profile %s runs without a profile", c.ID, c.Profile)
		}
	}
	doc, err := os.ReadFile("../../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	for id := range seen {
		if !strings.Contains(string(doc), "### `"+id+"`") {
			t.Errorf("docs/audit.md has no section for %s", id)
		}
	}
}

func TestLookalikes(t *testing.T) {
	cases := map[string][]string{
		"https://app.example.com":      {"https://app.example.com.evil.example", "https://evilexample.com"},
		"http://localhost:8080":        {"http://localhost.evil.example:8080", "http://evillocalhost:8080"},
		"https://example.com":          {"https://example.com.evil.example", "https://evilexample.com"},
		"https://a.b.example.co.uk:44": {"https://a.b.example.co.uk.evil.example:44", "https://evilb.example.co.uk:44"},
		"http://[::1]:9":               {"http://evil.example:9"},
	}
	for in, want := range cases {
		if got := lookalikes(in); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("lookalikes(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFindLeaks(t *testing.T) {
	leaky := []string{
		"Error: boom\n    at Server.<anonymous> (/srv/app/index.js:12:7)",
		"goroutine 17 [running]:\nmain.handler()\n\t/src/main.go:42",
		"Traceback (most recent call last):\n  File \"app.py\", line 3",
		"powered by Express",
		"cannot load /app/node_modules/ws/lib/receiver.js",
	}
	for _, s := range leaky {
		if len(findLeaks("x", s)) == 0 {
			t.Errorf("findLeaks(%q) found nothing", s)
		}
	}
	for _, s := range []string{"Bad Request", `{"code":"bad_request","message":"invalid upgrade request"}`, "message too big", "Upgrade Required"} {
		if f := findLeaks("x", s); len(f) != 0 {
			t.Errorf("findLeaks(%q) = %q, want nothing", s, f)
		}
	}
	h := http.Header{"Server": {"nginx/1.25.3"}, "X-Powered-By": {"PHP/8.2"}}
	if got := headerLeaks("x", h); len(got) != 2 {
		t.Errorf("headerLeaks = %q, want the Server version and X-Powered-By", got)
	}
	if got := headerLeaks("x", http.Header{"Server": {"nginx"}}); len(got) != 0 {
		t.Errorf("a Server without a version: %q", got)
	}
}

func TestProbeSizes(t *testing.T) {
	if got := probeSizes(5000); len(got) != 4 || got[0] != 1024 || got[2] != 4096 || got[3] != 5000 {
		t.Errorf("probeSizes(5000) = %v", got)
	}
	if got := probeSizes(4096); got[len(got)-1] != 4096 || len(got) != 3 {
		t.Errorf("probeSizes(4096) = %v", got)
	}
}

func TestInBandConnectParsers(t *testing.T) {
	sio := map[string]connectOutcome{
		`40{"sid":"x"}`: connectAccepted, `44{"message":"unauthorized"}`: connectRefused, "41": connectRefused,
		`0{"sid":"a"}`: connectUnknown, "2": connectUnknown, "": connectUnknown,
	}
	for in, want := range sio {
		if got := socketIOConnect([]byte(in)); got != want {
			t.Errorf("socketIOConnect(%q) = %d, want %d", in, got, want)
		}
	}
	cf := map[string]connectOutcome{
		`{"id":1,"connect":{"client":"c","version":"5"}}`:               connectAccepted,
		`{"id":1,"error":{"code":101,"message":"unauthorized"}}`:        connectRefused,
		"{\"push\":{}}\n{\"id\":1,\"error\":{\"code\":109}}":            connectRefused,
		`{"id":2,"connect":{}}`:                                         connectUnknown,
		`not json`:                                                      connectUnknown,
		"{\"id\":1,\"connect\":{\"client\":\"c\"}}\n{\"id\":1,\"x\":1}": connectAccepted,
	}
	for in, want := range cf {
		if got := centrifugoConnect([]byte(in)); got != want {
			t.Errorf("centrifugoConnect(%q) = %d, want %d", in, got, want)
		}
	}
}
