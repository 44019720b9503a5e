package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is an output the test can read while the writer writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A line reaches the output by itself within flushEvery, lines written
// at once stay whole and in order, and Close writes what is left.
func TestLogWriterFlushesWholeLines(t *testing.T) {
	out := &syncBuffer{}
	lw := newLogWriter(out)
	start := time.Now()
	fmt.Fprintln(lw, "first")
	for out.String() == "" {
		if time.Since(start) > 20*flushEvery {
			t.Fatal("a buffered line never reached the output")
		}
		time.Sleep(flushEvery / 10)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				fmt.Fprintf(lw, "g%d line %04d %s\n", g, i, strings.Repeat("x", 200))
			}
		}()
	}
	wg.Wait()
	lw.Close()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1+4*500 {
		t.Fatalf("%d lines, want %d", len(lines), 1+4*500)
	}
	next := map[string]int{}
	for _, l := range lines[1:] {
		var g string
		var i int
		if _, err := fmt.Sscanf(l, "%s line %d", &g, &i); err != nil || len(l) != len("g0 line 0000 ")+200 || i != next[g] {
			t.Fatalf("torn or out-of-order line %q", l)
		}
		next[g]++
	}
}
