package perfchart

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/rampart-rt/rampart/internal/bench"
)

// measure is one row of the summary: a number taken from each report of
// a mode, if it has one.
type measure struct {
	name string
	mode string
	get  func(bench.Report) (float64, bool)
}

var measures = []measure{
	{"server memory per idle connection (KiB)", bench.ModeIdle, func(r bench.Report) (float64, bool) {
		return r.Idle.KiBPerConn, r.Idle.RSSAfterKiB > 0
	}},
	{"connections opened per second", bench.ModeIdle, func(r bench.Report) (float64, bool) { return r.Idle.ConnsPerS, true }},
	{"server CPU per connection opened (µs)", bench.ModeIdle, func(r bench.Report) (float64, bool) {
		return r.Idle.ServerCPUUSPerConn, r.Idle.ServerCPUUSPerConn > 0
	}},
	{"ramp: highest passing deliveries/s", bench.ModeRamp, func(r bench.Report) (float64, bool) {
		if r.Ramp.Best == nil {
			return 0, true
		}
		return r.Ramp.Best.DeliveriesPerS, true
	}},
	{"ramp: server CPU per delivery there (µs)", bench.ModeRamp, func(r bench.Report) (float64, bool) {
		return cpuAtBest(r.Ramp)
	}},
	{"fanout: server CPU per delivery (µs)", bench.ModeFanout, func(r bench.Report) (float64, bool) {
		return r.Fanout.ServerCPUUSPerDelivery, r.Fanout.ServerCPUUSPerDelivery > 0
	}},
	{"fanout: p99 (ms)", bench.ModeFanout, func(r bench.Report) (float64, bool) { return r.Fanout.P99MS, true }},
	{"fanout: lost", bench.ModeFanout, func(r bench.Report) (float64, bool) { return float64(r.Fanout.Lost), true }},
	{"handshakes per second", bench.ModeHandshake, func(r bench.Report) (float64, bool) { return r.Handshake.PerS, true }},
	{"server CPU per handshake (µs)", bench.ModeHandshake, func(r bench.Report) (float64, bool) {
		return r.Handshake.ServerCPUUSPerHandshake, r.Handshake.ServerCPUUSPerHandshake > 0
	}},
}

func cpuAtBest(r *bench.RampResult) (float64, bool) {
	if r.Best == nil || r.Best.ServerCPUUSPerDelivery <= 0 {
		return 0, false
	}
	return r.Best.ServerCPUUSPerDelivery, true
}

// Summary writes a Markdown table to w: one row per measure, one column
// per label (in the order first seen), each cell the median of that
// label's runs with their range and count.
func Summary(w io.Writer, reports []bench.Report) error {
	var labels []string
	for _, r := range reports {
		if !slices.Contains(labels, r.Label) {
			labels = append(labels, r.Label)
		}
	}
	b := &strings.Builder{}
	b.WriteString("| measure |")
	for _, l := range labels {
		fmt.Fprintf(b, " %s |", l)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(labels)) + "\n")
	for _, m := range measures {
		row, seen := "| "+m.name+" |", false
		for _, l := range labels {
			var vs []float64
			for _, r := range reports {
				if r.Label == l && r.Mode == m.mode {
					if v, ok := m.get(r); ok {
						vs = append(vs, v)
					}
				}
			}
			row += " " + cell(vs) + " |"
			seen = seen || len(vs) > 0
		}
		if seen {
			b.WriteString(row + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cell is the median of vs, with the range and the count when there are
// several.
func cell(vs []float64) string {
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return num(vs[0])
	}
	slices.Sort(vs)
	n := len(vs)
	med := vs[n/2]
	if n%2 == 0 {
		med = (vs[n/2-1] + vs[n/2]) / 2
	}
	return fmt.Sprintf("%s (%s to %s, %d runs)", num(med), num(vs[0]), num(vs[n-1]), n)
}

func num(v float64) string {
	if v >= 100 || v == float64(int64(v)) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
