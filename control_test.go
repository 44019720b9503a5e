package rampart

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/broker"
	"github.com/rampart-rt/rampart/protocol"
)

// No client command, channel rule or API call can name the control
// channel: its name is not a valid channel name.
func TestControlChannelIsNoClientChannel(t *testing.T) {
	if protocol.ValidChannel(controlChannel) {
		t.Fatalf("%q is a valid client channel name", controlChannel)
	}
	s, _ := goAPIServer(t)
	if r := s.s.serverRule(controlChannel); r != nil {
		t.Fatalf("a rule matches the control channel: %+v", r)
	}
	c := s.dial(t, token(t, "alice"))
	c.fails("subscribe", `"channel":"`+controlChannel+`"`, string(protocol.CodeBadRequest))
	c.fails("publish", `"channel":"`+controlChannel+`","data":{}`, string(protocol.CodeBadRequest))
	if _, err := s.s.Publish(context.Background(), controlChannel, []byte(`{"op":"disconnect"}`), PublishOptions{}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("the Go API published on the control channel: %v", err)
	}
}

// On one node, the control message a call publishes comes back to it and
// is skipped: each connection is closed once, and nothing is refused.
func TestControlMessageSkipsItsOwnNode(t *testing.T) {
	s, logs := goAPIServer(t)
	a := s.dial(t, token(t, "alice"))
	n, err := s.s.Disconnect(context.Background(), Target{User: "alice"}, 4100, "bye")
	if err != nil || n != 1 {
		t.Fatalf("Disconnect = %d, %v; want 1", n, err)
	}
	a.expectClose(4100)
	// A message from another node, through the same broker channel: once
	// it has been applied, the call's own message, ahead of it on the
	// channel, has been delivered too.
	marker, _ := json.Marshal(control{Op: opDisconnect, Node: "n2", User: "nobody", Code: 4100, RequestID: "marker"})
	if _, err := s.s.broker.Publish(context.Background(), controlChannel, marker, "", "", broker.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForEvent(t, logs, "api_disconnect", "marker")
	for _, e := range logs.events(t) {
		if e["event"] == "control_refused" || e["event"] == "control_dropped" {
			t.Fatalf("log: %v", e)
		}
		if e["event"] == "api_disconnect" && e["origin"] == s.s.nodeID {
			t.Fatalf("this node acted on its own control message: %v", e)
		}
	}
}

// A control message from another node acts on this node's connections; a
// forged or malformed one is refused with a warning and acts on nothing.
func TestControlMessageFromAnotherNode(t *testing.T) {
	s, logs := goAPIServer(t)
	a, b := s.dial(t, token(t, "alice")), s.dial(t, token(t, "bob"))
	forged := []string{
		`{"op":"disconnect","node":"n2","user":"bob","code":1000}`,                       // not an application code
		`{"op":"disconnect","node":"n2","user":"bob","client":"x","code":4000}`,          // two targets
		`{"op":"disconnect","node":"n2","user":"bob","code":4000,"extra":1}`,             // unknown field
		`{"op":"drop_all","node":"n2","user":"bob"}`,                                     // unknown operation
		`{"op":"disconnect","node":"","user":"bob","code":4000}`,                         // no node
		`{"op":"subscribe","node":"n2","user":"bob","channel":"` + controlChannel + `"}`, // not a channel
		`{"op":"disconnect","node":"n2","user":"bob","code":4000} {}`,                    // two objects
		`[]`, `null`, ``,
	}
	for _, f := range forged {
		s.s.deliver(broker.Publication{Channel: controlChannel, Data: []byte(f)})
	}
	b.ok("ping", "") // still open
	refused := 0
	for _, e := range logs.events(t) {
		if e["event"] == "control_refused" {
			refused++
		}
	}
	if refused != len(forged) {
		t.Fatalf("%d control messages refused, want %d", refused, len(forged))
	}
	m, _ := json.Marshal(control{Op: opDisconnect, Node: "n2", User: "alice", Code: 4300, Reason: "elsewhere", RequestID: "req-7"})
	s.s.deliver(broker.Publication{Channel: controlChannel, Data: m})
	a.expectClose(4300)
	waitForEvent(t, logs, "api_disconnect", "req-7")
	logs.find(t, "api_disconnect", map[string]any{"user": "alice", "code": 4300, "connections": 1, "origin": "n2", "request_id": "req-7"})
	b.ok("ping", "")
}

func TestDecodeControl(t *testing.T) {
	good := []control{
		{Op: opDisconnect, Node: "n", User: "u", Code: 4000},
		{Op: opDisconnect, Node: "n", Client: "c", Code: 4999, Reason: strings.Repeat("r", protocol.MaxCloseReasonBytes), RequestID: "id"},
		{Op: opSubscribe, Node: "n", User: "u", Channel: "room:1"},
		{Op: opUnsubscribe, Node: "n", Client: "c", Channel: "room:1"},
	}
	for _, m := range good {
		b, _ := json.Marshal(m)
		got, err := decodeControl(b)
		if err != nil || got != m {
			t.Errorf("decodeControl(%s) = %+v, %v", b, got, err)
		}
	}
	bad := []string{
		`{"op":"disconnect","node":"n","user":"u","code":4000,"reason":"` + strings.Repeat("r", protocol.MaxCloseReasonBytes+1) + `"}`,
		`{"op":"disconnect","node":"n","user":"u","code":4000,"channel":"room:1"}`,
		`{"op":"subscribe","node":"n","user":"u","channel":"room:1","code":4000}`,
		`{"op":"subscribe","node":"n","user":"u"}`,
		`{"op":"disconnect","node":"n","user":"` + strings.Repeat("u", maxControlField+1) + `","code":4000}`,
		`{"op":"disconnect","node":"n","user":"u","code":70000}`,
		`{"op":"disconnect","node":"n","user":"u","code":4000}` + strings.Repeat(" ", maxControlBytes),
	}
	for _, b := range bad {
		if _, err := decodeControl([]byte(b)); !errors.Is(err, errBadControl) {
			t.Errorf("decodeControl(%.80s): %v, want errBadControl", b, err)
		}
	}
}

// FuzzDecodeControl: whatever the broker hands over, decodeControl either
// refuses it or returns a message that passes its own checks and encodes
// back to an equal message.
func FuzzDecodeControl(f *testing.F) {
	for _, s := range []string{
		`{"op":"disconnect","node":"n","user":"u","code":4000,"reason":"r","request_id":"x"}`,
		`{"op":"subscribe","node":"n","client":"c","channel":"room:1"}`,
		`{"op":"unsubscribe","node":"n","user":"u","channel":"a"}`,
		`{"op":"disconnect","node":"n","user":"u","code":4000}{}`,
		`{"op":"disconnect","node":"n","user":"u","code":4000,"op":"subscribe"}`,
		`{"OP":"disconnect","node":"n","user":"u","code":4000}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeControl(b)
		if err != nil {
			if !errors.Is(err, errBadControl) {
				t.Fatalf("error %v does not wrap errBadControl", err)
			}
			return
		}
		if err := m.check(); err != nil {
			t.Fatalf("decoded %+v fails its checks: %v", m, err)
		}
		again, _ := json.Marshal(m)
		if m2, err := decodeControl(again); err != nil || m2 != m {
			t.Fatalf("%+v encodes to %s, which decodes to %+v, %v", m, again, m2, err)
		}
	})
}

// waitForEvent polls logs until a line of event with requestID appears.
func waitForEvent(t *testing.T, logs *logBuffer, event, requestID string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		for _, e := range logs.events(t) {
			if e["event"] == event && e["request_id"] == requestID {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s line for %s within 5s:\n%s", event, requestID, logs.text())
		}
	}
}
