package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Options is one audit. Its errors name the flags of `rampart audit`.
type Options struct {
	URL       string        // ws:// or wss://; its host is the only one the audit connects to
	Token     string        // a valid token for the endpoint (required)
	Origin    string        // an origin the server allows, e.g. https://app.example.com; "" sends none
	Timeout   time.Duration // time allowed to each check, above 0 and at most 1m (required)
	CAFile    string        // PEM file of CA certificates to trust for wss://; "" means the system roots
	JSON      bool          // report as a JSON array of {check, result, detail}, not as text
	UserAgent string        // the User-Agent of every request; "" means "rampart-audit"
}

// ErrFailed is what Run returns when a check failed: the report is
// written, and `rampart audit` exits 1.
var ErrFailed = errors.New("audit: a check failed")

// Run checks opts, runs every check in order against opts.URL and writes
// the report to w. It returns ErrFailed when a check failed; any other
// error means opts are wrong and nothing was probed, or ctx ended before
// the last check (and nothing was written).
func Run(ctx context.Context, opts Options, w io.Writer) error {
	a, err := newAuditor(opts)
	if err != nil {
		return err
	}
	results, err := a.run(ctx)
	if err != nil {
		return err
	}
	if opts.JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(results)
	} else {
		printReport(w, a.display, results)
	}
	for _, r := range results {
		if r.Result == fail {
			return ErrFailed
		}
	}
	return nil
}

// Verdicts. Only FAIL fails the run.
const (
	pass = "PASS"
	fail = "FAIL"
	skip = "SKIP"
	warn = "WARN"
	info = "INFO"
)

// result is one line of the report.
type result struct {
	Check  string `json:"check"`
	Result string `json:"result"`
	Detail string `json:"detail"`
}

type verdict struct{ result, detail string }

func passf(format string, args ...any) verdict { return verdict{pass, fmt.Sprintf(format, args...)} }
func failf(format string, args ...any) verdict { return verdict{fail, fmt.Sprintf(format, args...)} }
func skipf(format string, args ...any) verdict { return verdict{skip, fmt.Sprintf(format, args...)} }
func warnf(format string, args ...any) verdict { return verdict{warn, fmt.Sprintf(format, args...)} }
func infof(format string, args ...any) verdict { return verdict{info, fmt.Sprintf(format, args...)} }

// checks is the list of checks, run in this order, each on a connection of
// its own.
var checks = []struct {
	name string
	run  func(*auditor, context.Context) verdict
}{
	{"baseline", (*auditor).checkBaseline},
	{"no-token", (*auditor).checkNoToken},
	{"alg-none", (*auditor).checkAlgNone},
	{"bad-signature", (*auditor).checkBadSignature},
	{"origin-evil", (*auditor).checkOriginEvil},
	{"origin-null", (*auditor).checkOriginNull},
	{"origin-suffix", (*auditor).checkOriginSuffix},
	{"origin-missing", (*auditor).checkOriginMissing},
	{"no-subprotocol", (*auditor).checkNoSubprotocol},
	{"query-token", (*auditor).checkQueryToken},
	{"bearer-echo", (*auditor).checkBearerEcho},
	{"binary-frame", (*auditor).checkBinaryFrame},
	{"invalid-utf8", (*auditor).checkInvalidUTF8},
	{"too-big", (*auditor).checkTooBig},
	{"unknown-field", (*auditor).checkUnknownField},
	{"compression", (*auditor).checkCompression},
	{"refusal-headers", (*auditor).checkRefusalHeaders},
	{"tls-version", (*auditor).checkTLSVersion},
	{"hsts", (*auditor).checkHSTS},
	{"plaintext", (*auditor).checkPlaintext},
}

func (a *auditor) run(ctx context.Context) ([]result, error) {
	out := make([]result, 0, len(checks))
	for _, c := range checks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v := c.run(a, ctx)
		out = append(out, result{Check: c.name, Result: v.result, Detail: v.detail})
	}
	return out, nil
}

func printReport(w io.Writer, target string, results []result) {
	fmt.Fprintf(w, "rampart audit %s\n", target)
	counts := map[string]int{}
	for _, r := range results {
		counts[r.Result]++
		fmt.Fprintf(w, "%-4s  %-15s  %s\n", r.Result, r.Check, r.Detail)
	}
	var parts []string
	for _, k := range []string{pass, fail, warn, info, skip} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], strings.ToLower(k)))
		}
	}
	fmt.Fprintf(w, "%d checks: %s\n", len(results), strings.Join(parts, ", "))
}
