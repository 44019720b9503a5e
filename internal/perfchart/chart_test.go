package perfchart

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"strings"
	"testing"
)

func readTestdata(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/results.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The chart of three ramps (two labels) is well-formed SVG with one line
// per run and one circle per step, the failing steps open.
func TestSVGDrawsEveryStep(t *testing.T) {
	reports, err := Read(bytes.NewReader(readTestdata(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 4 {
		t.Fatalf("read %d reports, want 4 (a line that is not JSON is skipped)", len(reports))
	}
	var out bytes.Buffer
	if err := SVG(&out, reports); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	var open int
	var texts []string
	dec := xml.NewDecoder(bytes.NewReader(out.Bytes()))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, out.String())
		}
		switch el := tok.(type) {
		case xml.StartElement:
			counts[el.Name.Local]++
			for _, a := range el.Attr {
				if el.Name.Local == "circle" && a.Name.Local == "fill" && a.Value == "white" {
					open++
				}
			}
		case xml.CharData:
			texts = append(texts, string(el))
		}
	}
	all := strings.Join(texts, "|")
	if counts["svg"] != 1 || counts["polyline"] != 3 || counts["circle"] != 3+4+2 || open != 3 {
		t.Errorf("elements %v, %d open circles; want 1 svg, 3 polylines, 9 circles, 3 open", counts, open)
	}
	for _, want := range []string{"old (2 runs)", "new (1 run)", "p99 limit 1 s", "10000 subscribers", "deliveries per second",
		"new run 1: 79000 deliveries/s, p99 700 ms"} {
		if !strings.Contains(all, want) {
			t.Errorf("the chart lacks %q", want)
		}
	}
}

func TestSVGWithoutRamps(t *testing.T) {
	var out bytes.Buffer
	if err := SVG(&out, nil); err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(out.Bytes(), new(struct{})); err != nil || !strings.Contains(out.String(), "no ramp results") {
		t.Errorf("empty chart: %v\n%s", err, out.String())
	}
}

func TestSummaryTakesMediansPerLabel(t *testing.T) {
	reports, err := Read(bytes.NewReader(readTestdata(t)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Summary(&out, reports); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"| measure | old | new |",
		"| ramp: highest passing deliveries/s | 49875 (39950 to 59800, 2 runs) | 79000 |",
		"| ramp: server CPU per delivery there (µs) | 12.30 (11.90 to 12.70, 2 runs) | 9.80 |",
		"| server memory per idle connection (KiB) |  | 8 |",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "handshakes per second") {
		t.Errorf("a measure without any run is listed:\n%s", s)
	}
}

func TestReadRefusesBrokenJSON(t *testing.T) {
	if _, err := Read(strings.NewReader("{\"mode\":\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("Read: %v, want an error naming line 1", err)
	}
}
