package dashboard

import (
	"net/http"
	"slices"
	"time"

	"github.com/geohub/geohub/hub"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HubStats is what /metrics reads of the XMPP hub; *hub.Server implements
// it.
type HubStats interface {
	Stats() hub.Stats
}

// Bridge is what /metrics reads of the MQTT bridge. BridgeState is one of
// BridgeStates; a nil Bridge is "disabled".
type Bridge interface {
	BridgeState() string
}

// BridgeFunc adapts a function to Bridge, for wiring a bridge whose own
// API says more (its Stats) than /metrics needs.
type BridgeFunc func() string

// BridgeState implements Bridge.
func (f BridgeFunc) BridgeState() string { return f() }

// BridgeStates are the values of geohub_mqtt_bridge_state's state label.
var BridgeStates = []string{"disabled", "connecting", "connected", "disconnected"}

// metrics is the dashboard's own Prometheus registry: a fresh one per
// server, so that tests can run several.
type metrics struct {
	reg           *prometheus.Registry
	batchSeconds  prometheus.Histogram
	alertsRaised  prometheus.Counter
	streamClients prometheus.Gauge
	streamDropped prometheus.Counter
}

func newMetrics(cfg Config) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	hubStat := func(f func(hub.Stats) float64) func() float64 {
		return func() float64 {
			if cfg.Hub == nil {
				return 0
			}
			return f(cfg.Hub.Stats())
		}
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "geohub_sessions_connected", Help: "XMPP sessions bound now."},
			hubStat(func(s hub.Stats) float64 { return float64(s.Sessions) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_stanzas_in_total", Help: "Stanzas read from XMPP clients."},
			hubStat(func(s hub.Stats) float64 { return float64(s.StanzasIn) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_stanzas_out_total", Help: "Stanzas queued for XMPP clients."},
			hubStat(func(s hub.Stats) float64 { return float64(s.StanzasOut) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_alerts_delivered_total",
			Help: "Alerts the hub delivered (chat messages to the notified, pubsub items)."},
			hubStat(func(s hub.Stats) float64 { return float64(s.AlertsDelivered) })),
	)
	if cfg.Geo != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_fixes_ingested_total",
			Help: "Position fixes durably stored, from any transport (exact repeats not counted)."},
			func() float64 { return float64(cfg.Geo.Ingested()) }))
	}
	m.batchSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "geohub_ingest_batch_seconds",
		Help:    "Time to commit one group-commit batch of writes (fixes, readings, pubsub items), sync included.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)})
	m.alertsRaised = prometheus.NewCounter(prometheus.CounterOpts{Name: "geohub_alerts_raised_total",
		Help: "Alerts raised by geofences and threshold rules."})
	m.streamClients = prometheus.NewGauge(prometheus.GaugeOpts{Name: "geohub_stream_clients", Help: "Live stream (/api/stream) clients connected."})
	m.streamDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "geohub_stream_dropped_total",
		Help: "Live stream clients cut off because they could not keep up."})
	m.reg.MustRegister(m.batchSeconds, m.alertsRaised, m.streamClients, m.streamDropped, bridgeCollector{cfg.Bridge})
	if cfg.Commit != nil {
		cfg.Commit.OnBatch(func(_ int, took time.Duration) { m.batchSeconds.Observe(took.Seconds()) })
	}
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// bridgeCollector reports the bridge's state as one gauge per state, 1 for
// the current one: the usual shape of an enumeration in Prometheus.
type bridgeCollector struct{ b Bridge }

var bridgeDesc = prometheus.NewDesc("geohub_mqtt_bridge_state",
	"State of the MQTT bridge: 1 for the current state, 0 for the others.", []string{"state"}, nil)

func (c bridgeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- bridgeDesc }

func (c bridgeCollector) Collect(ch chan<- prometheus.Metric) {
	state := "disabled"
	if c.b != nil {
		state = c.b.BridgeState()
	}
	for _, s := range BridgeStates {
		v := 0.0
		if s == state {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(bridgeDesc, prometheus.GaugeValue, v, s)
	}
	if !slices.Contains(BridgeStates, state) {
		ch <- prometheus.MustNewConstMetric(bridgeDesc, prometheus.GaugeValue, 1, state)
	}
}
