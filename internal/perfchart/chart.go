// Package perfchart reads the JSON lines `rampart bench` prints (package
// internal/bench) and turns them into what docs/performance.md shows: an
// SVG chart of the ramps (deliveries per second against p99 latency, one
// line per run) and a table of medians per label. It decides how results
// are drawn and summed up, not how they are measured.
package perfchart

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/rampart-rt/rampart/internal/bench"
)

// Read returns the reports in r, one JSON object a line; blank lines and
// lines that are not JSON objects (a run's error) are skipped.
func Read(r io.Reader) ([]bench.Report, error) {
	var out []bench.Report
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var rep bench.Report
		if err := json.Unmarshal([]byte(line), &rep); err != nil {
			return nil, fmt.Errorf("perfchart: line %d: %w", n, err)
		}
		out = append(out, rep)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("perfchart: %w", err)
	}
	return out, nil
}

// Chart geometry, in SVG user units.
const (
	width, height = 860, 520
	left, right   = 80, 200 // the legend is on the right
	top, bottom   = 50, 60
	plotW, plotH  = width - left - right, height - top - bottom
)

// dashes tell apart the runs of one label, which share a color.
var dashes = []string{"none", "6,3", "2,2", "8,3,2,3"}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"}

// point is one step of a ramp.
type point struct {
	x, y   float64 // deliveries/s, p99 ms
	failed bool
}

type line struct {
	label  string
	run    int // the run's number among its label's
	color  string
	points []point
}

// SVG writes the chart of every ramp in reports to w: deliveries per
// second (x) against p99 latency (y, logarithmic), one line per run,
// colored by label; a failing step is an open circle, and the p99 limit a
// dashed line. With no ramp, it says so in the chart.
func SVG(w io.Writer, reports []bench.Report) error {
	lines, limit, title := ramps(reports)
	xMax, yMin, yMax := bounds(lines, limit)
	b := &strings.Builder{}
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(b, `<text x="%d" y="24" font-size="15">%s</text>`+"\n", left, esc(title))
	x := func(v float64) float64 { return left + v/xMax*plotW }
	y := func(v float64) float64 {
		return top + plotH - (math.Log10(v)-math.Log10(yMin))/(math.Log10(yMax)-math.Log10(yMin))*plotH
	}
	axes(b, xMax, yMin, yMax, x, y)
	if limit > 0 {
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#555" stroke-dasharray="6,4"/>`+"\n", left, y(limit), left+plotW, y(limit))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" fill="#555">p99 limit %s</text>`+"\n", left+plotW-4, y(limit)-4, msText(limit))
	}
	if len(lines) == 0 {
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">no ramp results</text>`+"\n", left+plotW/2, top+plotH/2)
	}
	for _, l := range lines {
		plot(b, l, x, y)
	}
	legend(b, lines)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// ramps returns one line per ramp report, the p99 limit (of the first)
// and a title from its parameters.
func ramps(reports []bench.Report) (lines []line, limit float64, title string) {
	colors := map[string]string{}
	runs := map[string]int{}
	title = "ramp: deliveries/s against p99 latency"
	for _, r := range reports {
		if r.Ramp == nil {
			continue
		}
		label := r.Label
		if label == "" {
			label = "(no label)"
		}
		if _, ok := colors[label]; !ok {
			colors[label] = palette[len(colors)%len(palette)]
		}
		runs[label]++
		if limit == 0 {
			limit = r.Params.P99LimitMS
			title = fmt.Sprintf("ramp: deliveries/s against p99 latency; %d subscribers, %d B, %gs steps",
				r.Params.Conns, r.Params.Size, r.Params.DurationS)
		}
		l := line{label: label, run: runs[label], color: colors[label]}
		for _, s := range r.Ramp.Steps {
			if s.DeliveriesPerS > 0 && s.P99MS > 0 {
				l.points = append(l.points, point{x: s.DeliveriesPerS, y: s.P99MS, failed: s.Failed != ""})
			}
		}
		lines = append(lines, l)
	}
	return lines, limit, title
}

// bounds returns the axes' ranges: x from 0, y in whole decades.
func bounds(lines []line, limit float64) (xMax, yMin, yMax float64) {
	xMax, yMin, yMax = 1, math.Inf(1), math.Inf(-1)
	if limit > 0 {
		yMin, yMax = limit, limit
	}
	for _, l := range lines {
		for _, p := range l.points {
			xMax = max(xMax, p.x)
			yMin, yMax = min(yMin, p.y), max(yMax, p.y)
		}
	}
	if math.IsInf(yMin, 1) {
		yMin, yMax = 1, 1000
	}
	yMin = math.Pow(10, math.Floor(math.Log10(yMin)))
	yMax = math.Pow(10, math.Ceil(math.Log10(yMax)))
	if yMax <= yMin {
		yMax = yMin * 10
	}
	step := niceStep(xMax * 1.05 / 5)
	return math.Ceil(xMax*1.05/step) * step, yMin, yMax
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func axes(b *strings.Builder, xMax, yMin, yMax float64, x, y func(float64) float64) {
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", left, top, plotW, plotH)
	step := niceStep(xMax / 5)
	for v := 0.0; v <= xMax+step/2; v += step {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x(v), top, x(v), top+plotH)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x(v), top+plotH+18, countText(v))
	}
	for v := yMin; v <= yMax*1.001; v *= 10 {
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(v), left+plotW, y(v))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y(v)+4, msText(v))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">deliveries per second</text>`+"\n", left+plotW/2, height-14)
	fmt.Fprintf(b, `<text x="18" y="%d" text-anchor="middle" transform="rotate(-90 18 %d)">p99 latency, publish to delivery</text>`+"\n",
		top+plotH/2, top+plotH/2)
}

