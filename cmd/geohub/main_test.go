package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/servetest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// These tests run the geohub binary as a user would.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "geohub-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "geohub")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func geohub(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out) + stderr.String(), err
	}
	return string(out), nil
}

func mustGeohub(t *testing.T, args ...string) string {
	t.Helper()
	out, err := geohub(t, nil, args...)
	if err != nil {
		t.Fatalf("geohub %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// startServe runs the built geohub serve on loopback ports the kernel
// picks.
func startServe(t *testing.T, data string, extra ...string) *servetest.Hub {
	t.Helper()
	return servetest.Start(t, binary, data, extra...)
}

func TestDeviceCommandsOfflineAndThroughTheRunningHub(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	out := mustGeohub(t, "device", "add", "car-17", "--group", "fleet", "--data", data)
	f := strings.Fields(out)
	if len(f) != 2 || f[0] != "car-17@localhost" || len(f[1]) < 20 {
		t.Fatalf("device add printed %q", out)
	}
	carPassword := f[1]

	out = mustGeohub(t, "device", "add", "--count", "3", "--prefix", "bus-", "--format", "csv", "--data", data)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 4 || rows[0][0] != "jid" || rows[3][0] != "bus-3@localhost" || rows[1][1] == "" {
		t.Fatalf("csv: %q %v", out, err)
	}
	out = mustGeohub(t, "device", "add", "tram-", "--count", "2", "--format", "json", "--data", data)
	var created []struct{ JID, Password string }
	if err := json.Unmarshal([]byte(out), &created); err != nil || len(created) != 2 || created[1].JID != "tram-2@localhost" {
		t.Fatalf("json: %q %v", out, err)
	}
	if out, err := geohub(t, nil, "device", "add", "car-17", "--data", data); err == nil || !strings.Contains(out, "exists") {
		t.Errorf("adding twice: %v %q", err, out)
	}

	hub := startServe(t, data)
	// The data folder is locked while the hub runs.
	if out, err := geohub(t, nil, "serve", "--data", data, "--c2s", "127.0.0.1:0", "--c2s-tls", "", "--http", ""); err == nil || !strings.Contains(out, "in use") {
		t.Errorf("second hub on the same folder: %v %q", err, out)
	}
	// Commands now go through the hub's admin socket, and the hub sees the
	// result at once: the new operator's roster holds the fleet.
	out = mustGeohub(t, "device", "add", "op", "--role", "operator", "--group", "fleet", "--data", data)
	opPassword := strings.Fields(out)[1]
	cert, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	o := xmpptest.Options{Addr: hub.C2S, TLS: xmpptest.TrustPEM(cert)}
	op := xmpptest.Dial(t, o, "op", opPassword)
	roster := op.IQ("<iq type='get' id='ID'><query xmlns='jabber:iq:roster'/></iq>")
	if item := roster.Find("query/item"); item == nil || item.Attr("jid") != "car-17@localhost" || item.Attr("subscription") != "both" {
		t.Errorf("operator roster: %s", roster)
	}
	o.Addr, o.DirectTLS = hub.C2STLS, true
	car := xmpptest.Dial(t, o, "car-17", carPassword)
	res := car.IQ("<iq type='set' id='ID'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/geoloc'><item>" +
		"<geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>52.5163</lat><lon>13.3777</lon><speed>8.5</speed></geoloc></item></publish></pubsub></iq>")
	if res.Attr("type") != "result" {
		t.Fatalf("publish: %s", res)
	}
	if out := mustGeohub(t, "where", "car-17", "--data", data); !strings.Contains(out, "52.516300") || !strings.Contains(out, "8.5 m/s") {
		t.Errorf("where car-17: %q", out)
	}

	var list []struct {
		JID    string
		Online bool
		Role   string
	}
	if err := json.Unmarshal([]byte(mustGeohub(t, "device", "list", "--format", "json", "--data", data)), &list); err != nil {
		t.Fatal(err)
	}
	online := map[string]bool{}
	for _, a := range list {
		online[a.JID] = a.Online
	}
	if len(list) != 7 || !online["op@localhost"] || online["bus-1@localhost"] {
		t.Errorf("device list: %+v", list)
	}
	newPassword := strings.Fields(mustGeohub(t, "device", "passwd", "bus-1", "--data", data))[1]
	o = xmpptest.Options{Addr: hub.C2S, TLS: xmpptest.TrustPEM(cert)}
	xmpptest.Dial(t, o, "bus-1", newPassword)
	mustGeohub(t, "device", "remove", "bus-2", "--data", data)
	if _, err := xmpptest.DialErr(t, o, "bus-2", rows[2][1]); err == nil {
		t.Error("a removed account can still log in")
	}

	resp, err := http.Get("http://" + hub.HTTP + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("healthz: %v %v", err, resp)
	}

	if err := hub.Stop(); err != nil {
		t.Fatalf("geohub serve after SIGTERM: %v", err)
	}
	// The folder is free again, and the data is still there.
	out, err = geohub(t, []string{"GEOHUB_DATA=" + data}, "device", "list", "--role", "operator")
	if err != nil || !strings.Contains(out, "op@localhost") || strings.Contains(out, "car-17") {
		t.Errorf("list after stop (data from GEOHUB_DATA): %v %q", err, out)
	}
	if out := mustGeohub(t, "where", "--format", "json", "--data", data); !strings.Contains(out, `"lat": 52.5163`) {
		t.Errorf("where after stop: %q", out)
	}
}

func TestServeConfigErrorsNameTheirFlag(t *testing.T) {
	out, err := geohub(t, []string{"GEOHUB_IDLE_TIMEOUT=-1s", "GEOHUB_HTTP_PUBLIC_URL=ftp://hub.example.org"},
		"serve", "--check-config", "--c2s", "nonsense", "--max-stanza-size", "100")
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{"--c2s", "--max-stanza-size", "--idle-timeout", "--http-public-url"} {
		if !strings.Contains(out, want) {
			t.Errorf("error does not name %s: %q", want, out)
		}
	}
	if out := mustGeohub(t, "serve", "--check-config"); !strings.Contains(out, "ok") {
		t.Errorf("default configuration: %q", out)
	}
	if out := mustGeohub(t, "serve", "--check-config", "--http-public-url", "https://hub.example.org:8443/geo"); !strings.Contains(out, "ok") {
		t.Errorf("--http-public-url: %q", out)
	}
	if out := mustGeohub(t, "serve", "--help"); !strings.Contains(out, "GEOHUB_C2S_TLS") {
		t.Errorf("help does not show environment variables: %q", out)
	}
}

func TestFenceCommandsAndAlertToAnOperator(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	carPassword := strings.Fields(mustGeohub(t, "device", "add", "car-1", "--group", "fleet", "--data", data))[1]
	opPassword := strings.Fields(mustGeohub(t, "device", "add", "op", "--role", "operator", "--group", "fleet", "--data", data))[1]

	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := map[string]string{
		"broken.geojson":   `{"type":"Feature",`,
		"open.geojson":     `{"type":"Feature","properties":{"name":"x"},"geometry":{"type":"Polygon","coordinates":[[[13,52],[14,52],[14,53]]]}}`,
		"nobody.geojson":   `{"type":"Feature","properties":{"name":"x","notify":["ghost"]},"geometry":{"type":"Point","coordinates":[13,52]},"radius":5}`,
		"device.geojson":   `{"type":"Feature","properties":{"name":"x","radius":50,"notify":["car-1"]},"geometry":{"type":"Point","coordinates":[13,52]}}`,
		"latitude.geojson": `{"type":"Feature","properties":{"name":"x","radius":50},"geometry":{"type":"Point","coordinates":[13,95]}}`,
		"ghost.geojson":    `{"type":"Feature","properties":{"name":"x","radius":50,"near":["ghost"]},"geometry":null}`,
	}
	for name, content := range bad {
		if out, err := geohub(t, nil, "fence", "add", write(name, content), "--data", data); err == nil {
			t.Errorf("%s accepted: %q", name, out)
		}
	}
	if out := mustGeohub(t, "fence", "list", "--data", data); strings.Count(out, "\n") != 1 {
		t.Fatalf("a refused fence was stored: %q", out)
	}

	depot := write("depot.geojson", `{"type":"FeatureCollection","features":[{"type":"Feature",
		"properties":{"name":"Depot","groups":["fleet"],"events":["enter","exit"],"notify":["op"]},
		"geometry":{"type":"Polygon","coordinates":[[[13.40,52.51],[13.41,52.51],[13.41,52.52],[13.40,52.52],[13.40,52.51]]]}}]}`)
	var added struct {
		Features []struct {
			ID         string
			Properties map[string]any
		}
	}
	if err := json.Unmarshal([]byte(mustGeohub(t, "fence", "add", depot, "--format", "json", "--data", data)), &added); err != nil || len(added.Features) != 1 {
		t.Fatalf("fence add: %v %+v", err, added)
	}
	id := added.Features[0].ID
	if out := mustGeohub(t, "fence", "list", "--data", data); !strings.Contains(out, id) || !strings.Contains(out, "Depot") ||
		!strings.Contains(out, "group:fleet") || !strings.Contains(out, "op@localhost") {
		t.Errorf("fence list: %q", out)
	}

	convoy := write("convoy.geojson", `{"type":"Feature","properties":{"name":"Convoy","radius":100,"near":["car-1"],"events":["enter"]},"geometry":null}`)
	mustGeohub(t, "fence", "add", convoy, "--data", data)
	if out := mustGeohub(t, "fence", "list", "--data", data); !strings.Contains(out, "proximity 100 m of car-1@localhost") {
		t.Errorf("proximity fence in the list: %q", out)
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
	publish := func(lat, lon string) {
		t.Helper()
		res := car.IQ("<iq type='set' id='ID'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/geoloc'><item>" +
			"<geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>" + lat + "</lat><lon>" + lon + "</lon></geoloc></item></publish></pubsub></iq>")
		if res.Attr("type") != "result" {
			t.Fatalf("publish: %s", res)
		}
	}
	publish("52.50", "13.30")
	publish("52.515", "13.405")
	msg := op.WaitFor("alert message", func(n *xmpptest.Node) bool { return n.Name() == "message" && n.Child(geoloc.NSAlert, "alert") != nil })
	alert := msg.Child(geoloc.NSAlert, "alert")
	if msg.Attr("from") != "geohub@localhost/hub" || alert.Attr("event") != "enter" || alert.Attr("fence") != id ||
		!strings.Contains(msg.Find("body").Text, "car-1 entered Depot") {
		t.Errorf("alert: %s", msg)
	}

	// The running hub takes fence changes at once: with the fence gone,
	// leaving it raises nothing.
	mustGeohub(t, "fence", "remove", id, "--data", data)
	if out := mustGeohub(t, "fence", "list", "--data", data); strings.Contains(out, id) {
		t.Errorf("removed fence still listed: %q", out)
	}
	if out, err := geohub(t, nil, "fence", "remove", id, "--data", data); err == nil {
		t.Errorf("removing a missing fence: %q", out)
	}
	// Alerts go out in order, so one from another fence added now marks
	// the point by which a Depot exit would have arrived.
	yard := write("yard.geojson", `{"type":"Feature","properties":{"name":"Yard","radius":500,"notify":["op"]},
		"geometry":{"type":"Point","coordinates":[13.30,52.50]}}`)
	mustGeohub(t, "fence", "add", yard, "--data", data)
	publish("52.50", "13.30")
	msg = op.WaitFor("Yard alert", func(n *xmpptest.Node) bool {
		a := n.Child(geoloc.NSAlert, "alert")
		if a != nil && a.Attr("fence") == id {
			t.Errorf("alert from a removed fence: %s", n)
		}
		return a != nil && a.Attr("fence-name") == "Yard"
	})
	if a := msg.Child(geoloc.NSAlert, "alert"); a.Attr("event") != "enter" {
		t.Errorf("Yard alert: %s", msg)
	}
}

// --demo runs simulated vehicles over loopback XMPP; without it they go.
func TestDemoVehiclesMoveAndLeaveWithTheFlag(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	mustGeohub(t, "device", "add", "car-1", "--data", data)
	hub := startServe(t, data, "--demo", "3")
	// Poll until every demo vehicle has reported twice from different places.
	first := map[string]string{}
	deadline := time.Now().Add(30 * time.Second)
	for moved := 0; moved < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("demo vehicles did not move: %v", first)
		}
		out := mustGeohub(t, "where", "--format", "json", "--data", data)
		var ps []struct {
			Device   string
			Lat, Lon float64
		}
		json.Unmarshal([]byte(out), &ps)
		moved = 0
		for _, p := range ps {
			at := fmt.Sprint(p.Lat, p.Lon)
			if first[p.Device] == "" {
				first[p.Device] = at
			} else if first[p.Device] != at {
				moved++
			}
		}
	}
	if out := mustGeohub(t, "device", "list", "--data", data); strings.Count(out, "device (demo)") != 3 || !strings.Contains(out, "car-1@localhost") {
		t.Errorf("device list: %q", out)
	}
	if err := hub.Stop(); err != nil {
		t.Fatalf("serve --demo: %v", err)
	}
	startServe(t, data)
	if out := mustGeohub(t, "device", "list", "--data", data); strings.Contains(out, "demo") || !strings.Contains(out, "car-1") {
		t.Errorf("after a run without --demo: %q", out)
	}
}
