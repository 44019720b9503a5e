package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Options is one audit. Its errors name the flags of `rampart audit`.
type Options struct {
	URL         string        // ws:// or wss://; its host is the only one the audit connects to
	Token       string        // a valid token, sent as "Authorization: Bearer"; "" sends none
	Expiring    string        // a valid token that expires within Duration, for rampart-token-expiry; "" skips it
	Cookie      string        // a valid session cookie, "name=value"; "" sends none
	Origin      string        // an origin the server allows, e.g. https://app.example.com; "" sends none
	Subprotocol string        // offered in every upgrade; "" offers none (the rampart profile offers rampart.v1)
	Profile     string        // "", rampart, socketio or centrifugo: checks that know the application protocol
	Timeout     time.Duration // time allowed to each step of a check, above 0 and at most 1m (required)
	Duration    time.Duration // budget for the whole audit; 0 means 5m, at most 1h
	IdleWait    time.Duration // how long an idle connection may stay open; 0 means 60s
	HeaderWait  time.Duration // how long a handshake sent a line at a time may last; 0 means 20s
	MaxConns    int           // most connections open at once, and most handshakes in a burst; 0 means 50
	SizeCap     int           // largest message the size probe sends, bytes; 0 means 1 MiB
	CAFile      string        // PEM file of CA certificates to trust for wss://; "" means the system roots
	Format      string        // "text" (default), "json" or "sarif"
	FailOn      string        // "high", "medium", "low" (default) or "none"
	DryRun      bool          // list what would be sent; connect to nothing
	UserAgent   string        // the User-Agent of every request; "" means "rampart-audit"
	Version     string        // the tool's version, for SARIF; "" means "dev"
}

// ErrFindings is what Run returns when a check failed at or above the
// FailOn severity: the report is written, and `rampart audit` exits 1.
var ErrFindings = errors.New("audit: findings at or above the --fail-on severity")

// ErrInconclusive is what Run returns when the baseline upgrade failed:
// nothing else could be judged. The report is written; exit 3.
var ErrInconclusive = errors.New("audit: the baseline upgrade failed; nothing could be judged")

// Run checks opts, runs the checks of the profile against opts.URL and
// writes the report to w. It returns ErrInconclusive, ErrFindings, nil, or
// another error when opts are wrong (then nothing was probed or written).
func Run(ctx context.Context, opts Options, w io.Writer) error {
	_, err := runAuditor(ctx, opts, w)
	return err
}

// runAuditor is Run, returning the auditor too (nil when opts are wrong),
// for tests to look at its budgets afterwards.
func runAuditor(ctx context.Context, opts Options, w io.Writer) (*auditor, error) {
	a, err := newAuditor(opts)
	if err != nil {
		return nil, err
	}
	list := plan(a.profile)
	if opts.DryRun {
		return a, writeDryRun(w, a, list)
	}
	results := a.run(ctx, list)
	rep := report{Target: a.display, Profile: a.profile, Results: results, Connections: int(a.dials.Load())}
	if err := rep.write(w, a.format, a.version); err != nil {
		return a, err
	}
	return a, rep.outcome(a.failOn)
}

// Verdicts. FAIL is a finding at its severity; the others are not.
const (
	pass = "PASS"
	fail = "FAIL"
	skip = "SKIP"
	na   = "N/A"  // the weakness cannot exist here (compression not negotiated, say)
	info = "INFO" // an observation that is not a weakness by itself
)

// Severity ranks a finding by what an attacker gains.
type Severity int

// Severities, lowest first.
const (
	SevNone Severity = iota
	SevLow
	SevMedium
	SevHigh
)

func (s Severity) String() string {
	return [...]string{"none", "low", "medium", "high"}[s]
}

// FailOnValues are the values --fail-on takes, highest first.
var FailOnValues = []string{"high", "medium", "low", "none"}

