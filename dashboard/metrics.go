package dashboard

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/tracking"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HubStats is what /metrics reads of the XMPP hub; *hub.Server implements
// it.
type HubStats interface {
	Stats() hub.Stats
}

// AlertStats is what /metrics reads of alert delivery; *tracking.App
// implements it.
type AlertStats interface {
	Stats() tracking.Stats
}

// Bridge is what the dashboard shows of the MQTT bridge (/metrics and
// GET /api/bridge). The bridge's own package does not know the dashboard:
// whoever wires the two adapts its state to BridgeStatus.
type Bridge interface {
	BridgeStatus() BridgeStatus
}

// BridgeFunc adapts a function to Bridge.
type BridgeFunc func() BridgeStatus

// BridgeStatus implements Bridge.
func (f BridgeFunc) BridgeStatus() BridgeStatus { return f() }

// BridgeStatus is the state of the MQTT bridge.
type BridgeStatus struct {
	// State is one of BridgeStates: disabled (no bridge), connecting (a
	// broker connection has never been up), connected (all are up and
	// subscribed), disconnected (one is down after having been up).
	State   string         `json:"state"`
	Brokers []BridgeBroker `json:"brokers"`
}

// BridgeBroker is one broker connection of the bridge and what went
// through it since the hub started.
type BridgeBroker struct {
	Broker        string    `json:"broker"` // its URLs, without passwords
	Connected     bool      `json:"connected"`
	Connects      uint64    `json:"connects"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
	Received      uint64    `json:"received"`  // messages in
	Fixes         uint64    `json:"fixes"`     // locations stored
	Readings      uint64    `json:"readings"`  // telemetry messages stored
	Malformed     uint64    `json:"malformed"` // refused for their payload
	Refused       uint64    `json:"refused"`   // refused for their device
	Failed        uint64    `json:"failed"`    // not stored by the hub's fault; the broker sends them again
	Looped        uint64    `json:"looped"`    // the bridge's own messages, not ingested
	Ignored       uint64    `json:"ignored"`   // messages without a position or reading
	Provisioned   uint64    `json:"provisioned"`
	Published     uint64    `json:"published"` // messages out
	Dropped       uint64    `json:"dropped"`   // alerts dropped because the broker could not take them
}

// BridgeStates are the values of geohub_mqtt_bridge_state's state label.
var BridgeStates = []string{"disabled", "connecting", "connected", "disconnected"}

// bridgeStatus is the bridge's state; "disabled" without one.
func (s *Server) bridgeStatus() BridgeStatus {
	if s.cfg.Bridge == nil {
		return BridgeStatus{State: "disabled", Brokers: []BridgeBroker{}}
	}
	st := s.cfg.Bridge.BridgeStatus()
	if st.Brokers == nil {
		st.Brokers = []BridgeBroker{}
	}
	return st
}

// metrics is the dashboard's own Prometheus registry: a fresh one per
// server, so that tests can run several.
type metrics struct {
	reg           *prometheus.Registry
	batchSeconds  prometheus.Histogram
	alertsRaised  prometheus.Counter
	streamClients prometheus.Gauge
	streamDropped prometheus.Counter
}

// stat reads one count of src for /metrics; without src it is 0.
func stat[S any](src interface{ Stats() S }, f func(S) float64) func() float64 {
	return func() float64 {
		if src == nil {
			return 0
		}
		return f(src.Stats())
	}
}

func newMetrics(cfg Config) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "geohub_sessions_connected", Help: "XMPP sessions bound now."},
			stat(cfg.Hub, func(s hub.Stats) float64 { return float64(s.Sessions) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_stanzas_in_total", Help: "Stanzas read from XMPP clients."},
			stat(cfg.Hub, func(s hub.Stats) float64 { return float64(s.StanzasIn) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_stanzas_out_total", Help: "Stanzas queued for XMPP clients."},
			stat(cfg.Hub, func(s hub.Stats) float64 { return float64(s.StanzasOut) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_alerts_delivered_total",
			Help: "Alerts the hub delivered (chat messages to the notified, pubsub items)."},
			stat(cfg.Alerts, func(s tracking.Stats) float64 { return float64(s.AlertsDelivered) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_alerts_dropped_total",
			Help: "Alerts not delivered because the delivery queue was full."},
			stat(cfg.Alerts, func(s tracking.Stats) float64 { return float64(s.AlertsDropped) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_fixes_refused_total",
			Help: "Positions and readings refused because their device published over --fix-rate."},
			stat(cfg.Alerts, func(s tracking.Stats) float64 { return float64(s.FixesRefused) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "geohub_xmpp_connections_open",
			Help: "XMPP connections and sessions open now, all transports (TCP, direct TLS, WebSocket, BOSH)."},
			stat(cfg.Hub, func(s hub.Stats) float64 { return float64(s.Conns) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "geohub_xmpp_connections_cap",
			Help: "The cap on geohub_xmpp_connections_open, from RLIMIT_NOFILE unless set; 0 = none."},
			stat(cfg.Hub, func(s hub.Stats) float64 { return float64(s.ConnCap) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_xmpp_connections_over_cap_total",
			Help: "XMPP connections closed at once because the cap was reached."},
			stat(cfg.Hub, func(s hub.Stats) float64 { return float64(s.OverCap) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_xmpp_connections_refused_total",
			Help: "XMPP connections refused before TLS by the limits per address (--max-conns-per-ip, --conn-rate, failed logins)."},
			stat(cfg.Hub, func(s hub.Stats) float64 { return float64(s.Refused) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_xmpp_accept_errors_total",
			Help: "Failed accepts on the XMPP listeners (such as out of file descriptors); the listener retries."},
			stat(cfg.Hub, func(s hub.Stats) float64 { return float64(s.AcceptErrors) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_auth_failures_total",
			Help: "XMPP logins with a wrong password, counted against their address's lockout."},
			stat(cfg.Hub, func(s hub.Stats) float64 { return float64(s.AuthFailures) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_auth_refused_total",
			Help: "XMPP logins refused unchecked because their address was locked out."},
			stat(cfg.Hub, func(s hub.Stats) float64 { return float64(s.AuthRefused) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_stanzas_conflated_total",
			Help: "Queued pubsub notifications and presence replaced by a newer one (same node and publisher, or same sender) before a client that fell behind read them."},
			stat(cfg.Hub, func(s hub.Stats) float64 { return float64(s.Conflated) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_reads_paused_total",
			Help: "Times a client's reads were paused because it sent faster than --stanza-rate, --message-rate or --byte-rate."},
			stat(cfg.Hub, func(s hub.Stats) float64 { return float64(s.ReadsPaused) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_sessions_cut_off_total", ConstLabels: prometheus.Labels{"reason": "stalled"},
			Help: "XMPP sessions cut off: stalled (took nothing for --stall-timeout) or overflow (more than --max-pending bytes waiting)."},
			stat(cfg.Hub, func(s hub.Stats) float64 { return float64(s.CutOffStalled) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_sessions_cut_off_total", ConstLabels: prometheus.Labels{"reason": "overflow"},
			Help: "XMPP sessions cut off: stalled (took nothing for --stall-timeout) or overflow (more than --max-pending bytes waiting)."},
			stat(cfg.Hub, func(s hub.Stats) float64 { return float64(s.CutOffOverflow) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "geohub_pending_peak_bytes",
			Help: "The most bytes that have waited unwritten for one XMPP session since the hub started (counted from 32 KiB)."},
			stat(cfg.Hub, func(s hub.Stats) float64 { return float64(s.PendingPeak) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_notifications_dropped_total",
			Help: "Pubsub and PEP notifications dropped because the delivery queue (4096) was full; the publishes themselves were stored and acknowledged."},
			stat(cfg.Hub, func(s hub.Stats) float64 { return float64(s.NotificationsDropped) })),
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
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "geohub_store_writes_refused_total",
			Help: "Writes refused because the data folder's disk was full or could not be written (answered resource-constraint or 507; nothing half-written)."},
			func() float64 { return float64(cfg.Commit.Unwritable()) }))
		cfg.Commit.OnBatch(func(_ int, took time.Duration) { m.batchSeconds.Observe(took.Seconds()) })
	}
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// bridgeCollector reports the bridge's state as one gauge per state, 1 for
// the current one (the usual shape of an enumeration in Prometheus), and
// each broker connection's state and counters.
type bridgeCollector struct{ b Bridge }

var (
	bridgeDesc = prometheus.NewDesc("geohub_mqtt_bridge_state",
		"State of the MQTT bridge: 1 for the current state, 0 for the others.", []string{"state"}, nil)
	bridgeConnected = prometheus.NewDesc("geohub_mqtt_connected",
		"1 while the broker connection is up and subscribed.", []string{"broker"}, nil)
	bridgeConnects = prometheus.NewDesc("geohub_mqtt_connects_total",
		"Successful connects to the broker, reconnects included.", []string{"broker"}, nil)
	bridgeErrorTime = prometheus.NewDesc("geohub_mqtt_last_error_timestamp_seconds",
		"When the broker connection last failed (Unix time; 0: never). GET /api/bridge and the log say why.", []string{"broker"}, nil)
	bridgeReceived = prometheus.NewDesc("geohub_mqtt_messages_received_total",
		"MQTT messages the bridge received.", []string{"broker"}, nil)
	bridgeHandled = prometheus.NewDesc("geohub_mqtt_messages_total",
		"MQTT messages the bridge handled, by outcome: fix and readings (stored), malformed (payload refused), "+
			"refused (device refused), failed (not stored; sent again), looped (its own), ignored (no position or reading).",
		[]string{"broker", "outcome"}, nil)
	bridgeProvisioned = prometheus.NewDesc("geohub_mqtt_devices_provisioned_total",
		"Device accounts the bridge created for unknown trackers.", []string{"broker"}, nil)
	bridgePublished = prometheus.NewDesc("geohub_mqtt_messages_published_total",
		"MQTT messages the bridge published (positions, status, alerts).", []string{"broker"}, nil)
	bridgeDropped = prometheus.NewDesc("geohub_mqtt_alerts_dropped_total",
		"Alerts not published because the broker could not take them.", []string{"broker"}, nil)
)

func (c bridgeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{bridgeDesc, bridgeConnected, bridgeConnects, bridgeErrorTime, bridgeReceived,
		bridgeHandled, bridgeProvisioned, bridgePublished, bridgeDropped} {
		ch <- d
	}
}

func (c bridgeCollector) Collect(ch chan<- prometheus.Metric) {
	st := BridgeStatus{State: "disabled"}
	if c.b != nil {
		st = c.b.BridgeStatus()
	}
	for _, s := range BridgeStates {
		v := 0.0
		if s == st.State {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(bridgeDesc, prometheus.GaugeValue, v, s)
	}
	if !slices.Contains(BridgeStates, st.State) {
		ch <- prometheus.MustNewConstMetric(bridgeDesc, prometheus.GaugeValue, 1, st.State)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, b := range st.Brokers {
		up, errTime := 0.0, 0.0
		if b.Connected {
			up = 1
		}
		if !b.LastErrorTime.IsZero() {
			errTime = float64(b.LastErrorTime.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(bridgeConnected, prometheus.GaugeValue, up, b.Broker)
		ch <- prometheus.MustNewConstMetric(bridgeErrorTime, prometheus.GaugeValue, errTime, b.Broker)
		counter(bridgeConnects, b.Connects, b.Broker)
		counter(bridgeReceived, b.Received, b.Broker)
		for _, o := range []struct {
			outcome string
			n       uint64
		}{{"fix", b.Fixes}, {"readings", b.Readings}, {"malformed", b.Malformed}, {"refused", b.Refused},
			{"failed", b.Failed}, {"looped", b.Looped}, {"ignored", b.Ignored}} {
			counter(bridgeHandled, o.n, b.Broker, o.outcome)
		}
		counter(bridgeProvisioned, b.Provisioned, b.Broker)
		counter(bridgePublished, b.Published, b.Broker)
		counter(bridgeDropped, b.Dropped, b.Broker)
	}
}

// metricsAccess lets a scrape through when /metrics is open, or when it
// carries a valid API token.
func (s *Server) metricsAccess(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.cfg.MetricsToken {
			return next(c)
		}
		tok, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
		if !ok || s.cfg.Tokens == nil {
			c.Response().Header().Set("WWW-Authenticate", "Bearer")
			return apiError(http.StatusUnauthorized, "/metrics needs an API token: Authorization: Bearer gh_... (geohub token add)")
		}
		if _, _, ok := s.cfg.Tokens.Authenticate(strings.TrimSpace(tok)); !ok {
			return apiError(http.StatusUnauthorized, "invalid or revoked API token")
		}
		return next(c)
	}
}
