package wstest

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestAppendHeaderForms(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	cases := []struct {
		name string
		h    Header
		want []byte
	}{
		{"shortest 7-bit", Header{Opcode: OpText, Length: 5, MaskKey: key}, []byte{0x81, 0x85, 1, 2, 3, 4}},
		{"shortest 16-bit", Header{Opcode: OpBinary, Length: 300, Unmasked: true}, []byte{0x82, 126, 0x01, 0x2c}},
		{"shortest 64-bit", Header{Opcode: OpText, Length: 1 << 16, Unmasked: true}, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
		{"64-bit top bit set", Header{Opcode: OpText, Length: 1 << 63, Form: Length64, MaskKey: key},
			[]byte{0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}},
		{"16-bit form of a small length", Header{Opcode: OpPing, Length: 3, Form: Length16, Unmasked: true}, []byte{0x89, 126, 0, 3}},
		{"7-bit form reading as 127", Header{Opcode: OpText, Length: 255, Form: Length7, Unmasked: true}, []byte{0x81, 127}},
		{"continuation, not final, RSV", Header{Opcode: OpContinuation, NotFinal: true, RSV: RSV1 | RSV3, Unmasked: true}, []byte{0x50, 0}},
	}
	for _, tc := range cases {
		if got := AppendHeader(nil, tc.h); !bytes.Equal(got, tc.want) {
			t.Errorf("%s: % x, want % x", tc.name, got, tc.want)
		}
	}
	f := Frame{Opcode: OpText, Payload: []byte("hi")}
	if got := AppendFrame(nil, f, key); !bytes.Equal(got, []byte{0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2}) {
		t.Errorf("AppendFrame: % x", got)
	}
}

func TestReadServerFrame(t *testing.T) {
	valid := [][]byte{
		{0x81, 2, '{', '}'},
		{0x89, 0},
		{0x8A, 1, 'p'},
		{0x88, 0},
		append([]byte{0x88, 16, 0x03, 0xEA}, "protocol error"...),
		append([]byte{0x88, 2}, 0x0F, 0xA1), // 4001
		append([]byte{0x81, 126, 0, 126}, make([]byte, 126)...),
		{0x01, 1, 'a'}, // a first fragment is for the caller to judge
	}
	invalid := map[string][]byte{
		"masked":                 {0x81, 0x80, 1, 2, 3, 4},
		"RSV1":                   {0xC1, 0},
		"reserved opcode 3":      {0x83, 0},
		"reserved opcode 0xB":    {0x8B, 0},
		"fragmented ping":        {0x09, 0},
		"long pong":              append([]byte{0x8A, 126, 0, 126}, make([]byte, 126)...),
		"16-bit form of 5":       append([]byte{0x81, 126, 0, 5}, "hello"...),
		"64-bit form of 200":     append([]byte{0x81, 127, 0, 0, 0, 0, 0, 0, 0, 200}, make([]byte, 200)...),
		"64-bit length, top bit": {0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 0},
		"close of one byte":      {0x88, 1, 3},
		"close 1005":             {0x88, 2, 0x03, 0xED},
		"close 999":              {0x88, 2, 0x03, 0xE7},
		"close reason not UTF-8": {0x88, 3, 0x03, 0xE8, 0xFF},
	}
	for i, b := range valid {
		if _, err := readOne(t, b); err != nil {
			t.Errorf("valid frame %d (% x): %v", i, b, err)
		}
	}
	for name, b := range invalid {
		if _, err := readOne(t, b); !errors.Is(err, ErrBadServerFrame) {
			t.Errorf("%s: err %v, want ErrBadServerFrame", name, err)
		}
	}
}

func readOne(t *testing.T, b []byte) (Frame, error) {
	t.Helper()
	a, c := pipe(t)
	go func() { _ = a.WriteRaw(b) }()
	return c.ReadServerFrame(time.Second)
}

// After SetInflate(true), a final compressed text or binary frame is
// allowed and comes back inflated; RSV1 anywhere else, and compressed data
// that does not inflate within the read limit, stay invalid.
func TestReadServerFrameInflates(t *testing.T) {
	text := []byte(`{"push":"welcome","data":{"client":"c1"}}`)
	frame := func(b0 byte, payload []byte) []byte {
		return append(AppendHeader(nil, Header{Opcode: Opcode(b0 & 0xF), NotFinal: b0&0x80 == 0, RSV: b0 >> 4 & 7, Unmasked: true, Length: uint64(len(payload))}), payload...)
	}
	read := func(inflate bool, b []byte) (Frame, error) {
		t.Helper()
		a, c := pipe(t)
		c.SetInflate(inflate)
		c.SetReadLimit(1 << 20)
		go func() { _ = a.WriteRaw(b) }()
		return c.ReadServerFrame(time.Second)
	}
	for _, op := range []byte{0xC1, 0xC2} {
		f, err := read(true, frame(op, Deflate(text)))
		if err != nil || !bytes.Equal(f.Payload, text) || f.RSV != RSV1 {
			t.Errorf("compressed opcode %#x: %q, RSV %03b, %v", op&0xF, f.Payload, f.RSV, err)
		}
		if _, err := read(false, frame(op, Deflate(text))); !errors.Is(err, ErrBadServerFrame) {
			t.Errorf("compressed opcode %#x without SetInflate: err %v, want ErrBadServerFrame", op&0xF, err)
		}
	}
	invalid := map[string][]byte{
		"RSV1 on a first fragment": frame(0x41, Deflate(text)),
		"RSV1 on a ping":           frame(0xC9, nil),
		"RSV2 on text":             frame(0xA1, text),
		"not deflate":              frame(0xC1, []byte{0xFF, 0xFF, 0xFF}),
		"inflating past the limit": frame(0xC1, Deflate(make([]byte, 2<<20))),
	}
	for name, b := range invalid {
		if _, err := read(true, b); !errors.Is(err, ErrBadServerFrame) {
			t.Errorf("%s: err %v, want ErrBadServerFrame", name, err)
		}
	}
}
