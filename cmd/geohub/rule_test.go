package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/xmpptest"
)

func TestRuleCommandsSensorDataAndWhere(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	carPassword := strings.Fields(mustGeohub(t, "device", "add", "car-1", "--group", "fleet", "--data", data))[1]
	opPassword := strings.Fields(mustGeohub(t, "device", "add", "op", "--role", "operator", "--group", "fleet", "--data", data))[1]

	for _, bad := range [][]string{
		{"--name", "x", "--sensor", "battery"},                                       // no threshold
		{"--sensor", "battery", "--below", "15"},                                     // no name
		{"--name", "x", "--below", "15"},                                             // no sensor
		{"--name", "x", "--sensor", "battery", "--below", "lots"},                    // not a number
		{"--name", "x", "--sensor", "battery", "--below", "20", "--above", "10"},     // ranges overlap
		{"--name", "x", "--sensor", "battery", "--below", "15", "--notify", "ghost"}, // no such account
		{"--name", "x", "--sensor", "battery", "--below", "15", "--notify", "car-1"}, // a device is not told
		{"--name", "x", "--sensor", "battery", "--below", "15", "--devices", "op"},   // an operator is no device
		{"--name", "x", "--sensor", "battery", "--below", "15", "--groups", "nobody"},
		{"--name", "x", "--sensor", "battery", "--below", "15", "--hysteresis", "-1"},
	} {
		if out, err := geohub(t, nil, append([]string{"rule", "add", "--data", data}, bad...)...); err == nil {
			t.Errorf("rule add %q accepted: %q", bad, out)
		}
	}
	if out := mustGeohub(t, "rule", "list", "--data", data); strings.Count(out, "\n") != 1 {
		t.Fatalf("a refused rule was stored: %q", out)
	}

	var added []geoloc.Rule
	out := mustGeohub(t, "rule", "add", "--name", "Low battery", "--sensor", "battery", "--below", "15", "--hysteresis", "2",
		"--groups", "fleet", "--notify", "op", "--format", "json", "--data", data)
	if err := json.Unmarshal([]byte(out), &added); err != nil || len(added) != 1 || added[0].ID == "" || *added[0].Below != 15 {
		t.Fatalf("rule add: %v %q", err, out)
	}
	low := added[0].ID
	if out := mustGeohub(t, "rule", "list", "--data", data); !strings.Contains(out, low) || !strings.Contains(out, "battery < 15 (±2)") ||
		!strings.Contains(out, "group:fleet") || !strings.Contains(out, "op@localhost") {
		t.Errorf("rule list: %q", out)
	}

	hub := startServe(t, data)
	cert, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	o := xmpptest.Options{Addr: hub.C2S, TLS: xmpptest.TrustPEM(cert)}
	op := xmpptest.Dial(t, o, "op", opPassword)
	op.Send("<presence/>")
	car := xmpptest.Dial(t, o, "car-1", carPassword)
	publish := func(fields string) *xmpptest.Node {
		t.Helper()
		return car.IQ("<iq type='set' id='ID'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:iot:sensordata'><item>" +
			"<fields xmlns='urn:xmpp:iot:sensordata' seqnr='1' done='true'><timestamp value='" + time.Now().UTC().Format(time.RFC3339Nano) + "'>" +
			fields + "</timestamp></fields></item></publish></pubsub></iq>")
	}
	isAlert := func(n *xmpptest.Node) bool { return n.Name() == "message" && n.Child(geoloc.NSAlert, "alert") != nil }
	if res := publish("<numeric name='battery' value='12' unit='%'/><numeric name='temperature' value='4.5' unit='C'/>"); res.Attr("type") != "result" {
		t.Fatalf("publish: %s", res)
	}
	msg := op.WaitFor("low battery alert", isAlert)
	if a := msg.Child(geoloc.NSAlert, "alert"); a.Attr("rule") != low || a.Attr("event") != "below" ||
		!strings.Contains(msg.Find("body").Text, "car-1 battery 12 % below 15 % (Low battery)") {
		t.Errorf("alert: %s", msg)
	}
	if res := publish("<numeric name='battery' value='Inf'/>"); res.ErrorCondition() != "bad-request" {
		t.Errorf("a bad reading: %s", res)
	}

	// where shows the latest readings, in both formats.
	if out := mustGeohub(t, "where", "car-1", "--data", data); !strings.Contains(out, "battery=12 %, temperature=4.5 C") {
		t.Errorf("where car-1: %q", out)
	}
	var where []struct {
		Device   string
		Lat      *float64
		Readings map[string]geoloc.Reading
	}
	if err := json.Unmarshal([]byte(mustGeohub(t, "where", "--format", "json", "--data", data)), &where); err != nil ||
		len(where) != 1 || where[0].Device != "car-1@localhost" || where[0].Lat != nil || where[0].Readings["battery"].Value != 12 {
		t.Errorf("where --format json: %v %+v", err, where)
	}

	// The running hub takes rule changes at once: a rule added now alerts,
	// the removed one does not.
	mustGeohub(t, "rule", "remove", low, "--data", data)
	if out, err := geohub(t, nil, "rule", "remove", low, "--data", data); err == nil {
		t.Errorf("removing a missing rule: %q", out)
	}
	mustGeohub(t, "rule", "add", "--name", "Warm", "--sensor", "temperature", "--above", "8", "--devices", "car-1", "--notify", "op", "--data", data)
	if res := publish("<numeric name='battery' value='20' unit='%'/>"); res.Attr("type") != "result" {
		t.Fatalf("publish: %s", res)
	}
	if res := publish("<numeric name='battery' value='5' unit='%'/><numeric name='temperature' value='9' unit='C'/>"); res.Attr("type") != "result" {
		t.Fatalf("publish: %s", res)
	}
	msg = op.WaitFor("warm alert", func(n *xmpptest.Node) bool {
		a := n.Child(geoloc.NSAlert, "alert")
		if a != nil && a.Attr("rule") == low {
			t.Errorf("alert from a removed rule: %s", n)
		}
		return a != nil && a.Attr("rule-name") == "Warm"
	})
	if a := msg.Child(geoloc.NSAlert, "alert"); a.Attr("event") != "above" || a.Attr("value") != "9" {
		t.Errorf("warm alert: %s", msg)
	}
	if out := mustGeohub(t, "rule", "list", "--format", "json", "--data", data); strings.Contains(out, low) || !strings.Contains(out, "Warm") {
		t.Errorf("rule list after changes: %q", out)
	}
}

func TestTelemetryRetentionFlag(t *testing.T) {
	out, err := geohub(t, []string{"GEOHUB_TELEMETRY_RETENTION=0s"}, "serve", "--check-config")
	if err == nil || !strings.Contains(out, "--telemetry-retention") {
		t.Errorf("a zero retention: %v %q", err, out)
	}
	if out := mustGeohub(t, "serve", "--check-config", "--telemetry-retention", "48h"); !strings.Contains(out, "ok") {
		t.Errorf("--telemetry-retention 48h: %q", out)
	}
}
