// Command perf-chart turns the JSON lines of scripts/perf.sh (one
// `rampart bench` report a line) into an SVG chart of the ramps and a
// Markdown table of medians per label:
//
//	go run ./scripts/perf-chart -o docs/perf-ramp.svg tmp/perf/results.jsonl
//
// It reads standard input when no file is named, writes the chart to -o
// and the table to standard output. The work is package internal/perfchart.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/rampart-rt/rampart/internal/bench"
	"github.com/rampart-rt/rampart/internal/perfchart"
)

func main() {
	out := flag.String("o", "docs/perf-ramp.svg", "where the SVG chart goes; empty: no chart")
	table := flag.Bool("table", true, "print a Markdown table of medians per label")
	flag.Parse()
	if err := run(flag.Args(), *out, *table); err != nil {
		fmt.Fprintln(os.Stderr, "perf-chart:", err)
		os.Exit(1)
	}
}

func run(files []string, out string, table bool) error {
	var reports []bench.Report
	read := func(r io.Reader) error {
		got, err := perfchart.Read(r)
		reports = append(reports, got...)
		return err
	}
	if len(files) == 0 {
		if err := read(os.Stdin); err != nil {
			return err
		}
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		err = read(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if out != "" {
		var svg bytes.Buffer
		if err := perfchart.SVG(&svg, reports); err != nil {
			return err
		}
		if err := os.WriteFile(out, svg.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "perf-chart: %d reports, chart in %s\n", len(reports), out)
	}
	if table {
		return perfchart.Summary(os.Stdout, reports)
	}
	return nil
}