// ParseSeverity reads a --fail-on value.
func ParseSeverity(s string) (Severity, error) {
	for v := SevNone; v <= SevHigh; v++ {
		if s == v.String() {
			return v, nil
		}
	}
	return 0, fmt.Errorf("--fail-on must be high, medium, low or none, not %q", s)
}

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// verdict is what a check concludes; sev, when set, overrides the check's
// severity for this finding (an upgrade without credentials that also
// streams data is worse than one that stays silent).
type verdict struct {
	result string
	sev    Severity
	detail string
}

func passf(format string, args ...any) verdict {
	return verdict{result: pass, detail: fmt.Sprintf(format, args...)}
}
func failf(format string, args ...any) verdict {
	return verdict{result: fail, detail: fmt.Sprintf(format, args...)}
}
func skipf(format string, args ...any) verdict {
	return verdict{result: skip, detail: fmt.Sprintf(format, args...)}
}
func naf(format string, args ...any) verdict {
	return verdict{result: na, detail: fmt.Sprintf(format, args...)}
}
func infof(format string, args ...any) verdict {
	return verdict{result: info, detail: fmt.Sprintf(format, args...)}
}

// at returns v with severity s.
func (v verdict) at(s Severity) verdict { v.sev = s; return v }

// result is one line of the report.
type result struct {
	ID       string   `json:"id"`
	Profile  string   `json:"profile,omitempty"`
	Severity Severity `json:"severity"`
	Result   string   `json:"result"`
	Title    string   `json:"title"`
	Detail   string   `json:"detail"`
	Fix      string   `json:"fix,omitempty"`
}

// run runs the checks in order; the background ones (idle) start first and
// are collected at their place in the list.
func (a *auditor) run(ctx context.Context, list []check) []result {
	pending := map[string]chan verdict{}
	out := make([]result, 0, len(list))
	for i, c := range list {
		if i == 1 { // after the baseline
			a.startBackground(ctx, list, pending)
		}
		var v verdict
		if ch, ok := pending[c.ID]; ok {
			v = <-ch
		} else {
			v = a.guarded(ctx, c)
		}
		r := result{ID: c.ID, Profile: c.Profile, Severity: c.Severity, Result: v.result, Title: c.Title, Detail: v.detail}
		if v.sev != SevNone {
			r.Severity = v.sev
		}
		if v.result == fail {
			r.Fix = c.Fix
		}
		out = append(out, r)
	}
	return out
}

// startBackground starts the background checks, each answering on a
// channel of its own in pending.
func (a *auditor) startBackground(ctx context.Context, list []check, pending map[string]chan verdict) {
	for _, c := range list {
		if c.background {
			ch := make(chan verdict, 1)
			pending[c.ID] = ch
			go func() { ch <- a.guarded(ctx, c) }()
		}
	}
}

// guarded runs one check within the budgets: a check that would start
// after the --duration budget, or after ctx ended, is skipped; the first
// check, baseline, decides whether the others can judge anything.
func (a *auditor) guarded(ctx context.Context, c check) verdict {
	if err := ctx.Err(); err != nil {
		return skipf("interrupted: %v", err)
	}
	if time.Now().After(a.deadline) {
		return skipf("the --duration budget (%s) ran out before this check", a.duration)
	}
	if c.ID != "baseline" && !a.baseline.Load() {
		return skipf("the baseline upgrade failed; nothing to compare with")
	}
	return c.run(a, ctx)
}

// outcome turns the results into Run's error.
func (r report) outcome(failOn Severity) error {
	for _, res := range r.Results {
		if res.ID == "baseline" && res.Result != pass {
			return ErrInconclusive
		}
	}
	if failOn == SevNone {
		return nil
	}
	for _, res := range r.Results {
		if res.Result == fail && res.Severity >= failOn {
			return ErrFindings
		}
	}
	return nil
}

// plural writes "1 check" or "2 checks".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// oneLine makes untrusted text from the server fit on one report line:
// control characters become spaces and it is cut at n bytes.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "..."
	}
	return s
}
