package metrics

import "github.com/prometheus/client_golang/prometheus"

// Hooks is the collectors of the backend hooks.
type Hooks struct {
	Calls    *prometheus.CounterVec   // hook, result
	Duration *prometheus.HistogramVec // hook
	Dropped  *prometheus.CounterVec   // reason
}

// NewHooks returns the hooks' collectors, registered on reg when it is
// not nil.
func NewHooks(reg prometheus.Registerer) *Hooks {
	h := &Hooks{
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_hook_calls_total",
			Help: "Backend hook calls by hook (connect, subscribe, publish, notify) and result " +
				"(allow, deny, ok, error, timeout, busy, redirect, bad_reply, status).",
		}, []string{"hook", "result"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rampart_hook_duration_seconds",
			Help:    "Time a backend hook call took, whatever its result, by hook.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"hook"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_hook_notifications_dropped_total",
			Help: "Notifications given up, by reason (queue_full, attempts, shutdown, disabled, error).",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(h.Calls, h.Duration, h.Dropped)
	}
	return h
}
