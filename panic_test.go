package rampart

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/broker/memory"
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

func TestPanicInACommandIsRecovered(t *testing.T) {
	logs := &logBuffer{}
	b := panickyBroker{memory.New()}
	t.Cleanup(func() { b.Close() })
	s := startServer(t, func(c *Config) {
		c.Broker = b
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})
	u := s.dial(t, token(t, "alice"))
	other := s.dial(t, token(t, "bob"))
	e := u.fails("publish", `"channel":"chat:boom","data":1`, "internal")
	if e.Message != "internal error" || strings.Contains(e.Message, "secret") {
		t.Fatalf("internal detail reached the client: %+v", e)
	}
	ev := logs.find(t, "internal_error", map[string]any{"request_id": e.RequestID})
	if !strings.Contains(ev["error"].(string), "broker bug") {
		t.Fatalf("the log lacks the panic: %v", ev)
	}
	// The connection and the server stay up.
	u.ok("ping", "")
	u.publish("chat:fine", `1`)
	other.ok("ping", "")
	s.dial(t, token(t, "carol"))
}
