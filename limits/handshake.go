package limits

import (
	"maps"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxBuckets bounds how many IPs' handshake buckets a Local keeps: about
// 20 MiB at most (a bucket takes about 115 bytes, plus its IP's text).
const maxBuckets = 1 << 17

// minSweep is the fewest buckets that make a new IP sweep before a minute
// has passed.
const minSweep = 1024

// handshakes holds the per-IP handshake buckets of a Local. A bucket that
// is full again is the same as none, so only the IPs still refilling need
// one: a bucket is full at most a minute after its IP's last handshake
// (sooner when it made few), and the next sweep drops it. A sweep runs
// when a new IP arrives and the map has doubled since the last sweep or a
// minute has passed, so a flood of distinct IPs costs memory only for the
// IPs still refilling, and sweeping costs O(1) per new IP amortized. A
// sweep that drops most buckets rebuilds the map, so the memory of a flood
// is given back.
//
// At most max buckets are kept: beyond, a new IP drops an arbitrary one,
// whose IP then starts again with a full bucket. That only happens when
// more than max IPs have made handshakes within a minute, and only makes
// the limit looser for the IPs dropped.
type handshakes struct {
	mu      sync.Mutex               // guards the fields below; never held with Local.mu, held around the buckets' own locks
	buckets map[string]*rate.Limiter // per IP, only buckets not yet full again
	swept   time.Time                // when the last sweep ran
	sweepAt int                      // sweep when a new IP finds this many buckets
	max     int                      // buckets kept at most
}

func newHandshakes(max int) handshakes {
	return handshakes{buckets: make(map[string]*rate.Limiter), sweepAt: minSweep, max: max}
}

// take takes one handshake from ip's bucket at now. When the bucket is
// empty it returns false and how long until it holds one again.
func (h *handshakes) take(now time.Time, ip string, perMinute int) (bool, time.Duration) {
	perMinute = max(perMinute, 1)
	refill := rate.Limit(float64(perMinute) / 60)
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.buckets[ip]
	switch {
	case b == nil:
		h.makeRoom(now)
		b = rate.NewLimiter(refill, perMinute)
		h.buckets[ip] = b
	case b.Burst() != perMinute: // the limit was reloaded
		b.SetLimitAt(now, refill)
		b.SetBurstAt(now, perMinute)
	}
	if b.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.TokensAt(now)
	return false, max(1, time.Duration(math.Ceil(missing*float64(time.Minute)/float64(perMinute))))
}

// makeRoom sweeps when it is due, then drops an arbitrary bucket if the
// map still holds max.
func (h *handshakes) makeRoom(now time.Time) {
	if len(h.buckets) >= h.sweepAt || now.Sub(h.swept) >= time.Minute {
		h.sweep(now)
	}
	if len(h.buckets) >= h.max {
		for ip := range h.buckets {
			delete(h.buckets, ip)
			break
		}
	}
}

// sweep drops the buckets that are full at now. When it drops most of
// them it moves the rest to a new map, since a map keeps the memory of
// its largest size.
func (h *handshakes) sweep(now time.Time) {
	before := len(h.buckets)
	for ip, b := range h.buckets {
		if b.TokensAt(now) >= float64(b.Burst()) {
			delete(h.buckets, ip)
		}
	}
	if len(h.buckets) < before/4 { // not maps.Clone: it keeps the size
		kept := make(map[string]*rate.Limiter, len(h.buckets))
		maps.Copy(kept, h.buckets)
		h.buckets = kept
	}
	h.swept = now
	h.sweepAt = max(2*len(h.buckets), minSweep)
}

// size returns how many buckets are kept.
func (h *handshakes) size() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.buckets)
}
