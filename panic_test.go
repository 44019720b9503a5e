package rampart

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/broker/memory"
	"github.com/rampart-rt/rampart/protocol"
)

// panickyBroker is the in-memory broker with a bug: publishing to one
// channel panics, as a faulty broker implementation might.
type panickyBroker struct{ *memory.Broker }

func (b panickyBroker) Publish(ctx context.Context, ch string, data []byte, user, client string, o broker.PublishOptions) (broker.Position, error) {
	if ch == "chat:boom" {
		panic("broker bug: secret internal detail")
	}
	return b.Broker.Publish(ctx, ch, data, user, client, o)
}

// panickyTransport is a faulty HTTP client transport for rpc calls: method
// "boom" panics in the rpc goroutine; the rest reach the real backend.
type panickyTransport struct{}

func (panickyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if body, _ := r.GetBody(); body != nil {
		var b strings.Builder
		buf := make([]byte, 512)
		n, _ := body.Read(buf)
		b.Write(buf[:n])
		if strings.Contains(b.String(), `"method":"boom"`) {
			panic("transport bug: secret internal detail")
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

func panicServer(t *testing.T) (*testServer, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	b := panickyBroker{memory.New()}
	t.Cleanup(func() { b.Close() })
	var calls atomic.Int32
	backend := rpcBackend(t, &calls)
	s := startServer(t, func(c *Config) {
		c.Broker = b
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		c.API.Keys = []string{apiKeyA}
		c.RPC = RPC{URL: backend.URL, Timeout: time.Second, MaxResponseBytes: 1000,
			HTTPClient: &http.Client{Transport: panickyTransport{}},
			Methods:    map[string][]string{"boom": {"*"}, "echo": {"*"}}}
	})
	return s, logs
}

// A panic in a command answers that command "internal" with a request id,
// logs the stack under that id, counts it, and closes that connection alone
// with 1011.
func TestPanicInACommandClosesOnlyThatConnection(t *testing.T) {
	s, logs := panicServer(t)
	u := s.dial(t, token(t, "alice"))
	other := s.dial(t, token(t, "bob"))
	other.subscribe("chat:fine")
	e := u.fails("publish", `"channel":"chat:boom","data":1`, "internal")
	if e.Message != "internal error" || strings.Contains(e.Message, "secret") || e.RequestID == "" {
		t.Fatalf("internal detail reached the client: %+v", e)
	}
	u.expectClose(protocol.CloseInternalError)
	ev := logs.find(t, "panic", map[string]any{"request_id": e.RequestID, "where": "command"})
	if !strings.Contains(ev["panic"].(string), "broker bug") || !strings.Contains(ev["stack"].(string), "panickyBroker") {
		t.Fatalf("the log lacks the panic or its stack: %v", ev)
	}
	if v := metricValue(t, s, `rampart_panics_total{where="command"}`); v != 1 {
		t.Fatalf("rampart_panics_total{where=command} = %v, want 1", v)
	}
	// Everyone else, and the server, go on.
	other.ok("ping", "")
	other.publish("chat:fine", `1`)
	s.dial(t, token(t, "carol")).ok("ping", "")
	s.waitConnections(t, 2)
}

// A panic in an rpc call's goroutine closes that connection with 1011.
func TestPanicInAnRPCCallClosesOnlyThatConnection(t *testing.T) {
	s, logs := panicServer(t)
	u := s.dial(t, token(t, "alice"))
	other := s.dial(t, token(t, "bob"))
	u.send(`{"id":7,"action":"rpc","method":"boom","data":{}}`)
	u.expectClose(protocol.CloseInternalError)
	logs.find(t, "panic", map[string]any{"where": "rpc", "stack": nil})
	other.ok("rpc", `"method":"echo","data":1`)
	s.waitConnections(t, 1)
}

// A panic in an HTTP API handler answers 500 with a request id and the
// server goes on.
func TestPanicInAnAPIHandlerAnswers500(t *testing.T) {
	s, logs := panicServer(t)
	u := s.dial(t, token(t, "alice"))
	status, body, hdr := s.apiCall(t, "POST", "/api/publish", apiKeyA, `{"channel":"chat:boom","data":1}`)
	if status != http.StatusInternalServerError || body["error"] != "internal" || body["request_id"] != hdr.Get("X-Request-Id") {
		t.Fatalf("panic in the API: %d %v", status, body)
	}
	if strings.Contains(strings.ToLower(strings.Join(mapValues(body), " ")), "secret") {
		t.Fatalf("internal detail in the answer: %v", body)
	}
	logs.find(t, "panic", map[string]any{"where": "api", "request_id": body["request_id"]})
	status, _, _ = s.apiCall(t, "POST", "/api/publish", apiKeyA, `{"channel":"chat:fine","data":1}`)
	if status != http.StatusOK {
		t.Fatalf("the API after a panic: %d", status)
	}
	u.ok("ping", "")
}

func mapValues(m map[string]any) []string {
	var out []string
	for _, v := range m {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// A panic on a connection's reader goroutine (in the WebSocket library's
// read loop, which gws does not recover) closes that connection with 1011,
// gives back everything it held, and leaves the rest running. The panic is
// raised under the reader's own deferred handler, as gws's code would.
func TestPanicInTheReaderClosesOnlyThatConnection(t *testing.T) {
	s, logs := panicServer(t)
	u := s.dial(t, token(t, "alice"))
	u.subscribe("chat:a")
	other := s.dial(t, token(t, "bob"))
	var victim *conn
	for _, c := range s.s.reg.snapshot() {
		if c.identityClaims().Subject == "alice" {
			victim = c
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer victim.readerPanicked()
		panic("read loop bug")
	}()
	<-done
	u.expectClose(protocol.CloseInternalError)
	s.waitConnections(t, 1)
	logs.find(t, "panic", map[string]any{"where": "reader", "request_id": victim.requestID, "stack": nil})
	if v := metricValue(t, s, `rampart_panics_total{where="reader"}`); v != 1 {
		t.Fatalf("rampart_panics_total{where=reader} = %v, want 1", v)
	}
	other.publish("chat:a", `1`) // alice's subscription is gone with her
	other.ok("ping", "")
	s.dial(t, token(t, "alice")).ok("ping", "") // her per-user slot was given back
}