func plot(b *strings.Builder, l line, x, y func(float64) float64) {
	if len(l.points) == 0 {
		return
	}
	pts := make([]string, len(l.points))
	for i, p := range l.points {
		pts[i] = fmt.Sprintf("%.1f,%.1f", x(p.x), y(p.y))
	}
	fmt.Fprintf(b, `<polyline class="run" data-label="%s" data-run="%d" points="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-dasharray="%s"/>`+"\n",
		esc(l.label), l.run, strings.Join(pts, " "), l.color, dashes[(l.run-1)%len(dashes)])
	for _, p := range l.points {
		fill := l.color
		if p.failed {
			fill = "white"
		}
		fmt.Fprintf(b, `<circle class="step" cx="%.1f" cy="%.1f" r="3.5" fill="%s" stroke="%s"><title>%s run %d: %.0f deliveries/s, p99 %s</title></circle>`+"\n",
			x(p.x), y(p.y), fill, l.color, esc(l.label), l.run, p.x, msText(p.y))
	}
}

// legend names each label once, with its number of runs.
func legend(b *strings.Builder, lines []line) {
	seen := map[string]int{}
	var order []line
	for _, l := range lines {
		if seen[l.label] == 0 {
			order = append(order, l)
		}
		seen[l.label]++
	}
	ly := top + 10
	for _, l := range order {
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", left+plotW+14, ly, left+plotW+34, ly, l.color)
		runs := fmt.Sprintf("%d runs", seen[l.label])
		if seen[l.label] == 1 {
			runs = "1 run"
		}
		fmt.Fprintf(b, `<text x="%d" y="%d">%s (%s)</text>`+"\n", left+plotW+40, ly+4, esc(l.label), runs)
		ly += 20
	}
	if len(order) > 0 {
		fmt.Fprintf(b, `<text x="%d" y="%d" fill="#555">open circle: failing step</text>`+"\n", left+plotW+14, ly+8)
		fmt.Fprintf(b, `<text x="%d" y="%d" fill="#555">solid, dashed, dotted: run 1, 2, 3</text>`+"\n", left+plotW+14, ly+26)
	}
}

func countText(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}

func msText(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%g s", v/1000)
	}
	return fmt.Sprintf("%g ms", v)
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

func esc(s string) string { return escaper.Replace(s) }
