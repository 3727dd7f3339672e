package dashboard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/dashboard"
	hubpkg "github.com/geohub/geohub/hub"
)

type fakeHub struct{}

func (fakeHub) Stats() hubpkg.Stats {
	return hubpkg.Stats{Sessions: 7, StanzasIn: 1234, StanzasOut: 5678, AlertsDelivered: 9}
}

func metricLines(t *testing.T, e *env) string {
	t.Helper()
	return string(e.anon().must(200, "GET", "/metrics", nil).body)
}

func TestMetricsExposeTheHubsCounts(t *testing.T) {
	e := newEnv(t, func(c *dashboard.Config) {
		c.Hub = fakeHub{}
		c.Bridge = dashboard.BridgeFunc(func() string { return "connected" })
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
		"geohub_fixes_ingested_total 2\n",
		"geohub_alerts_raised_total 1\n",
		"geohub_ingest_batch_seconds_bucket{le=",
		`geohub_mqtt_bridge_state{state="connected"} 1`,
		`geohub_mqtt_bridge_state{state="disabled"} 0`,
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
}

func TestMetricsWithoutHubOrBridge(t *testing.T) {
	e := newEnv(t)
	m := metricLines(t, e)
	for _, want := range []string{"geohub_sessions_connected 0\n", `geohub_mqtt_bridge_state{state="disabled"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
