package mqttbridge_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
	"github.com/geohub/geohub/internal/xmpptest"
	"github.com/geohub/geohub/mqttbridge"
)

const (
	nsPubSub = "http://jabber.org/protocol/pubsub"
	nsEvent  = "http://jabber.org/protocol/pubsub#event"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// An OwnTracks tracker nobody here wrote (mosquitto_pub) reports a
// location: the device is provisioned, its position is stored with every
// field, and an XMPP operator subscribed to its geoloc node gets it like
// any XMPP device's.
func TestOwnTracksLocationReachesStoreAndXMPPWatcher(t *testing.T) {
	e := start(t, nil)
	h := e.hub
	tst := time.Now().Add(-time.Minute).Truncate(time.Second).UTC()
	loc := func(lat, lon float64, tst time.Time) string {
		return fmt.Sprintf(`{"_type":"location","lat":%v,"lon":%v,"tst":%d,"acc":12,"alt":48,"vac":3,"vel":36,"cog":270,"batt":81,"tid":"ck","t":"u","conn":"m","inregions":["Depot","Yard"]}`,
			lat, lon, tst.Unix())
	}
	pub(t, e.broker, "owntracks/car-17/phone", loc(52.5201, 13.405, tst))
	waitFor(t, "the fix in the store", func() bool { _, ok := h.Geo.Latest("car-17@localhost"); return ok })

	p, _ := h.Geo.Latest("car-17@localhost")
	g := p.Geoloc
	if !near(p.Lat, 52.5201) || !near(p.Lon, 13.405) || !p.Time.Equal(tst) || p.Source != "pep" {
		t.Errorf("position: %+v", p)
	}
	if *g.Accuracy != 12 || *g.Alt != 48 || *g.AltAccuracy != 3 || !near(*g.Speed, 10) || *g.Bearing != 270 {
		t.Errorf("fields: acc %v alt %v vac %v speed %v bearing %v", *g.Accuracy, *g.Alt, *g.AltAccuracy, *g.Speed, *g.Bearing)
	}
	if g.Description != "Depot, Yard" || g.Text != "tid=ck t=u conn=m" {
		t.Errorf("description %q text %q", g.Description, g.Text)
	}
	waitFor(t, "the battery reading", func() bool { return h.Geo.Readings("car-17@localhost")["battery"].Value == 81 })
	if r := h.Geo.Readings("car-17@localhost")["battery"]; r.Unit != "%" || !r.Time.Equal(tst) {
		t.Errorf("battery: %+v", r)
	}
	a, ok := h.Accounts.Get("car-17")
	if !ok || a.Role != devices.RoleDevice || !a.MQTT || !a.InGroup("mqtt") {
		t.Errorf("provisioned account: %+v %v", a, ok)
	}

	// An operator of the group subscribes to the device's geoloc node and
	// gets the next fix as an XMPP notification.
	op := h.Login(t, "op", devices.RoleOperator, "mqtt")
	op.Send("<presence/>")
	res := op.IQ("<iq type='set' id='ID' to='car-17@localhost'><pubsub xmlns='" + nsPubSub + "'><subscribe node='" + geoloc.NS + "' jid='op@localhost'/></pubsub></iq>")
	if res.Attr("type") != "result" {
		t.Fatalf("subscribe: %s", res)
	}
	op.Drain() // the last item, sent on subscription
	pub(t, e.broker, "owntracks/car-17/phone", loc(52.53, 13.41, tst.Add(10*time.Second)))
	ev := op.WaitFor("geoloc notification", func(n *xmpptest.Node) bool {
		return n.Name() == "message" && n.Attr("from") == "car-17@localhost" && n.Child(nsEvent, "event") != nil
	})
	items := ev.Find("event/items")
	if items.Attr("node") != geoloc.NS || items.Find("item/geoloc/lat").Text != "52.53" || items.Find("item/geoloc/lon").Text != "13.41" {
		t.Errorf("notification: %s", ev)
	}
	waitFor(t, "both messages acknowledged", func() bool { return e.bridge.Stats().Total.Acked == 2 })
	st := e.bridge.Stats()
	if st.Total.Fixes != 2 || st.Total.Readings != 2 || st.Total.Provisioned != 1 || st.Total.Malformed != 0 {
		t.Errorf("stats: %+v", st.Total)
	}
}

// A device entering a fence raises an alert that a plain MQTT client
// (mosquitto_sub) reads on geohub/alerts/<fence>; positions and status go
// out too, for XMPP devices as for MQTT ones.
func TestAlertsPositionsAndPresenceGoOut(t *testing.T) {
	e := start(t, nil)
	h := e.hub
	fences, err := geoloc.ParseFences([]byte(`{"type":"Feature","properties":{"name":"Depot","radius":200,"groups":["mqtt"],"events":["enter","exit"]},
		"geometry":{"type":"Point","coordinates":[13.40,52.51]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if fences, err = h.Geo.AddFences(fences, nil); err != nil {
		t.Fatal(err)
	}
	depot := fences[0].ID
	s := sub(t, e.broker, "geohub/#")

	now := time.Now().Add(-time.Minute).Unix()
	pub(t, e.broker, "owntracks/van/phone", fmt.Sprintf(`{"_type":"location","lat":52.50,"lon":13.40,"tst":%d}`, now))
	pub(t, e.broker, "owntracks/van/phone", fmt.Sprintf(`{"_type":"location","lat":52.5101,"lon":13.4001,"tst":%d,"vel":18}`, now+10))

	alert := s.next("geohub/alerts/"+depot, nil).JSON(t)
	if alert["event"] != "enter" || alert["fence"] != depot || alert["fence_name"] != "Depot" || alert["device"] != "van@localhost" || alert["_geohub"] != "localhost" {
		t.Errorf("alert: %v", alert)
	}
	pos := s.next("geohub/van/location", func(r received) bool { return strings.Contains(r.Payload, "52.5101") }).JSON(t)
	if pos["device"] != "van@localhost" || pos["lon"] != 13.4001 || pos["speed"] != 5.0 || pos["_geohub"] != "localhost" ||
		pos["time"] != time.Unix(now+10, 0).UTC().Format(time.RFC3339Nano) {
		t.Errorf("position: %v", pos)
	}
	// Retained: a client that comes later reads the latest position at once.
	late := sub(t, e.broker, "geohub/van/location")
	if got := late.next("geohub/van/location", nil).JSON(t); got["lat"] != 52.5101 {
		t.Errorf("retained position: %v", got)
	}

	// An XMPP device: its presence and its positions go out too.
	car := h.Login(t, "car", devices.RoleDevice, "fleet")
	car.Send("<presence/>")
	st := s.next("geohub/car/status", nil).JSON(t)
	if st["online"] != true || st["device"] != "car@localhost" || st["via"] != "xmpp" {
		t.Errorf("status: %v", st)
	}
	res := car.IQ("<iq type='set' id='ID'><pubsub xmlns='" + nsPubSub + "'><publish node='" + geoloc.NS + "'><item id='1'>" +
		"<geoloc xmlns='" + geoloc.NS + "'><lat>48.1</lat><lon>11.5</lon></geoloc></item></publish></pubsub></iq>")
	if res.Attr("type") != "result" {
		t.Fatalf("publish: %s", res)
	}
	if pos := s.next("geohub/car/location", nil).JSON(t); pos["lat"] != 48.1 || pos["lon"] != 11.5 {
		t.Errorf("XMPP device position: %v", pos)
	}
	car.Close()
	if st := s.next("geohub/car/status", nil).JSON(t); st["online"] != false {
		t.Errorf("status after logout: %v", st)
	}
	// An OwnTracks tracker is online from its first fix; its last will
	// says it is gone.
	if st := s.next("geohub/van/status", nil).JSON(t); st["online"] != true || st["via"] != "mqtt" {
		t.Errorf("status after the first fix: %v", st)
	}
	pub(t, e.broker, "owntracks/van/phone", fmt.Sprintf(`{"_type":"lwt","tst":%d}`, now))
	if st := s.next("geohub/van/status", nil).JSON(t); st["online"] != false || st["via"] != "mqtt-lwt" {
		t.Errorf("status after last will: %v", st)
	}
	// A last will of a tracker the hub does not know is ignored.
	pub(t, e.broker, "owntracks/ghost/phone", fmt.Sprintf(`{"_type":"lwt","tst":%d}`, now))
	waitFor(t, "the unknown last will ignored", func() bool { return e.bridge.Stats().Total.Ignored == 1 })
	if h.Accounts.Exists("ghost") {
		t.Error("a last will provisioned a device")
	}
	if hs := s.next("geohub/status", nil).JSON(t); hs["online"] != true {
		t.Errorf("hub status: %v", hs)
	}
}

// What the bridge published is never ingested again: not on its own
// topics, even when a mapping would take them, and not under another topic
// (a broker bridge that renames), where its marker gives it away.
func TestLoopProtection(t *testing.T) {
	e := start(t, func(c *mqttbridge.Config) {
		c.JSONTopic = "geohub/{device}/location" // would read the bridge's own output
		c.OutFormat = "owntracks"
	})
	h := e.hub
	s := sub(t, e.broker, "geohub/+/location")
	tst := time.Now().Add(-time.Minute).Unix()
	pub(t, e.broker, "owntracks/bus/phone", fmt.Sprintf(`{"_type":"location","lat":52.5,"lon":13.4,"tst":%d,"vel":36}`, tst))
	out := s.next("geohub/bus/location", nil)
	m := out.JSON(t)
	if m["_type"] != "location" || m["vel"] != 36.0 || m["tid"] != "us" || m["tst"] != float64(tst) {
		t.Errorf("OwnTracks output: %v", m)
	}
	// The same message renamed into the OwnTracks tree, as a broker
	// bridge might: the marker stops it.
	pub(t, e.broker, "owntracks/mirror/bus", out.Payload)
	waitFor(t, "two looped messages", func() bool { return e.bridge.Stats().Total.Looped >= 2 })
	st := e.bridge.Stats().Total
	if st.Fixes != 1 || st.Malformed != 0 || st.Provisioned != 1 {
		t.Errorf("stats: %+v", st)
	}
	if _, ok := h.Geo.Latest("mirror@localhost"); ok || h.Accounts.Exists("mirror") {
		t.Error("the bridge's own message was ingested")
	}
	if n := len(h.Geo.TrailPoints("bus@localhost", time.Unix(0, 0), time.Now())); n != 1 {
		t.Errorf("bus has %d trail points, want 1", n)
	}
}

// Broken JSON, missing, out-of-range or mistyped coordinates and fields
// are refused, counted, logged with their topic and never stored; the
// bridge goes on.
func TestMalformedPayloadsAreRefusedAndCounted(t *testing.T) {
	e := start(t, nil)
	h := e.hub
	tst := time.Now().Add(-time.Minute).Unix()
	bad := []string{
		`{"_type":"location","lat":52.5,`,                                                // broken JSON
		`[52.5, 13.4]`,                                                                   // not an object
		`{"lat":52.5,"lon":13.4}`,                                                        // no _type
		`{"_type":"location","lon":13.4}`,                                                // no lat
		`{"_type":"location","lat":95.5,"lon":13.4}`,                                     // out of range
		`{"_type":"location","lat":52.5,"lon":-181}`,                                     // out of range
		`{"_type":"location","lat":1e400,"lon":13.4}`,                                    // not finite
		`{"_type":"location","lat":"52.5","lon":13.4}`,                                   // a string
		`{"_type":"location","lat":52.5,"lon":13.4,"tst":"yesterday"}`,                   // a string
		`{"_type":"location","lat":52.5,"lon":13.4,"batt":"full"}`,                       // a string
		`{"_type":"location","lat":52.5,"lon":13.4,"inregions":"Depot"}`,                 // not a list
		`{"_type":"transition","lat":52.5,"lon":13.4,"event":"wander"}`,                  // no such event
		`{"_type":"location","lat":52.5,"lon":13.4,"vel":-5}`,                            // the hub refuses a negative speed
		`{"_type":"location","lat":52.5,"lon":13.4,"tst":946684700}`,                     // the hub refuses a time before 2000
		fmt.Sprintf(`{"_type":"location","lat":52.5,"lon":13.4,"tst":%d,"acc":-1}`, tst), // the hub refuses it
	}
	for i, payload := range bad {
		pub(t, e.broker, fmt.Sprintf("owntracks/bad%d/phone", i), payload)
	}
	waitFor(t, "every payload refused", func() bool { return e.bridge.Stats().Total.Malformed == uint64(len(bad)) })
	if h.Geo.Len() != 0 {
		t.Errorf("%d positions stored", h.Geo.Len())
	}
	for i := range bad {
		if name := fmt.Sprintf("bad%d", i); h.Accounts.Exists(name) {
			t.Errorf("%s was provisioned for a refused payload", name)
		}
	}
	for _, want := range []string{"topic=owntracks/bad0/phone", "not valid JSON", "topic=owntracks/bad7/phone", "is not a number",
		"topic=owntracks/bad12/phone", "speed"} {
		if !strings.Contains(e.log.String(), want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	// Refused messages are acknowledged: the broker does not send them again.
	waitFor(t, "refused messages acknowledged", func() bool { return e.bridge.Stats().Total.Acked == uint64(len(bad)) })
	pub(t, e.broker, "owntracks/good/phone", fmt.Sprintf(`{"_type":"location","lat":52.5,"lon":13.4,"tst":%d}`, tst))
	waitFor(t, "a good fix after the bad ones", func() bool { return e.bridge.Stats().Total.Fixes == 1 })
	if st := e.bridge.Stats().Total; st.Received != uint64(len(bad))+1 || st.Fixes != 1 || st.Refused != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// Generic JSON trackers: a topic template, a field mapping with nested
// paths, and numeric telemetry; OwnTracks names from user and device.
func TestGenericJSONAndTelemetry(t *testing.T) {
	e := start(t, func(c *mqttbridge.Config) {
		c.JSONTopic = "sensors/{device}/location"
		c.JSONFields = "lat=gps.latitude,lon=gps.longitude,time=ts,speed=spd,accuracy="
		c.TelemetryTopic = "sensors/{device}/telemetry"
		c.OwnTracksName = "{user}-{device}"
		c.Group = "trackers"
	})
	h := e.hub
	at := time.Now().Add(-time.Minute).Truncate(time.Millisecond).UTC()
	pub(t, e.broker, "sensors/pump-3/location", fmt.Sprintf(`{"gps":{"latitude":48.137,"longitude":11.575},"ts":%q,"spd":3.5,"accuracy":7}`, at.Format(time.RFC3339Nano)))
	waitFor(t, "the JSON fix", func() bool { _, ok := h.Geo.Latest("pump-3@localhost"); return ok })
	p, _ := h.Geo.Latest("pump-3@localhost")
	if p.Lat != 48.137 || p.Lon != 11.575 || !p.Time.Equal(at) || *p.Geoloc.Speed != 3.5 || p.Geoloc.Accuracy != nil {
		t.Errorf("JSON position: %+v", p)
	}
	if a, _ := h.Accounts.Get("pump-3"); !a.InGroup("trackers") || !a.MQTT {
		t.Errorf("account: %+v", a)
	}
	// Unix milliseconds, and readings with and without units.
	pub(t, e.broker, "sensors/pump-3/telemetry", fmt.Sprintf(`{"ts":%d,"pressure":{"value":2.5,"unit":"bar"},"temp":21.5,"label":"north"}`, at.Add(time.Second).UnixMilli()))
	waitFor(t, "the readings", func() bool { return len(h.Geo.Readings("pump-3@localhost")) == 2 })
	rs := h.Geo.Readings("pump-3@localhost")
	if rs["pressure"].Value != 2.5 || rs["pressure"].Unit != "bar" || rs["temp"].Value != 21.5 || !rs["temp"].Time.Equal(at.Add(time.Second)) {
		t.Errorf("readings: %+v", rs)
	}
	// Wrong types in a mapped field, and telemetry without numbers.
	pub(t, e.broker, "sensors/pump-3/location", `{"gps":{"latitude":"48.1","longitude":11.5}}`)
	pub(t, e.broker, "sensors/pump-3/telemetry", `{"label":"north"}`)
	pub(t, e.broker, "sensors/pump-3/telemetry", `{"pressure":{"value":"high"}}`)
	waitFor(t, "three refusals", func() bool { return e.bridge.Stats().Total.Malformed == 3 })

	pub(t, e.broker, "owntracks/anna/tablet", fmt.Sprintf(`{"_type":"transition","lat":48.2,"lon":11.6,"tst":%d,"event":"leave","desc":"Home","tid":"at"}`, at.Unix()))
	waitFor(t, "anna's tablet", func() bool { _, ok := h.Geo.Latest("anna-tablet@localhost"); return ok })
	if p, _ := h.Geo.Latest("anna-tablet@localhost"); p.Geoloc.Description != "Home" || p.Geoloc.Text != "event=leave tid=at" {
		t.Errorf("transition: %+v", p.Geoloc)
	}
	// Types without a position are acknowledged and ignored.
	pub(t, e.broker, "owntracks/anna/tablet", `{"_type":"card","name":"Anna"}`)
	waitFor(t, "the card ignored", func() bool { return e.bridge.Stats().Total.Ignored == 1 })
}

// With provisioning off, only existing device accounts take fixes.
func TestUnknownDevicesAreRefusedWhenProvisioningIsOff(t *testing.T) {
	e := start(t, func(c *mqttbridge.Config) { c.Unknown = "refuse" })
	h := e.hub
	h.Account(t, "known", devices.RoleDevice, "fleet")
	h.Account(t, "boss", devices.RoleOperator, "fleet")
	tst := time.Now().Add(-time.Minute).Unix()
	fix := fmt.Sprintf(`{"_type":"location","lat":52.5,"lon":13.4,"tst":%d}`, tst)
	for _, user := range []string{"stranger", "boss", "a@b", "known"} {
		pub(t, e.broker, "owntracks/"+user+"/phone", fix)
	}
	waitFor(t, "the known device's fix", func() bool { _, ok := h.Geo.Latest("known@localhost"); return ok })
	waitFor(t, "three refusals", func() bool { return e.bridge.Stats().Total.Refused == 3 })
	if h.Accounts.Exists("stranger") || h.Geo.Len() != 1 {
		t.Errorf("stranger provisioned or stored: %v", h.Geo.All())
	}
	if !strings.Contains(e.log.String(), "boss is an operator account") || !strings.Contains(e.log.String(), "provisioning is off") {
		t.Errorf("log: %s", e.log)
	}
}

// Several brokers: each is a connection of its own; fixes come from all,
// and everything goes out to all.
func TestTwoBrokers(t *testing.T) {
	b1, b2 := peers.StartMosquitto(t), peers.StartMosquitto(t)
	h := hubtest.Start(t)
	bridge, _ := startBridge(t, h, b1, func(c *mqttbridge.Config) { c.Brokers = append(c.Brokers, b2.URL) })
	waitFor(t, "both brokers", func() bool { return bridge.BridgeState() == "connected" })
	s2 := sub(t, b2, "geohub/+/location")
	tst := time.Now().Add(-time.Minute).Unix()
	pub(t, b1, "owntracks/one/phone", fmt.Sprintf(`{"_type":"location","lat":50,"lon":8,"tst":%d}`, tst))
	pub(t, b2, "owntracks/two/phone", fmt.Sprintf(`{"_type":"location","lat":51,"lon":9,"tst":%d}`, tst))
	if got := s2.next("geohub/one/location", nil).JSON(t); got["lat"] != 50.0 {
		t.Errorf("broker 1's device on broker 2: %v", got)
	}
	waitFor(t, "both fixes", func() bool { return h.Geo.Len() == 2 })
	st := bridge.Stats()
	if len(st.Brokers) != 2 || st.Brokers[0].Broker != b1.URL || st.Brokers[1].Broker != b2.URL || st.Brokers[0].Received != 1 || st.Brokers[1].Received != 1 {
		t.Errorf("stats: %+v", st.Brokers)
	}
}

// slixmppWatch runs testdata/slixmpp_watch.py: a stock slixmpp operator
// subscribed to device's geoloc node. It returns once the script printed
// "subscribed"; wait returns every line it printed, once it is done.
func slixmppWatch(t *testing.T, h *hubtest.Hub, user, password, device, lat string) (wait func() []map[string]any) {
	t.Helper()
	peers.Require(t, "slixmpp")
	host, port := hostPort(h.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmd := exec.CommandContext(ctx, peers.Python, filepath.Join("testdata", "slixmpp_watch.py"),
		"--host", host, "--port", port, "--cafile", h.CertFile, "--user", user, password, "--device", device, "--lat", lat)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	var lines []map[string]any
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("slixmpp_watch.py printed %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
		if l["event"] == "subscribed" {
			break
		}
	}
	if len(lines) == 0 || lines[len(lines)-1]["event"] != "subscribed" {
		cmd.Wait()
		t.Fatalf("slixmpp_watch.py did not subscribe: %v\n%s", lines, stderr.String())
	}
	return func() []map[string]any {
		t.Helper()
		for sc.Scan() {
			var l map[string]any
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("slixmpp_watch.py printed %q: %v", sc.Text(), err)
			}
			lines = append(lines, l)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("slixmpp_watch.py: %v\n%v\n%s", err, lines, stderr.String())
		}
		return lines
	}
}

// OwnTracks sends region transitions on <prefix>/<user>/<device>/event.
// One published there by mosquitto_pub reaches a stock slixmpp operator
// subscribed to the device's geoloc node, like an XMPP device's fix; the
// bridge's own topics have the prefixes configured.
func TestOwnTracksEventTopicReachesASlixmppOperator(t *testing.T) {
	e := start(t, func(c *mqttbridge.Config) {
		c.OwnTracks = "tracks/eu"
		c.OutPrefix = "fleet/out"
	})
	h := e.hub
	s := sub(t, e.broker, "fleet/out/#")
	tst := time.Now().Add(-time.Minute).Unix()
	// The device exists once its first location came in.
	pub(t, e.broker, "tracks/eu/lena/phone", fmt.Sprintf(`{"_type":"location","lat":48.1,"lon":11.5,"tst":%d}`, tst-10))
	waitFor(t, "lena provisioned", func() bool { _, ok := h.Geo.Latest("lena@localhost"); return ok })
	// Nothing on the old prefix is read.
	pub(t, e.broker, "owntracks/lena/phone", fmt.Sprintf(`{"_type":"location","lat":1,"lon":1,"tst":%d}`, tst-5))

	pw := h.Account(t, "watcher", devices.RoleOperator, "mqtt")
	done := slixmppWatch(t, h, "watcher", pw, "lena@localhost", "48.137")
	pub(t, e.broker, "tracks/eu/lena/phone/event",
		fmt.Sprintf(`{"_type":"transition","wtst":%d,"lat":48.137,"lon":11.575,"tst":%d,"acc":14,"event":"enter","desc":"Office","tid":"le","t":"c"}`, tst-3600, tst))
	var got map[string]any
	for _, l := range done() {
		if l["event"] == "event" && l["node"] == geoloc.NS {
			if g, _ := l["geoloc"].(map[string]any); g["lat"] == "48.137" {
				got = g
			}
		}
	}
	if got == nil || got["lon"] != "11.575" || got["accuracy"] != "14" || got["description"] != "Office" ||
		got["text"] != "event=enter tid=le t=c" || got["timestamp"] != time.Unix(tst, 0).UTC().Format(time.RFC3339) {
		t.Errorf("slixmpp got %v", got)
	}
	p, _ := h.Geo.Latest("lena@localhost")
	if p.Lat != 48.137 || p.Geoloc.Description != "Office" {
		t.Errorf("stored: %+v", p)
	}
	if pos := s.next("fleet/out/lena/location", func(r received) bool { return strings.Contains(r.Payload, "48.137") }).JSON(t); pos["device"] != "lena@localhost" {
		t.Errorf("position out: %v", pos)
	}
	if hs := s.next("fleet/out/status", nil).JSON(t); hs["online"] != true {
		t.Errorf("hub status: %v", hs)
	}
	if st := e.bridge.Stats().Total; st.Received != 2 || st.Fixes != 2 {
		t.Errorf("stats (the old prefix must not be read): %+v", st)
	}
}
