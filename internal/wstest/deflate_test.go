package wstest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReadMessageInflates(t *testing.T) {
	client, server := pipe(t)
	text := strings.Repeat("compressible ", 50)
	go func() {
		_ = server.WriteFrame(Frame{Opcode: OpText, Payload: Deflate([]byte(text)), RSV: RSV1, Unmasked: true})
		_ = server.WriteFrame(Frame{Opcode: OpText, Payload: []byte("plain"), Unmasked: true})
		_ = server.WriteFrame(Frame{Opcode: OpText, Payload: Deflate(make([]byte, 4096)), RSV: RSV1, Unmasked: true})
	}()
	client.SetInflate(true)
	client.SetReadLimit(1024)
	if _, got, err := client.ReadMessage(time.Second); err != nil || string(got) != text {
		t.Fatalf("compressed message: %q, %v", got, err)
	}
	if _, got, err := client.ReadMessage(time.Second); err != nil || string(got) != "plain" {
		t.Fatalf("plain message: %q, %v", got, err)
	}
	if _, _, err := client.ReadMessage(time.Second); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a message inflating past the limit: %v, want ErrTooLarge", err)
	}
	if n := client.Inflated(); n != 1 {
		t.Fatalf("Inflated() = %d, want 1", n)
	}
}

func TestInflateRefusesGarbage(t *testing.T) {
	if _, err := Inflate([]byte{0xff, 0xff, 0xff}, 100); err == nil || errors.Is(err, ErrTooLarge) {
		t.Fatalf("garbage: %v, want an inflate error", err)
	}
}
