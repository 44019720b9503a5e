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

// fanoutReport is the outcome of a fanout run.
type fanoutReport struct {
	Subscribers   int
	Procs         int
	Published     int    // publications sent and not refused
	PublishErrors int    // publications the server refused
	Unanswered    int    // publications without a reply by the end (counted as published)
	FirstErr      string // the first refusal
	Expected      uint64 // Subscribers * Published
	Received      uint64
	Lost          uint64 // Expected - Received
	Duplicates    uint64
	Gaps          uint64
	Closed        int
	Elapsed       time.Duration // first publish to last delivery
	Latency       *histogram
	ServerCPU     time.Duration // of --server-pid during the publishing
}

// add merges the subscriber processes' results; the latency histogram of
// an in-process group is already r.Latency.
func (r *fanoutReport) add(results []groupResult, start time.Time) {
	var last int64
	for _, g := range results {
		r.Received += g.Received
		r.Duplicates += g.Duplicates
		r.Gaps += g.Gaps
		r.Closed += g.Closed
		last = max(last, g.LastAt)
		if r.Procs > 1 {
			r.Latency.merge(g.Buckets)
		}
	}
	r.Expected = uint64(r.Subscribers) * uint64(r.Published)
	if r.Expected > r.Received {
		r.Lost = r.Expected - r.Received
	}
	if last > 0 {
		r.Elapsed = time.Unix(0, last).Sub(start)
	}
}

// DeliveriesPerSecond is the rate from the first publish to the last
// delivery.
func (r *fanoutReport) DeliveriesPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Received) / r.Elapsed.Seconds()
}

func (r *fanoutReport) print(w io.Writer) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }
	fmt.Fprintf(w, "fanout: %d subscribers in %d process(es); %d publications (%d without a reply), %d refused\n",
		r.Subscribers, r.Procs, r.Published, r.Unanswered, r.PublishErrors)
	if r.FirstErr != "" {
		fmt.Fprintf(w, "first refusal: %s\n", r.FirstErr)
	}
	fmt.Fprintf(w, "deliveries: %d of %d (lost %d, duplicates %d, gaps %d); %d connections closed by the server\n",
		r.Received, r.Expected, r.Lost, r.Duplicates, r.Gaps, r.Closed)
	fmt.Fprintf(w, "rate: %.0f deliveries/s over %s\n", r.DeliveriesPerSecond(), r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "latency publish-to-delivery: p50 %s p90 %s p99 %s max %s\n",
		ms(r.Latency.quantile(0.5)), ms(r.Latency.quantile(0.9)), ms(r.Latency.quantile(0.99)), ms(r.Latency.quantile(1)))
	if r.ServerCPU > 0 && r.Received > 0 {
		fmt.Fprintf(w, "server CPU: %s, %.2f µs per delivery\n", r.ServerCPU,
			float64(r.ServerCPU.Microseconds())/float64(r.Received))
	}
}
