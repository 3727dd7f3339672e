package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/peers"
)

// geohub serve --mqtt bridges a broker: once /metrics says the bridge is
// connected, an OwnTracks fix that mosquitto_pub sends shows in geohub
// where and makes the tracker online on the dashboard's API until its
// last will, a malformed one is counted in /metrics, and when the hub dies
// its last will marks it offline.
func TestServeBridgesAnMQTTBroker(t *testing.T) {
	broker := peers.StartMosquitto(t)
	data := t.TempDir()
	mustGeohub(t, "device", "add", "op", "--role", "operator", "--group", "mqtt", "--data", data)
	opToken := strings.TrimSpace(mustGeohub(t, "token", "add", "script", "--account", "op", "--data", data))
	r := startServe(t, data, "--mqtt", broker.URL, "--mqtt-owntracks-name", "{user}-{device}", "--mqtt-offline-after", "1h")
	host, port, _ := net.SplitHostPort(broker.Addr)
	metrics := func() string {
		res, err := http.Get("http://" + r.HTTP + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; /metrics:\n%s", what, metrics())
			}
			time.Sleep(20 * time.Millisecond) // polling interval
		}
	}
	// Subscribed: from here on the broker keeps what comes for the bridge.
	until("the bridge connected", func() bool {
		return strings.Contains(metrics(), `geohub_mqtt_bridge_state{state="connected"} 1`)
	})
	pubMQTT := func(topic, payload string) {
		t.Helper()
		if out, err := exec.Command("mosquitto_pub", "-h", host, "-p", port, "-q", "1", "-t", topic, "-m", payload).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub: %v %s", err, out)
		}
	}
	tst := time.Now().Add(-time.Minute).Unix()
	pubMQTT("owntracks/ann/phone", fmt.Sprintf(`{"_type":"location","lat":52.52,"lon":13.405,"tst":%d,"batt":77}`, tst))
	pubMQTT("owntracks/ann/phone", `{"_type":"location","lat":"north","lon":13.405}`)
	label := `broker="` + broker.URL + `"`
	until("the fix and the malformed payload counted", func() bool {
		m := metrics()
		return strings.Contains(m, `geohub_mqtt_messages_total{`+label+`,outcome="fix"} 1`) &&
			strings.Contains(m, `geohub_mqtt_messages_total{`+label+`,outcome="malformed"} 1`) &&
			strings.Contains(m, `geohub_mqtt_messages_received_total{`+label+`} 2`) &&
			strings.Contains(m, `geohub_mqtt_connected{`+label+`} 1`)
	})
	online := func() bool {
		code, body := api(t, http.DefaultClient, "http://"+r.HTTP, opToken, "GET", "/api/devices/ann-phone")
		var d struct{ Online bool }
		if code != 200 || json.Unmarshal([]byte(body), &d) != nil {
			t.Fatalf("/api/devices/ann-phone: %d %s", code, body)
		}
		return d.Online
	}
	until("ann-phone online", online)
	pubMQTT("owntracks/ann/phone", `{"_type":"lwt","tst":1764000000}`)
	until("ann-phone offline after its last will", func() bool { return !online() })
	out, err := geohub(t, nil, "where", "--data", data, "--format", "json", "ann-phone")
	var got []struct {
		Lat, Lon float64
		Time     time.Time
		Readings map[string]struct{ Value float64 }
	}
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || len(got) != 1 || got[0].Lat != 52.52 || got[0].Lon != 13.405 ||
		got[0].Time.Unix() != tst || got[0].Readings["battery"].Value != 77 {
		t.Errorf("where: %v %s", err, out)
	}
	// The hub dies without a word: the broker publishes its last will,
	// which replaces the retained "online".
	hubStatus := func() string {
		out, _ := exec.Command("mosquitto_sub", "-h", host, "-p", port, "-t", "geohub/status", "-C", "1", "-W", "5").Output()
		return strings.TrimSpace(string(out))
	}
	if s := hubStatus(); s != `{"online":true,"_geohub":"localhost"}` {
		t.Errorf("hub status while running: %q", s)
	}
	r.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for s := hubStatus(); s != `{"online":false,"_geohub":"localhost"}`; s = hubStatus() {
		if time.Now().After(deadline) {
			t.Fatalf("hub status after a crash: %q", s)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

func TestMQTTFlagsAreCheckedAndShown(t *testing.T) {
	out, err := geohub(t, []string{"GEOHUB_MQTT_QOS=5", "GEOHUB_MQTT=tcp://127.0.0.1:1883 gopher://x", "GEOHUB_MQTT_OFFLINE_AFTER=-1m"}, "serve", "--check-config",
		"--mqtt-unknown", "maybe", "--mqtt-json", "sensors/#", "--mqtt-out", "positions,gossip")
	if err == nil {
		t.Fatal("bad MQTT configuration accepted")
	}
	for _, want := range []string{"--mqtt \"gopher://x\"", "--mqtt-qos", "--mqtt-unknown", "--mqtt-json", "--mqtt-out \"gossip\"", "--mqtt-offline-after \"-1m0s\""} {
		if !strings.Contains(out, want) {
			t.Errorf("error does not name %s: %q", want, out)
		}
	}
	out = mustGeohub(t, "serve", "--check-config", "--mqtt", "ssl://broker.example:8883,ssl://broker2.example", "--mqtt-json", "sensors/{device}/location")
	if !strings.Contains(out, "ok") {
		t.Errorf("good configuration: %q", out)
	}
	help := mustGeohub(t, "serve", "--help")
	for _, want := range []string{"--mqtt  [GEOHUB_MQTT]", "--mqtt-password  [GEOHUB_MQTT_PASSWORD]", "--mqtt-owntracks-name  [GEOHUB_MQTT_OWNTRACKS_NAME]",
		"--mqtt-offline-after  [GEOHUB_MQTT_OFFLINE_AFTER]"} {
		if !strings.Contains(help, want) {
			t.Errorf("help does not show %s", want)
		}
	}
}
