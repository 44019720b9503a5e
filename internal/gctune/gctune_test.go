package gctune

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		percent        int
		headroom, live uint64
		want           int
	}{
		{40, 16 * mib, 0, 400},
		{40, 16 * mib, 1, 400},
		{40, 16 * mib, 2 * mib, 400},
		{40, 16 * mib, 8 * mib, 200},
		{40, 256 * mib, 16 * mib, 1600},
		{40, 16 * mib, 40 * mib, 40},
		{40, 16 * mib, 400 * mib, 40},
		{100, 16 * mib, 8 * mib, 200},
		{100, 16 * mib, 32 * mib, 100},
		{40, 0, 4 * mib, 40},
	} {
		if got := PercentFor(c.percent, c.headroom, c.live); got != c.want {
			t.Errorf("PercentFor(%d, %d, %d) = %d, want %d", c.percent, c.headroom, c.live, got, c.want)
		}
	}
}

// gcState reads the runtime's own GC percent and its count of collections.
func gcState() (percent int, cycles uint64) {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64()), s[1].Value.Uint64()
}

var sink []byte

// churn allocates n bytes of garbage in 32 KiB pieces and returns how
// many collections ran meanwhile.
func churn(n int) uint64 {
	_, before := gcState()
	for i := 0; i < n/(32<<10); i++ {
		sink = make([]byte, 32<<10)
	}
	sink = nil
	_, after := gcState()
	return after - before
}

// waitCycles waits until the tuner has seen n collections, forcing them.
func waitCycles(t *testing.T, tu *Tuner, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for tu.Cycles() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the tuner saw %d collections, want %d", tu.Cycles(), n)
		}
		runtime.GC()
		runtime.Gosched() // the finalizer goroutine runs the tuner
	}
}

// With a small live heap and GOGC 40 the runtime collects every couple of
// megabytes; with a 256 MiB headroom, 64 MiB of garbage runs at most a
// collection or two. Stop puts the percent back.
func TestHeadroomSpacesCollections(t *testing.T) {
	defer func(p int) { Start(p, 0).Stop() }(100)

	plain := Start(40, 0)
	waitCycles(t, plain, 1)
	if p, _ := gcState(); p != 40 {
		t.Fatalf("no headroom: GC percent %d, want 40", p)
	}
	without := churn(64 << 20)
	plain.Stop()

	tu := Start(40, 256<<20)
	waitCycles(t, tu, 2)
	p, _ := gcState()
	if p <= 40 || p != tu.Percent() {
		t.Fatalf("with a 256 MiB headroom: GC percent %d (tuner says %d), want over 40", p, tu.Percent())
	}
	with := churn(64 << 20)
	tu.Stop()
	if p, _ := gcState(); p != 40 {
		t.Errorf("after Stop: GC percent %d, want 40", p)
	}
	t.Logf("collections for 64 MiB of garbage: %d at GOGC 40, %d with the headroom (percent %d)", without, with, p)
	if without < 8 || with > 2 {
		t.Errorf("collections for 64 MiB of garbage: %d at GOGC 40 (want 8 or more), %d with the headroom (want at most 2)", without, with)
	}
}

// A live heap above the headroom keeps the plain percent.
func TestLargeLiveHeapKeepsThePercent(t *testing.T) {
	defer func(p int) { Start(p, 0).Stop() }(100)
	live := make([][]byte, 32)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	tu := Start(40, 4<<20)
	waitCycles(t, tu, 2)
	if p, _ := gcState(); p != 40 {
		t.Errorf("32 MiB live, 4 MiB headroom: GC percent %d, want 40", p)
	}
	tu.Stop()
	runtime.KeepAlive(live)
}
