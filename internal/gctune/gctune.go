// Package gctune keeps the garbage collector's growth proportional to the
// live heap, as GOGC does, but never smaller than a fixed headroom.
//
// With a small GOGC (rampart serve uses 40, to keep idle connections
// small) and a small live heap, the runtime collects after every few
// megabytes allocated: a burst of handshakes against a server holding few
// connections allocates about 30 KiB each and so runs a collection every
// few milliseconds, a fixed cost each time (workers started, every stack
// scanned) that made up a fifth of a handshake's CPU. After each
// collection the tuner sets the GC percent so that the next one comes
// when the heap has grown by the larger of percent% of the live heap and
// the headroom: a server with a large live heap behaves exactly as with
// GOGC=percent; one with a small heap may hold up to the headroom in
// garbage, and collects far less often.
package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// runtimeMinimum is the runtime's smallest heap goal at GOGC=100: it
// scales with the percent, so a large percent on a tiny heap would put
// the first collections far past the headroom.
const runtimeMinimum = 4 << 20

// Tuner adjusts the GC percent after each collection until Stop.
type Tuner struct {
	percent  int
	headroom uint64
	stopped  atomic.Bool
	mu       sync.Mutex // serialises tune with Stop
	sample   []metrics.Sample
	set      int // the percent last set
	cycles   atomic.Uint64
}

// Start sets the GC percent to percent and, after every collection, to
// PercentFor(percent, headroom, live heap). Stop restores percent.
func Start(percent int, headroom uint64) *Tuner {
	t := &Tuner{
		percent:  percent,
		headroom: headroom,
		sample:   []metrics.Sample{{Name: "/gc/heap/live:bytes"}},
		set:      percent,
	}
	debug.SetGCPercent(percent)
	t.tune()
	t.arm()
	return t
}

// PercentFor is the GC percent for a live heap of live bytes (0: not
// known yet): the larger of percent and the percent by which live grows
// by headroom, but never more than makes the runtime's minimum goal (4 MiB
// at 100%, in proportion) larger than the headroom.
func PercentFor(percent int, headroom, live uint64) int {
	limit := headroom * 100 / runtimeMinimum
	p := limit
	if live > 0 {
		p = min(limit, headroom*100/live)
	}
	return max(percent, int(p))
}

// Percent is the GC percent the tuner set last.
func (t *Tuner) Percent() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.set
}

// Cycles is how many collections the tuner has seen.
func (t *Tuner) Cycles() uint64 { return t.cycles.Load() }

// Stop ends the tuning and sets the GC percent back to percent.
func (t *Tuner) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped.Swap(true) {
		return
	}
	debug.SetGCPercent(t.percent)
	t.set = t.percent
}

// sentinel is an object only the finalizer refers to: it becomes
// unreachable at once, so its finalizer runs after the next collection.
// It holds a pointer so that it is never one of the tiny allocator's
// combined objects, which may be finalized late.
type sentinel struct{ t *Tuner }

func (t *Tuner) arm() {
	runtime.SetFinalizer(&sentinel{t: t}, func(s *sentinel) {
		if s.t.stopped.Load() {
			return
		}
		s.t.cycles.Add(1)
		s.t.tune()
		s.t.arm()
	})
}

// tune reads the live heap the last collection marked and sets the
// percent for it, when it changed by more than a tenth.
func (t *Tuner) tune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped.Load() {
		return
	}
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	p := PercentFor(t.percent, t.headroom, t.sample[0].Value.Uint64())
	if p == t.set || (p > t.set*9/10 && p < t.set*11/10) {
		return
	}
	debug.SetGCPercent(p)
	t.set = p
}
