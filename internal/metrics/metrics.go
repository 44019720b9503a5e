// Package metrics holds the server's Prometheus collectors, registered on
// the registry the server is given (never the global one). Every label
// has a small, fixed set of values: never a user, a channel or an IP.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Set is the server's collectors.
type Set struct {
	Connections    prometheus.GaugeFunc
	Handshakes     *prometheus.CounterVec // result, reason
	Commands       *prometheus.CounterVec // action, result
	Publications   *prometheus.CounterVec // source
	Deliveries     prometheus.Counter
	JoinLeave      *prometheus.CounterVec // push
	Compressed     prometheus.Counter
	Latency        prometheus.Histogram
	QueueDrops     *prometheus.CounterVec // reason
	Closes         *prometheus.CounterVec // code
	RateLimited    *prometheus.CounterVec // kind
	Violations     prometheus.Counter
	BrokerErrors   *prometheus.CounterVec // op
	LogsSuppressed prometheus.Counter
	Panics         *prometheus.CounterVec // where
}

// New returns the collectors, registered on reg when it is not nil; conns
// reports the open connections.
func New(reg prometheus.Registerer, conns func() float64) *Set {
	m := &Set{
		Connections: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rampart_connections", Help: "Open WebSocket connections.",
		}, conns),
		Handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_handshakes_total", Help: "Upgrade requests by result (accepted, rejected) and reason.",
		}, []string{"result", "reason"}),
		Commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_commands_total", Help: "Client commands by action and result (ok or an error code).",
		}, []string{"action", "result"}),
		Publications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_publications_total", Help: "Publications accepted, by source (client, api).",
		}, []string{"source"}),
		Deliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rampart_deliveries_total", Help: "Publications queued to subscribers of this node.",
		}),
		JoinLeave: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_join_leave_pushes_total", Help: "Join, leave and presence_changed pushes queued to subscribers of this node, by push.",
		}, []string{"push"}),
		Compressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rampart_publications_compressed_total",
			Help: "Publications compressed for permessage-deflate: one per publication, however many subscribers receive it compressed.",
		}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rampart_delivery_latency_seconds",
			Help:    "Time from the broker accepting a publication to this node queueing it to its last subscriber.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		QueueDrops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_send_queue_drops_total", Help: "Connections dropped because their send queue overflowed, by reason.",
		}, []string{"reason"}),
		Closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_closes_total", Help: "Closed connections by close code (0: no close frame).",
		}, []string{"code"}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_rate_limited_total", Help: "Rate limit hits by kind (command, handshake, ip_connections, user_connections).",
		}, []string{"kind"}),
		Violations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rampart_violations_total", Help: "Invalid, refused or forbidden client messages.",
		}),
		BrokerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_broker_errors_total", Help: "Failed broker calls by operation.",
		}, []string{"op"}),
		LogsSuppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rampart_log_events_suppressed_total", Help: "High-rate log events left out by the log rate limit.",
		}),
		Panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_panics_total", Help: "Panics contained, by where (reader, command, writer, rpc, sweep, delivery, api, admin, http).",
		}, []string{"where"}),
	}
	if reg != nil {
		reg.MustRegister(m.Connections, m.Handshakes, m.Commands, m.Publications, m.Deliveries, m.JoinLeave, m.Compressed, m.Latency,
			m.QueueDrops, m.Closes, m.RateLimited, m.Violations, m.BrokerErrors, m.LogsSuppressed, m.Panics)
	}
	return m
}

// CodeLabel is a close code as a label value.
func CodeLabel(code uint16) string { return strconv.Itoa(int(code)) }
