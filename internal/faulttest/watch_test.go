//go:build faults

package faulttest

import (
	"sync"
	"time"
)

const (
	readyzEvery = 100 * time.Millisecond
	// readyzTimeout is longer than the node's own bound on asking its
	// broker (2s), so a stalled broker shows as a late 503, not as silence.
	readyzTimeout = 2500 * time.Millisecond
)

// sample is one /readyz answer (status 0: nothing answered within
// readyzTimeout), at the time it came: a probe that waited on a stalled
// broker tells about the moment it was answered.
type sample struct {
	at     time.Time
	status int
}

// readyzWatch polls every node's /readyz for the whole run.
type readyzWatch struct {
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup

	mu      sync.Mutex // guards samples
	samples [][]sample // per node
}

func watchReadyz(nodes []*node) *readyzWatch {
	w := &readyzWatch{stop: make(chan struct{}), samples: make([][]sample, len(nodes))}
	for i, nd := range nodes {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			tick := time.NewTicker(readyzEvery)
			defer tick.Stop()
			for {
				select {
				case <-w.stop:
					return
				case <-tick.C:
				}
				st := nd.readyz(readyzTimeout)
				w.mu.Lock()
				w.samples[i] = append(w.samples[i], sample{at: time.Now(), status: st})
				w.mu.Unlock()
			}
		}()
	}
	return w
}

// close stops the polling; it may be called more than once.
func (w *readyzWatch) close() {
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
}

// between returns node i's samples taken in [from, to].
func (w *readyzWatch) between(i int, from, to time.Time) []sample {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []sample
	for _, s := range w.samples[i] {
		if !s.at.Before(from) && !s.at.After(to) {
			out = append(out, s)
		}
	}
	return out
}

// first is the first sample of node i at or after from with status, if any.
func (w *readyzWatch) first(i int, from time.Time, status int) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.samples[i] {
		if !s.at.Before(from) && s.status == status {
			return s.at, true
		}
	}
	return time.Time{}, false
}
