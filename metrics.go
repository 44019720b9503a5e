package rampart

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors. Every label has a small,
// fixed set of values: never a user, a channel or an IP.
type metrics struct {
	connections    prometheus.GaugeFunc
	handshakes     *prometheus.CounterVec // result, reason
	commands       *prometheus.CounterVec // action, result
	publications   *prometheus.CounterVec // source
	deliveries     prometheus.Counter
	latency        prometheus.Histogram
	queueDrops     *prometheus.CounterVec // reason
	closes         *prometheus.CounterVec // code
	rateLimited    *prometheus.CounterVec // kind
	violations     prometheus.Counter
	brokerErrors   *prometheus.CounterVec // op
	logsSuppressed prometheus.Counter
	panics         *prometheus.CounterVec // where
}

func newMetrics(reg prometheus.Registerer, conns func() float64) *metrics {
	m := &metrics{
		connections: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rampart_connections", Help: "Open WebSocket connections.",
		}, conns),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_handshakes_total", Help: "Upgrade requests by result (accepted, rejected) and reason.",
		}, []string{"result", "reason"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_commands_total", Help: "Client commands by action and result (ok or an error code).",
		}, []string{"action", "result"}),
		publications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_publications_total", Help: "Publications accepted, by source (client, api).",
		}, []string{"source"}),
		deliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rampart_deliveries_total", Help: "Publications queued to subscribers of this node.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rampart_delivery_latency_seconds",
			Help:    "Time from the broker accepting a publication to this node queueing it to its last subscriber.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		queueDrops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_send_queue_drops_total", Help: "Connections dropped because their send queue overflowed, by reason.",
		}, []string{"reason"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_closes_total", Help: "Closed connections by close code (0: no close frame).",
		}, []string{"code"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_rate_limited_total", Help: "Rate limit hits by kind (command, handshake, ip_connections, user_connections).",
		}, []string{"kind"}),
		violations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rampart_violations_total", Help: "Invalid, refused or forbidden client messages.",
		}),
		brokerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_broker_errors_total", Help: "Failed broker calls by operation.",
		}, []string{"op"}),
		logsSuppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rampart_log_events_suppressed_total", Help: "High-rate log events left out by the log rate limit.",
		}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_panics_total", Help: "Panics contained, by where (reader, command, writer, rpc, sweep, delivery, api, admin, http).",
		}, []string{"where"}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.handshakes, m.commands, m.publications, m.deliveries, m.latency,
			m.queueDrops, m.closes, m.rateLimited, m.violations, m.brokerErrors, m.logsSuppressed, m.panics)
	}
	return m
}

func codeLabel(code uint16) string { return strconv.Itoa(int(code)) }
