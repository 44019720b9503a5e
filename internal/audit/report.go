package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// report is the audit's outcome in the three forms Run writes.
type report struct {
	Target      string   `json:"target"`
	Profile     string   `json:"profile,omitempty"`
	Connections int      `json:"connections"` // TCP connections the audit opened
	Results     []result `json:"results"`
}

func (r report) write(w io.Writer, format, version string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "sarif":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r.sarif(version))
	}
	r.writeText(w)
	return nil
}

// writeText writes a table, then the fix of every finding, then a summary.
func (r report) writeText(w io.Writer) {
	fmt.Fprintf(w, "rampart audit %s", r.Target)
	if r.Profile != "" {
		fmt.Fprintf(w, " (profile %s)", r.Profile)
	}
	fmt.Fprint(w, "\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tSEVERITY\tCHECK\tDETAIL")
	counts := map[string]int{}
	for _, res := range r.Results {
		counts[res.Result]++
		sev := "-"
		if res.Result == fail {
			sev = res.Severity.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", res.Result, sev, res.ID, res.Detail)
	}
	_ = tw.Flush()
	var findings []result
	for _, res := range r.Results {
		if res.Result == fail {
			findings = append(findings, res)
		}
	}
	if len(findings) > 0 {
		fmt.Fprint(w, "\nfindings:\n")
		for _, f := range findings {
			fmt.Fprintf(w, "  [%s] %s: %s\n      fix: %s\n", f.Severity, f.ID, f.Title, f.Fix)
		}
	}
	var parts []string
	for _, k := range []string{pass, fail, na, info, skip} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], strings.ToLower(k)))
		}
	}
	fmt.Fprintf(w, "\n%s: %s; %s opened\n", plural(len(r.Results), "check"), strings.Join(parts, ", "), plural(r.Connections, "connection"))
}

// SARIF 2.1.0, the subset code-scanning tools read: one run, a rule per
// check, a result per finding.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string            `json:"id"`
	Name                 string            `json:"name"`
	ShortDescription     sarifText         `json:"shortDescription"`
	FullDescription      sarifText         `json:"fullDescription"`
	Help                 sarifText         `json:"help"`
	DefaultConfiguration map[string]string `json:"defaultConfiguration"`
	Properties           map[string]any    `json:"properties"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation struct {
		ArtifactLocation struct {
			URI string `json:"uri"`
		} `json:"artifactLocation"`
	} `json:"physicalLocation"`
}

const sarifSchema = "https://json.schemastore.org/sarif-2.1.0.json"

// sarifLevel maps a severity to SARIF's levels; securitySeverity to the
// 0-10 score code-scanning tools sort by.
func sarifLevel(s Severity) (string, string) {
	switch s {
	case SevHigh:
		return "error", "8.0"
	case SevMedium:
		return "warning", "5.0"
	case SevLow:
		return "note", "2.0"
	}
	return "note", "0.0"
}

func (r report) sarif(version string) sarifLog {
	driver := sarifDriver{Name: "rampart-audit", Version: version, InformationURI: "https://github.com/rampart-rt/rampart/blob/main/docs/audit.md"}
	index := map[string]int{}
	var results []sarifResult
	for _, res := range r.Results {
		if _, ok := index[res.ID]; !ok {
			index[res.ID] = len(driver.Rules)
			driver.Rules = append(driver.Rules, sarifRuleOf(res))
		}
		if res.Result != fail {
			continue
		}
		level, _ := sarifLevel(res.Severity)
		sr := sarifResult{RuleID: res.ID, RuleIndex: index[res.ID], Level: level,
			Message: sarifText{Text: res.Title + ": " + res.Detail + ". Fix: " + res.Fix}}
		var loc sarifLocation
		loc.PhysicalLocation.ArtifactLocation.URI = r.Target
		sr.Locations = []sarifLocation{loc}
		results = append(results, sr)
	}
	if results == nil {
		results = []sarifResult{}
	}
	return sarifLog{Schema: sarifSchema, Version: "2.1.0", Runs: []sarifRun{{Tool: sarifTool{Driver: driver}, Results: results}}}
}

func sarifRuleOf(res result) sarifRule {
	var c check
	for _, k := range allChecks() {
		if k.ID == res.ID {
			c = k
		}
	}
	level, score := sarifLevel(c.Severity)
	return sarifRule{
		ID: c.ID, Name: c.ID,
		ShortDescription:     sarifText{Text: c.Title},
		FullDescription:      sarifText{Text: "Sends " + c.Sends + "."},
		Help:                 sarifText{Text: c.Fix},
		DefaultConfiguration: map[string]string{"level": level},
		Properties:           map[string]any{"security-severity": score, "tags": []string{"security", "websocket"}},
	}
}
