package dashboard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/dashboard"
	hubpkg "github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/tracking"
)

type fakeHub struct{}

func (fakeHub) Stats() hubpkg.Stats {
	return hubpkg.Stats{Sessions: 7, StanzasIn: 1234, StanzasOut: 5678,
		AuthFailures: 11, AuthRefused: 12, AcceptErrors: 13, OverCap: 14, Conns: 15, ConnCap: 16,
		Conflated: 17, ReadsPaused: 18, CutOffStalled: 19, CutOffOverflow: 20, PendingPeak: 21,
		NotificationsDropped: 22}
}

type fakeAlerts struct{}

func (fakeAlerts) Stats() tracking.Stats { return tracking.Stats{AlertsDelivered: 9} }

func metricLines(t *testing.T, e *env) string {
	t.Helper()
	return string(e.anon().must(200, "GET", "/metrics", nil).body)
}

func TestMetricsExposeTheHubsCounts(t *testing.T) {
	e := newEnv(t, func(c *dashboard.Config) {
		c.Hub = fakeHub{}
		c.Alerts = fakeAlerts{}
		c.Bridge = dashboard.BridgeFunc(func() dashboard.BridgeStatus { return testBridge })
	})
	e.login("root").must(201, "POST", "/api/fences",
		`{"type":"Feature","properties":{"name":"Depot"},"geometry":{"type":"Polygon","coordinates":[[[13,52],[13.1,52],[13.1,52.1],[13,52.1],[13,52]]]}}`)
	s := e.login("alice").stream(t)
	e.fix("car1", 52.05, 12.95, time.Now())
	e.fix("car1", 52.05, 13.05, time.Now())
	s.next(t, "alert", 2*time.Second)
	m := metricLines(t, e)
	for _, want := range []string{
		"geohub_sessions_connected 7\n",
		"geohub_stanzas_in_total 1234\n",
		"geohub_stanzas_out_total 5678\n",
		"geohub_alerts_delivered_total 9\n",
		"geohub_auth_failures_total 11\n",
		"geohub_auth_refused_total 12\n",
		"geohub_xmpp_accept_errors_total 13\n",
		"geohub_xmpp_connections_over_cap_total 14\n",
		"geohub_xmpp_connections_open 15\n",
		"geohub_xmpp_connections_cap 16\n",
		"geohub_stanzas_conflated_total 17\n",
		"geohub_reads_paused_total 18\n",
		`geohub_sessions_cut_off_total{reason="stalled"} 19`,
		`geohub_sessions_cut_off_total{reason="overflow"} 20`,
		"geohub_pending_peak_bytes 21\n",
		"geohub_notifications_dropped_total 22\n",
		"geohub_fixes_ingested_total 2\n",
		"geohub_alerts_raised_total 1\n",
		"geohub_ingest_batch_seconds_bucket{le=",
		`geohub_mqtt_bridge_state{state="disconnected"} 1`,
		`geohub_mqtt_bridge_state{state="disabled"} 0`,
		`geohub_mqtt_connected{broker="tcp://127.0.0.1:1883"} 1`,
		`geohub_mqtt_connected{broker="ssl://broker.example:8883"} 0`,
		`geohub_mqtt_last_error_timestamp_seconds{broker="ssl://broker.example:8883"} 1.7643456e+09`,
		`geohub_mqtt_last_error_timestamp_seconds{broker="tcp://127.0.0.1:1883"} 0`,
		`geohub_mqtt_connects_total{broker="ssl://broker.example:8883"} 3`,
		`geohub_mqtt_messages_received_total{broker="tcp://127.0.0.1:1883"} 120`,
		`geohub_mqtt_messages_total{broker="tcp://127.0.0.1:1883",outcome="fix"} 100`,
		`geohub_mqtt_messages_total{broker="tcp://127.0.0.1:1883",outcome="malformed"} 7`,
		`geohub_mqtt_messages_total{broker="tcp://127.0.0.1:1883",outcome="refused"} 2`,
		`geohub_mqtt_messages_total{broker="tcp://127.0.0.1:1883",outcome="looped"} 11`,
		`geohub_mqtt_devices_provisioned_total{broker="tcp://127.0.0.1:1883"} 4`,
		`geohub_mqtt_messages_published_total{broker="tcp://127.0.0.1:1883"} 300`,
		`geohub_mqtt_alerts_dropped_total{broker="ssl://broker.example:8883"} 0`,
		"geohub_stream_clients 1\n",
		"geohub_stream_dropped_total 0\n",
		"go_goroutines ",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(m, "geohub_ingest_batch_seconds_count 0\n") {
		t.Error("no batch observed")
	}

	// The dashboard's header reads the same from /api/bridge.
	var st dashboard.BridgeStatus
	e.login("alice").must(200, "GET", "/api/bridge", nil).json(t, &st)
	if st.State != "disconnected" || len(st.Brokers) != 2 || st.Brokers[1].LastError != "connection refused" ||
		!st.Brokers[1].LastErrorTime.Equal(testBridge.Brokers[1].LastErrorTime) || st.Brokers[0].Malformed != 7 || st.Brokers[0].Published != 300 {
		t.Errorf("/api/bridge: %+v", st)
	}
	e.anon().must(401, "GET", "/api/bridge", nil)
}

var testBridge = dashboard.BridgeStatus{State: "disconnected", Brokers: []dashboard.BridgeBroker{
	{Broker: "tcp://127.0.0.1:1883", Connected: true, Connects: 1, Received: 120, Fixes: 100, Malformed: 7, Refused: 2,
		Looped: 11, Provisioned: 4, Published: 300},
	{Broker: "ssl://broker.example:8883", Connects: 3, LastError: "connection refused", LastErrorTime: time.Unix(1764345600, 0).UTC()},
}}

func TestMetricsWithoutHubOrBridge(t *testing.T) {
	e := newEnv(t)
	m := metricLines(t, e)
	for _, want := range []string{"geohub_sessions_connected 0\n", `geohub_mqtt_bridge_state{state="disabled"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(m, "geohub_mqtt_connected") {
		t.Error("broker metrics without a bridge")
	}
	var st dashboard.BridgeStatus
	e.login("alice").must(200, "GET", "/api/bridge", nil).json(t, &st)
	if st.State != "disabled" || st.Brokers == nil || len(st.Brokers) != 0 {
		t.Errorf("/api/bridge without a bridge: %+v", st)
	}
}

// With MetricsToken, /metrics wants an API token, as Prometheus sends it.
func TestMetricsBehindAToken(t *testing.T) {
	e := newEnv(t, func(c *dashboard.Config) { c.MetricsToken = true })
	r := e.anon().status(t, 401, "GET", "/metrics", nil)
	if r.header.Get("WWW-Authenticate") != "Bearer" || !strings.Contains(r.errorMessage(t), "API token") {
		t.Errorf("without a token: %s %v", r, r.header)
	}
	(&client{e: e, bearer: "gh_forged_secret"}).status(t, 401, "GET", "/metrics", nil)
	if r := e.token("alice").must(200, "GET", "/metrics", nil); !strings.Contains(string(r.body), "geohub_sessions_connected") {
		t.Errorf("with a token: %.200s", r.body)
	}
	// A logged-in browser is not a scraper: the cookie does not do.
	e.login("alice").status(t, 401, "GET", "/metrics", nil)
}
