package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"
)

// Report is what one run prints: one JSON line on stdout. Durations are
// in seconds (_s) or milliseconds (_ms), server CPU per unit in
// microseconds (_us_per_...). Exactly one of the mode's results is set.
type Report struct {
	Mode      string           `json:"mode"`
	Label     string           `json:"label,omitempty"`
	Start     time.Time        `json:"start"`
	Params    Params           `json:"params"`
	Idle      *IdleResult      `json:"idle,omitempty"`
	Fanout    *StepResult      `json:"fanout,omitempty"`
	Ramp      *RampResult      `json:"ramp,omitempty"`
	Handshake *HandshakeResult `json:"handshake,omitempty"`
}

// Params are the options of the run that shape its load.
type Params struct {
	URL            string  `json:"url"`
	Procs          int     `json:"procs"`
	Sources        int     `json:"sources"` // source addresses
	Users          int     `json:"users"`
	Conns          int     `json:"conns,omitempty"` // idle connections or subscribers
	Concurrency    int     `json:"concurrency,omitempty"`
	Channels       int     `json:"channels,omitempty"` // distinct channels subscribed
	ChannelPerConn bool    `json:"channel_per_conn,omitempty"`
	DurationS      float64 `json:"duration_s"`
	Rate           int     `json:"rate,omitempty"`
	RateStep       int     `json:"rate_step,omitempty"`
	RateMax        int     `json:"rate_max,omitempty"`
	P99LimitMS     float64 `json:"p99_limit_ms,omitempty"`
	Size           int     `json:"size,omitempty"`
	Loops          int     `json:"loops,omitempty"`
	Handshakes     int     `json:"handshakes,omitempty"`
	ServerPID      int     `json:"server_pid,omitempty"`
}

// IdleResult is an idle run: how fast the connections opened, what they
// cost the server while open and held.
type IdleResult struct {
	Opened             int     `json:"opened"`      // connections open and subscribed
	OpenS              float64 `json:"open_s"`      // from the first dial to the last subscribe reply
	ConnsPerS          float64 `json:"conns_per_s"` // Opened / OpenS
	HeldS              float64 `json:"held_s"`
	ClosedByServer     int     `json:"closed_by_server"`
	ServerCPUOpenMS    float64 `json:"server_cpu_open_ms,omitempty"` // while the connections opened
	ServerCPUUSPerConn float64 `json:"server_cpu_us_per_conn,omitempty"`
	RSSBeforeKiB       int64   `json:"rss_before_kib,omitempty"` // the server's VmRSS before the first dial
	RSSAfterKiB        int64   `json:"rss_after_kib,omitempty"`  // and once stable while held
	RSSStable          bool    `json:"rss_stable,omitempty"`     // two readings 3 s apart within 0.5%
	KiBPerConn         float64 `json:"server_kib_per_conn,omitempty"`
}

// StepResult is one publishing rate held for a time: a fanout run, or one
// step of a ramp.
type StepResult struct {
	Rate                   int     `json:"rate"` // publications per second asked for
	Subscribers            int     `json:"subscribers"`
	Published              int     `json:"published"`  // sent and not refused (unanswered counted)
	Refused                int     `json:"refused"`    // refused by the server
	Unanswered             int     `json:"unanswered"` // without a reply by the end
	FirstRefusal           string  `json:"first_refusal,omitempty"`
	Expected               uint64  `json:"expected"` // Subscribers * Published
	Received               uint64  `json:"received"`
	Lost                   uint64  `json:"lost"`
	Duplicates             uint64  `json:"duplicates"`
	Gaps                   uint64  `json:"gaps"`
	Closed                 int     `json:"closed"`    // subscribers the server closed
	ElapsedS               float64 `json:"elapsed_s"` // first publish to last delivery
	DeliveriesPerS         float64 `json:"deliveries_per_s"`
	P50MS                  float64 `json:"p50_ms"`
	P90MS                  float64 `json:"p90_ms"`
	P99MS                  float64 `json:"p99_ms"`
	MaxMS                  float64 `json:"max_ms"`
	ServerCPUMS            float64 `json:"server_cpu_ms,omitempty"`
	ServerCPUUSPerDelivery float64 `json:"server_cpu_us_per_delivery,omitempty"`
	Failed                 string  `json:"failed,omitempty"` // ramp: why the step failed
}

// RampResult is a ramp: its steps in order, the last one the first that
// failed (unless every step passed), and the best, the highest passing.
type RampResult struct {
	Steps []StepResult `json:"steps"`
	Best  *StepResult  `json:"best"` // null when the first step failed
}

// HandshakeResult is a handshake run: connections opened with a fresh
// token, their welcome awaited, and closed, in loops.
type HandshakeResult struct {
	Handshakes              int     `json:"handshakes"` // welcomes received
	Errors                  int     `json:"errors"`
	FirstError              string  `json:"first_error,omitempty"`
	ElapsedS                float64 `json:"elapsed_s"`
	PerS                    float64 `json:"handshakes_per_s"`
	P50MS                   float64 `json:"p50_ms"` // dial to welcome
	P99MS                   float64 `json:"p99_ms"`
	MaxMS                   float64 `json:"max_ms"`
	ServerCPUMS             float64 `json:"server_cpu_ms,omitempty"`
	ServerCPUUSPerHandshake float64 `json:"server_cpu_us_per_handshake,omitempty"`
}

func newReport(o Options, start time.Time) *Report {
	p := Params{URL: o.URL, Procs: o.Procs, Sources: len(o.Sources), Users: o.Users,
		DurationS: seconds(o.Duration), ServerPID: o.ServerPID}
	switch o.Mode {
	case ModeIdle:
		p.Conns, p.Concurrency, p.ChannelPerConn = o.Conns, o.Concurrency, o.ChannelPerConn
		p.Channels = min(o.Channels, o.Conns)
		if o.ChannelPerConn {
			p.Channels = o.Conns
		}
	case ModeFanout, ModeRamp:
		p.Conns, p.Concurrency, p.Channels, p.Rate, p.Size = o.Conns, o.Concurrency, 1, o.Rate, o.Size
		if o.Mode == ModeRamp {
			p.RateStep, p.RateMax, p.P99LimitMS = o.RateStep, o.RateMax, float64(o.P99Limit)/float64(time.Millisecond)
		}
	case ModeHandshake:
		p.Loops, p.Handshakes = o.Loops, o.Handshakes
	}
	return &Report{Mode: o.Mode, Label: o.Label, Start: start.UTC().Round(time.Millisecond), Params: p}
}

// write prints r as one line of JSON.
func (r *Report) write(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("bench: report: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// seconds is d in seconds, to the millisecond.
func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

// perUnitUS is cpu divided by n, in microseconds to the nanosecond; 0
// when either is.
func perUnitUS(cpu time.Duration, n uint64) float64 {
	if cpu <= 0 || n == 0 {
		return 0
	}
	return math.Round(float64(cpu.Nanoseconds())/float64(n)) / 1000
}

// perSecond is n per second over d, to a tenth; 0 when d is not positive.
func perSecond(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return math.Round(float64(n)/d.Seconds()*10) / 10
}
