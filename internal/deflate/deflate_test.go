package deflate

import (
	"bytes"
	"compress/flate"
	"io"
	"strings"
	"sync"
	"testing"
)

// inflate decodes a permessage-deflate payload with the standard library,
// an implementation other than the one that compressed it.
func inflate(t *testing.T, p []byte) []byte {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

func TestCompressRoundTrip(t *testing.T) {
	for _, s := range []string{"", "a", `{"push":"publication","channel":"chat","data":{"text":"hi"}}`, strings.Repeat(`{"k":"v"},`, 2000)} {
		got := Compress([]byte(s))
		if bytes.HasSuffix(got, tail) && len(s) > 0 {
			t.Errorf("%d bytes: the sync flush's tail was left on", len(s))
		}
		if back := inflate(t, got); string(back) != s {
			t.Errorf("round trip of %d bytes gave %d bytes", len(s), len(back))
		}
	}
}

// Every connection gets the same bytes, and exactly one call compresses,
// however many ask at once.
func TestDeflatedOnce(t *testing.T) {
	m := NewMessage([]byte(strings.Repeat("hello, world ", 100)))
	const callers = 16
	var wg sync.WaitGroup
	results := make([][]byte, callers)
	fresh := make([]bool, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], fresh[i] = m.Deflated()
		}()
	}
	wg.Wait()
	n := 0
	for i := range callers {
		if fresh[i] {
			n++
		}
		if !bytes.Equal(results[i], results[0]) {
			t.Fatalf("caller %d got other bytes", i)
		}
	}
	if n != 1 {
		t.Fatalf("%d callers compressed, want 1", n)
	}
	if string(inflate(t, results[0])) != string(m.Data) {
		t.Fatal("the compressed form does not inflate to the data")
	}
}

// BenchmarkCompress compresses a 1 KiB JSON publication; one allocation
// (the result) once the pool is warm (the race detector's pool drops
// items, so this is a benchmark, not a test).
func BenchmarkCompress(b *testing.B) {
	p := []byte(strings.Repeat(`{"user":"alice","text":"hello"}`, 33))
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		Compress(p)
	}
}
