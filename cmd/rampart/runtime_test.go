package main

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// gcPercent reads go_gc_gogc_percent, the collector's percent, from a
// server's /metrics.
func gcPercent(t *testing.T, addr string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_gc_gogc_percent "); ok {
			p, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("go_gc_gogc_percent %q", v)
			}
			return p
		}
	}
	t.Fatal("no go_gc_gogc_percent in /metrics")
	return 0
}

// `rampart serve` collects at GOGC 40, but with a small live heap lets the
// heap grow by 16 MiB first (the tuner's percent is over 40, at most 400,
// which puts the runtime's minimum goal at 16 MiB); a GOGC the operator
// set is kept as it is.
func TestServeTunesTheCollector(t *testing.T) {
	bin := buildRampart(t, t.TempDir())
	if p := gcPercent(t, devServerWith(t, bin, []string{"GOGC="}, "--listen", "127.0.0.1:0")); p <= defaultGOGC || p > 400 {
		t.Errorf("rampart serve with a small heap: GC percent %d, want over %d and at most 400", p, defaultGOGC)
	}
	if p := gcPercent(t, devServerWith(t, bin, []string{"GOGC=100"}, "--listen", "127.0.0.1:0")); p != 100 {
		t.Errorf("rampart serve with GOGC=100: GC percent %d, want 100", p)
	}
}
