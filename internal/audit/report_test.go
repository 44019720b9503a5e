package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func sampleReport() report {
	return report{Target: "wss://rt.example.com/ws", Connections: 3, Results: []result{
		{ID: "baseline", Severity: SevNone, Result: pass, Title: "t", Detail: "upgraded"},
		{ID: "cswsh-foreign-origin", Severity: SevHigh, Result: fail, Title: "a foreign page", Detail: "upgraded", Fix: "check Origin"},
		{ID: "origin-missing", Severity: SevLow, Result: fail, Title: "no Origin", Detail: "upgraded", Fix: "refuse"},
		{ID: "compression-bomb", Severity: SevHigh, Result: na, Title: "bomb", Detail: "not negotiated"},
		{ID: "rampart-token-expiry", Profile: "rampart", Severity: SevHigh, Result: skip, Title: "expiry", Detail: "needs a token"},
	}}
}

// The SARIF log has the structure SARIF 2.1.0 requires of what it holds,
// and that code-scanning tools read: a rule per check, a result per
// finding pointing at its rule, a level and a message, a location.
func TestSARIFStructure(t *testing.T) {
	var out bytes.Buffer
	if err := sampleReport().write(&out, "sarif", "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc["version"] != "2.1.0" || !strings.Contains(doc["$schema"].(string), "sarif-2.1.0") {
		t.Fatalf("version %v, $schema %v", doc["version"], doc["$schema"])
	}
	runs := doc["runs"].([]any)
	if len(runs) != 1 {
		t.Fatalf("%d runs, want 1", len(runs))
	}
	run := runs[0].(map[string]any)
	driver := run["tool"].(map[string]any)["driver"].(map[string]any)
	if driver["name"] != "rampart-audit" || driver["version"] != "v1.2.3" {
		t.Errorf("driver %v", driver)
	}
	rules := driver["rules"].([]any)
	ids := map[string]int{}
	for i, r := range rules {
		rule := r.(map[string]any)
		id, _ := rule["id"].(string)
		if id == "" || ids[id] != 0 {
			t.Errorf("rule %d: id %q empty or repeated", i, id)
		}
		ids[id] = i + 1
		for _, k := range []string{"shortDescription", "fullDescription", "help"} {
			if txt, _ := rule[k].(map[string]any)["text"].(string); txt == "" {
				t.Errorf("rule %s: no %s.text", id, k)
			}
		}
		if lvl := rule["defaultConfiguration"].(map[string]any)["level"]; !validLevel(lvl) {
			t.Errorf("rule %s: level %v", id, lvl)
		}
	}
	if len(rules) != 5 {
		t.Errorf("%d rules, want one per check (5)", len(rules))
	}
	results := run["results"].([]any)
	if len(results) != 2 {
		t.Fatalf("%d results, want the 2 findings", len(results))
	}
	for _, r := range results {
		res := r.(map[string]any)
		id := res["ruleId"].(string)
		if idx := int(res["ruleIndex"].(float64)); ids[id] != idx+1 {
			t.Errorf("result %s: ruleIndex %d does not point at its rule", id, idx)
		}
		if !validLevel(res["level"]) {
			t.Errorf("result %s: level %v", id, res["level"])
		}
		if msg, _ := res["message"].(map[string]any)["text"].(string); !strings.Contains(msg, "Fix:") {
			t.Errorf("result %s: message %q lacks the fix", id, msg)
		}
		locs := res["locations"].([]any)
		uri := locs[0].(map[string]any)["physicalLocation"].(map[string]any)["artifactLocation"].(map[string]any)["uri"]
		if uri != "wss://rt.example.com/ws" {
			t.Errorf("result %s: location %v", id, uri)
		}
	}
	if l := results[0].(map[string]any)["level"]; l != "error" {
		t.Errorf("a high finding has level %v, want error", l)
	}
}

func validLevel(v any) bool {
	switch v {
	case "none", "note", "warning", "error":
		return true
	}
	return false
}

// An audit without findings still writes a SARIF log with an empty
// results array (code scanning then closes earlier alerts).
func TestSARIFWithoutFindings(t *testing.T) {
	r := report{Target: "ws://x/ws", Results: []result{{ID: "baseline", Result: pass, Detail: "ok"}}}
	var out bytes.Buffer
	if err := r.write(&out, "sarif", "dev"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"results": []`) {
		t.Errorf("no empty results array:\n%s", out.String())
	}
}

func TestTextReportAndOutcome(t *testing.T) {
	r := sampleReport()
	var out bytes.Buffer
	r.writeText(&out)
	for _, s := range []string{
		"RESULT  SEVERITY  CHECK", "FAIL    high      cswsh-foreign-origin",
		"[high] cswsh-foreign-origin: a foreign page\n      fix: check Origin",
		"5 checks: 1 pass, 2 fail, 1 n/a, 1 skip; 3 connections opened",
	} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("the text report lacks %q:\n%s", s, out.String())
		}
	}
	cases := map[Severity]error{SevHigh: ErrFindings, SevMedium: ErrFindings, SevLow: ErrFindings, SevNone: nil}
	for sev, want := range cases {
		if got := r.outcome(sev); !errors.Is(got, want) || (want == nil && got != nil) {
			t.Errorf("--fail-on %s: %v, want %v", sev, got, want)
		}
	}
	r.Results[1].Result = pass // only the low finding is left
	if got := r.outcome(SevMedium); got != nil {
		t.Errorf("--fail-on medium with a low finding: %v, want nil", got)
	}
	r.Results[0].Result = fail
	if got := r.outcome(SevNone); !errors.Is(got, ErrInconclusive) {
		t.Errorf("a failed baseline: %v, want ErrInconclusive whatever --fail-on says", got)
	}
}
