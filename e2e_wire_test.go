package rampart

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/rampart-rt/rampart/internal/wstest"
	"github.com/rampart-rt/rampart/protocol"
)

// Attacks below the JSON protocol: frames and requests a correct client
// never sends, written byte by byte over real sockets.

// A 64-bit payload length with its top bit set is a negative int to a
// parser that converts it carelessly. It must fail only the connection that
// sent it, with 1002, and never the process or the other connections.
func TestFrameLengthTopBitDoesNotStopTheServer(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	bystander := srv.dial(t, token(t, "bob"))
	bystander.subscribe("chat:wire")
	cases := []struct {
		name   string
		b0     byte
		length uint64
	}{
		{"text, top bit only", 0x81, 1 << 63},
		{"binary, top bit only", 0x82, 1 << 63},
		{"text, all ones", 0x81, ^uint64(0)},
		{"first fragment, top bit and a small length", 0x01, 1<<63 | 16},
		{"continuation, top bit only", 0x80, 1 << 63},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			attacker := srv.dial(t, token(t, "mallory"))
			frame := []byte{tc.b0, 0xFF}
			frame = binary.BigEndian.AppendUint64(frame, tc.length)
			frame = append(frame, 0x11, 0x22, 0x33, 0x44)           // mask key
			frame = append(frame, bytes.Repeat([]byte{'x'}, 64)...) // some payload, as if the length were true
			if err := attacker.ws.WriteRaw(frame); err != nil {
				t.Fatalf("write: %v", err)
			}
			expectListedClose(t, attacker.ws, protocol.CloseProtocolError)
			srv.waitConnections(t, 1)

			// The other connection goes on as if nothing happened.
			off := bystander.publish("chat:wire", `{"still":"here"}`)
			p := bystander.nextPush()
			if p.Push != "publication" || p.Channel != "chat:wire" || p.Offset != off || string(p.Data) != `{"still":"here"}` {
				t.Fatalf("bystander got %s, want its publication at offset %d", p.raw, off)
			}
			bystander.ok("ping", "")
		})
	}
}

// Every way gws fails a read ends with a close frame whose code is the one
// the protocol documents and whose reason is the protocol's text for that
// code, never gws's own error text.
func TestCloseReasonsComeFromTheProtocolList(t *testing.T) {
	t.Parallel()
	const maxBytes = 1024
	srv := startServer(t, func(c *Config) { c.Limits.MaxMessageBytes = maxBytes })
	ping := []byte(`{"id":1,"action":"ping"}`)
	frame := func(f wstest.Frame) []byte { return wstest.AppendFrame(nil, f, [4]byte{9, 8, 7, 6}) }
	cases := []struct {
		name  string
		bytes []byte
		want  uint16
	}{
		{"reserved opcode 3", frame(wstest.Frame{Opcode: 0x3, Payload: ping}), protocol.CloseProtocolError},
		{"reserved control opcode 0xB", frame(wstest.Frame{Opcode: 0xB}), protocol.CloseProtocolError},
		{"continuation without a start", frame(wstest.Frame{Opcode: wstest.OpContinuation, Payload: ping}), protocol.CloseProtocolError},
		{"invalid UTF-8 text", frame(wstest.Frame{Opcode: wstest.OpText, Payload: []byte("{\"id\":1,\"action\":\"\xc3\x28\"}")}), protocol.CloseInvalidPayload},
		{"text over max_message_bytes", frame(wstest.Frame{Opcode: wstest.OpText, Payload: padPing(maxBytes + 1)}), protocol.CloseMessageTooBig},
		{"fragments over max_message_bytes", append(
			frame(wstest.Frame{Opcode: wstest.OpText, Payload: padPing(maxBytes + 1)[:maxBytes/2], NotFinal: true}),
			frame(wstest.Frame{Opcode: wstest.OpContinuation, Payload: padPing(maxBytes + 1)[maxBytes/2:]})...), protocol.CloseMessageTooBig},
		{"unmasked frame", frame(wstest.Frame{Opcode: wstest.OpText, Payload: ping, Unmasked: true}), protocol.CloseProtocolError},
		{"ping over 125 bytes", frame(wstest.Frame{Opcode: wstest.OpPing, Payload: make([]byte, 126)}), protocol.CloseProtocolError},
		{"fragmented ping", frame(wstest.Frame{Opcode: wstest.OpPing, Payload: []byte("a"), NotFinal: true}), protocol.CloseProtocolError},
		{"RSV1 set", frame(wstest.Frame{Opcode: wstest.OpText, Payload: ping, RSV: wstest.RSV1}), protocol.CloseProtocolError},
		{"binary frame", frame(wstest.Frame{Opcode: wstest.OpBinary, Payload: ping}), protocol.CloseUnsupportedData},
		{"close with a 1-byte payload", frame(wstest.Frame{Opcode: wstest.OpClose, Payload: []byte{0x03}}), protocol.CloseProtocolError},
		{"close with code 1005", frame(wstest.Frame{Opcode: wstest.OpClose, Payload: []byte{0x03, 0xED}}), protocol.CloseProtocolError},
		{"close reason not UTF-8", frame(wstest.Frame{Opcode: wstest.OpClose, Payload: []byte{0x03, 0xE8, 0xFF}}), protocol.CloseInvalidPayload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := srv.dial(t, token(t, "alice"))
			if err := c.ws.WriteRaw(tc.bytes); err != nil {
				t.Fatalf("write: %v", err)
			}
			expectListedClose(t, c.ws, tc.want)
		})
	}
	srv.waitConnections(t, 0)
}

// HTTP/1.0 has no Upgrade mechanism (RFC 6455 requires HTTP/1.1 or
// later): a request that carries every WebSocket header and a valid token
// is still refused with 400 and never switches protocols.
func TestHTTP10UpgradeRefused(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	req := srv.request(token(t, "alice"))
	req.Proto = "HTTP/1.0"
	_, resp, err := srv.dialRaw(t, req, wstest.Options{})
	expectRefused(t, resp, err, http.StatusBadRequest, "bad_handshake")
	if n := srv.s.Connections(); n != 0 {
		t.Fatalf("%d connections open after a refused HTTP/1.0 upgrade", n)
	}
}

// expectListedClose reads until the server's close frame, checking every
// frame on the way as RFC 6455 requires of a server, and wants code with
// exactly the reason protocol.CloseCodes gives it, then the socket closed.
func expectListedClose(t *testing.T, ws *wstest.Conn, code uint16) {
	t.Helper()
	want, listed := protocol.CloseCodes[code]
	if !listed {
		t.Fatalf("close %d is not in protocol.CloseCodes", code)
	}
	deadline := time.Now().Add(readTimeout)
	for {
		f, err := ws.ReadServerFrame(time.Until(deadline))
		if errors.Is(err, io.EOF) {
			t.Fatalf("the server closed the socket without a close frame, want close %d %q", code, want)
		}
		if err != nil {
			t.Fatalf("want close %d %q: %v", code, want, err)
		}
		if f.Opcode != wstest.OpClose {
			continue
		}
		got := wstest.CloseOf(f)
		if got.Code != code || got.Reason != want {
			t.Fatalf("close %d %q, want %d %q", got.Code, got.Reason, code, want)
		}
		if !ws.WaitEOF(readTimeout) {
			t.Fatalf("the server did not close the socket after close %d", code)
		}
		return
	}
}
