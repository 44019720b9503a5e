package bench

import (
	"fmt"
	"io"
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram counts latencies in microseconds, log-linear: exact below
// 128 µs, then 128 buckets per power of two (under 1% error).
type histogram struct {
	counts [histBuckets]atomic.Uint64
}

const (
	histSubBits = 7
	histBuckets = 58 << histSubBits
)

func bucketOf(us uint64) int {
	if us < 1<<histSubBits {
		return int(us)
	}
	shift := bits.Len64(us) - histSubBits - 1
	return (shift+1)<<histSubBits + int(us>>shift) - 1<<histSubBits
}

// bucketValue is the lowest value of bucket i, in microseconds.
func bucketValue(i int) uint64 {
	if i < 2<<histSubBits {
		return uint64(i)
	}
	shift := i>>histSubBits - 1
	return uint64(i-(shift+1)<<histSubBits+1<<histSubBits) << shift
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(uint64(max(d, 0)/time.Microsecond))].Add(1)
}

func (h *histogram) total() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// quantile returns the latency below which a fraction q of the samples
// fall; q = 1 is the maximum.
func (h *histogram) quantile(q float64) time.Duration {
	n := h.total()
	if n == 0 {
		return 0
	}
	rank := max(1, uint64(q*float64(n)+0.5))
	var seen uint64
	for i := range h.counts {
		if seen += h.counts[i].Load(); seen >= rank {
			return time.Duration(bucketValue(i)) * time.Microsecond
		}
	}
	return 0
}

// sparse returns the non-empty buckets, to send from a child process.
func (h *histogram) sparse() map[int]uint64 {
	m := make(map[int]uint64)
	if h == nil {
		return m
	}
	for i := range h.counts {
		if c := h.counts[i].Load(); c > 0 {
			m[i] = c
		}
	}
	return m
}

func (h *histogram) merge(m map[int]uint64) {
	for i, c := range m {
		if i >= 0 && i < histBuckets {
			h.counts[i].Add(c)
		}
	}
}

// groupResult is what one process's subscribers saw.
type groupResult struct {
	Subscribers int            `json:"subscribers"`
	Received    uint64         `json:"received"`   // publications with a new offset
	Duplicates  uint64         `json:"duplicates"` // offsets seen twice
	Gaps        uint64         `json:"gaps"`       // offsets skipped
	Missing     uint64         `json:"missing"`    // offsets after the last seen, up to the final one
	Closed      int            `json:"closed"`     // connections the server ended
	LastAt      int64          `json:"last_at"`    // unix ns of the last delivery
	Buckets     map[int]uint64 `json:"buckets"`    // latency histogram
}

// stepOf is the result of one publishing rate: what the publisher sent in
// the step and what the subscribers saw of it.
func stepOf(rate, subscribers int, pub pubStep, results []groupResult) StepResult {
	r := StepResult{Rate: rate, Subscribers: subscribers, Refused: pub.failed, FirstRefusal: pub.firstErr}
	r.Unanswered = max(0, pub.sent-pub.ok-pub.failed)
	r.Published = pub.ok + r.Unanswered // an unanswered publish may still have been accepted
	hist := new(histogram)
	var last int64
	for _, g := range results {
		r.Received += g.Received
		r.Duplicates += g.Duplicates
		r.Gaps += g.Gaps
		r.Closed += g.Closed
		last = max(last, g.LastAt)
		hist.merge(g.Buckets)
	}
	r.Expected = uint64(subscribers) * uint64(r.Published)
	if r.Expected > r.Received {
		r.Lost = r.Expected - r.Received
	}
	if elapsed := time.Unix(0, last).Sub(pub.start); last > 0 && elapsed > 0 {
		r.ElapsedS = seconds(elapsed)
		r.DeliveriesPerS = perSecond(r.Received, elapsed)
	}
	r.P50MS, r.P90MS = ms(hist.quantile(0.5)), ms(hist.quantile(0.9))
	r.P99MS, r.MaxMS = ms(hist.quantile(0.99)), ms(hist.quantile(1))
	return r
}

// withCPU adds the server's CPU time over the step.
func (r *StepResult) withCPU(cpu time.Duration) {
	if cpu > 0 {
		r.ServerCPUMS = ms(cpu)
		r.ServerCPUUSPerDelivery = perUnitUS(cpu, r.Received)
	}
}

// summary writes r for a reader, on two lines.
func (r *StepResult) summary(w io.Writer, name string) {
	fmt.Fprintf(w, "%s: rate %d/s to %d subscribers: %d of %d delivered (lost %d, duplicates %d, gaps %d, closed %d, refused %d), %.0f deliveries/s\n",
		name, r.Rate, r.Subscribers, r.Received, r.Expected, r.Lost, r.Duplicates, r.Gaps, r.Closed, r.Refused, r.DeliveriesPerS)
	fmt.Fprintf(w, "%s: latency p50 %.1fms p90 %.1fms p99 %.1fms max %.1fms; server CPU %.2f µs per delivery\n",
		name, r.P50MS, r.P90MS, r.P99MS, r.MaxMS, r.ServerCPUUSPerDelivery)
}
