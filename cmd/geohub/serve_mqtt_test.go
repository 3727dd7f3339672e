package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/peers"
)

// geohub serve --mqtt bridges a broker: an OwnTracks fix that
// mosquitto_pub sends shows in geohub where.
func TestServeBridgesAnMQTTBroker(t *testing.T) {
	broker := peers.StartMosquitto(t)
	data := t.TempDir()
	r := startServe(t, data, "--mqtt", broker.URL, "--mqtt-owntracks-name", "{user}-{device}")
	host, port, _ := net.SplitHostPort(broker.Addr)
	tst := time.Now().Add(-time.Minute).Unix()
	payload := fmt.Sprintf(`{"_type":"location","lat":52.52,"lon":13.405,"tst":%d,"batt":77}`, tst)
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Published again until it arrives: the bridge may still be
		// connecting (its session does not exist before it subscribes).
		if out, err := exec.Command("mosquitto_pub", "-h", host, "-p", port, "-q", "1",
			"-t", "owntracks/ann/phone", "-m", payload).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub: %v %s", err, out)
		}
		out, err := geohub(t, nil, "where", "--data", data, "--format", "json", "ann-phone")
		var got []struct {
			Lat, Lon float64
			Time     time.Time
			Readings map[string]struct{ Value float64 }
		}
		if err == nil && json.Unmarshal([]byte(out), &got) == nil && len(got) == 1 && got[0].Readings["battery"].Value == 77 {
			if got[0].Lat != 52.52 || got[0].Lon != 13.405 || got[0].Time.Unix() != tst {
				t.Errorf("where: %s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fix did not arrive: %v %s", err, out)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
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
	r.cmd.Process.Kill()
	r.cmd.Wait()
	deadline = time.Now().Add(20 * time.Second)
	for s := hubStatus(); s != `{"online":false,"_geohub":"localhost"}`; s = hubStatus() {
		if time.Now().After(deadline) {
			t.Fatalf("hub status after a crash: %q", s)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

func TestMQTTFlagsAreCheckedAndShown(t *testing.T) {
	out, err := geohub(t, []string{"GEOHUB_MQTT_QOS=5", "GEOHUB_MQTT=tcp://127.0.0.1:1883 gopher://x"}, "serve", "--check-config",
		"--mqtt-unknown", "maybe", "--mqtt-json", "sensors/#", "--mqtt-out", "positions,gossip")
	if err == nil {
		t.Fatal("bad MQTT configuration accepted")
	}
	for _, want := range []string{"--mqtt \"gopher://x\"", "--mqtt-qos", "--mqtt-unknown", "--mqtt-json", "--mqtt-out \"gossip\""} {
		if !strings.Contains(out, want) {
			t.Errorf("error does not name %s: %q", want, out)
		}
	}
	out = mustGeohub(t, "serve", "--check-config", "--mqtt", "ssl://broker.example:8883,ssl://broker2.example", "--mqtt-json", "sensors/{device}/location")
	if !strings.Contains(out, "ok") {
		t.Errorf("good configuration: %q", out)
	}
	help := mustGeohub(t, "serve", "--help")
	for _, want := range []string{"--mqtt  [GEOHUB_MQTT]", "--mqtt-password  [GEOHUB_MQTT_PASSWORD]", "--mqtt-owntracks-name  [GEOHUB_MQTT_OWNTRACKS_NAME]"} {
		if !strings.Contains(help, want) {
			t.Errorf("help does not show %s", want)
		}
	}
}
