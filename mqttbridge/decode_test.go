package mqttbridge

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/tidwall/gjson"
)

func TestTemplates(t *testing.T) {
	tpl, err := parseTemplate("fleet/+/{device}/loc")
	if err != nil || tpl.filter != "fleet/+/+/loc" {
		t.Fatalf("%v %+v", err, tpl)
	}
	for topic, want := range map[string]string{
		"fleet/eu/car-1/loc":      "car-1",
		"fleet/eu/car-1/loc/x":    "",
		"fleet/eu/car-1":          "",
		"fleet//car-1/loc":        "car-1", // + matches an empty level
		"fleet/eu//loc":           "",
		"other/eu/car-1/loc":      "",
		"fleet/eu/car-1/loc/":     "",
		"fleet/eu/car+1/loc":      "car+1",
		"fleet/eu/car-1/location": "",
	} {
		got, ok := tpl.match(topic)
		if got != want || ok != (want != "") {
			t.Errorf("%s: %q %v, want %q", topic, got, ok, want)
		}
	}
	for _, bad := range []string{"sensors/#", "sensors/{device}/{device}", "sensors/x", "$SYS/{device}", "a//{device}", "a/b{device}"} {
		if _, err := parseTemplate(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	for topic, want := range map[string][3]string{
		"owntracks/ann/phone":       {"ann", "phone", ""},
		"owntracks/ann/phone/event": {"ann", "phone", "event"},
		"owntracks/ann/phone/info":  {},
		"owntracks/ann":             {},
		"owntracks//phone":          {},
		"owntracksx/ann/phone":      {},
	} {
		u, d, ev, ok := ownTracksTopic("owntracks", topic)
		if ok != (want[0] != "") || u != want[0] || d != want[1] || ev != (want[2] == "event") {
			t.Errorf("%s: %q %q %v %v", topic, u, d, ev, ok)
		}
	}
	segs, err := parseName("t-{user}.{device}")
	if name, rerr := renderName(segs, "ann", "phone"); err != nil || rerr != nil || name != "t-ann.phone" {
		t.Errorf("name: %v %v %q", err, rerr, name)
	}
	// With {user}-{device}, alice/bob-phone and alice-bob/phone would both
	// be alice-bob-phone: a level holding the separator is refused.
	segs, _ = parseName("{user}-{device}")
	for _, levels := range [][2]string{{"alice", "bob-phone"}, {"alice-bob", "phone"}} {
		if name, err := renderName(segs, levels[0], levels[1]); err == nil {
			t.Errorf("%s/%s became %q", levels[0], levels[1], name)
		}
	}
	if name, err := renderName(segs, "alice", "bob_phone"); err != nil || name != "alice-bob_phone" {
		t.Errorf("alice/bob_phone: %q %v", name, err)
	}
	for _, bad := range []string{"fixed", "{usr}", "{user", "{user}{device}"} {
		if _, err := parseName(bad); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	for topic, own := range map[string]bool{
		"geohub/status": true, "geohub/car/location": true, "geohub/car/status": true, "geohub/alerts/f1": true,
		"geohub/car/telemetry": false, "geohub/a/b/location": false, "geohubx/car/location": false, "geohub": false,
	} {
		if isOwnTopic("geohub", topic) != own {
			t.Errorf("isOwnTopic(%s) = %v", topic, !own)
		}
	}
	if got := topicLevel("a+b#c%d"); got != "a%2Bb%23c%25d" {
		t.Errorf("topicLevel: %q", got)
	}
}

func TestConfigErrorsNameTheirOption(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c.Brokers = []string{"tcp://ok:1883", "udp://x", "mqtt://noport"}
	c.QoS, c.Unknown, c.Group, c.OutPrefix, c.OutFormat = 3, "ask", "", "geo/+", "xml"
	c.JSONTopic, c.JSONFields = "s/{device}", "lat=,lon=lon"
	err := c.Validate()
	var opts []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *ConfigError
		if !errors.As(e, &ce) {
			t.Fatalf("%T %v", e, e)
		}
		opts = append(opts, ce.Option)
	}
	if got := strings.Join(opts, " "); got != "mqtt mqtt-qos mqtt-json-fields mqtt-unknown mqtt-out-prefix mqtt-out-format" {
		t.Errorf("options: %s\n%v", got, err)
	}
	p, _ := Config{Brokers: []string{"mqtt://h", "tls://h", "ws://h/mqtt"}, OwnTracks: "o", OwnTracksName: "{user}", Unknown: "refuse"}.compile()
	if p.servers[0][0].String() != "tcp://h:1883" || p.servers[1][0].String() != "ssl://h:8883" || p.servers[2][0].String() != "ws://h/mqtt" || p.tls == nil {
		t.Errorf("servers: %v", p.servers)
	}
}

func mustObject(t *testing.T, s string) gjson.Result {
	t.Helper()
	doc, err := object([]byte(s), "me")
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestOwnTracksMapping(t *testing.T) {
	d, err := decodeOwnTracks(mustObject(t, `{"_type":"location","lat":52.1,"lon":13.2,"tst":1764000000,"acc":5,"alt":30,"vac":2,"vel":72,"cog":45,"batt":50,"tid":"xy","t":"p","conn":"w","inregions":["A","B"],"BSSID":"ignored"}`))
	if err != nil {
		t.Fatal(err)
	}
	g := d.geo
	if *g.Lat != 52.1 || *g.Lon != 13.2 || !g.Timestamp.Equal(time.Unix(1764000000, 0)) || *g.Accuracy != 5 || *g.Alt != 30 ||
		*g.AltAccuracy != 2 || *g.Speed != 20 || *g.Bearing != 45 || g.Description != "A, B" || g.Text != "tid=xy t=p conn=w" {
		t.Errorf("geoloc: %+v", g)
	}
	if len(d.readings) != 1 || d.readings[0] != (geoloc.Reading{Sensor: "battery", Value: 50, Unit: "%"}) {
		t.Errorf("readings: %+v", d.readings)
	}
	if d, err := decodeOwnTracks(mustObject(t, `{"_type":"lwt","tst":1}`)); err != nil || !d.offline {
		t.Errorf("lwt: %+v %v", d, err)
	}
	for _, typ := range []string{"waypoint", "card", "cmd", "encrypted", "steps"} {
		if _, err := decodeOwnTracks(mustObject(t, `{"_type":"`+typ+`"}`)); err != errIgnored {
			t.Errorf("%s: %v", typ, err)
		}
	}
	if _, err := object([]byte(`{"_type":"location","_geohub":"me"}`), "me"); err != errLooped {
		t.Errorf("own message: %v", err)
	}
	if _, err := object([]byte(`{"_type":"location","_geohub":"another-hub"}`), "me"); err != nil {
		t.Errorf("another hub's message: %v", err)
	}
}

func TestTimes(t *testing.T) {
	for raw, want := range map[string]time.Time{
		`{"t":1764000000}`:             time.Unix(1764000000, 0),
		`{"t":1764000000.25}`:          time.Unix(1764000000, 250e6),
		`{"t":1764000000123}`:          time.UnixMilli(1764000000123),
		`{"t":"2025-11-24T16:00:00Z"}`: time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC),
	} {
		f := fields{doc: gjson.Parse(raw)}
		got := f.anyTime("t")
		if f.err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v", raw, got, f.err)
		}
	}
	for _, raw := range []string{`{"t":-5}`, `{"t":1e20}`, `{"t":"yesterday"}`, `{"t":true}`} {
		f := fields{doc: gjson.Parse(raw)}
		if f.anyTime("t"); f.err == nil {
			t.Errorf("%s accepted", raw)
		}
	}
}

func TestSensorDataIsWhatTheHubReads(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rs := []geoloc.Reading{{Sensor: "battery", Value: 50, Unit: "%", Time: at}, {Sensor: `a"b<c`, Value: -1.5e-7, Time: at}}
	payload := sensorData(rs)
	root, err := xmlnode.Parse(payload, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := geoloc.ParseSensorData(root, at)
	if err != nil || len(got) != 2 || got[0] != rs[0] || got[1] != rs[1] {
		t.Errorf("%s\n%+v %v", payload, got, err)
	}
}

// Whatever a message says, decoding does not panic, and what it accepts
// has coordinates on Earth.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"_type":"location","lat":52.1,"lon":13.2,"tst":1764000000,"acc":5,"vel":72,"batt":50,"inregions":["A"]}`,
		`{"_type":"transition","lat":1,"lon":2,"event":"enter","desc":"x"}`,
		`{"_type":"lwt"}`, `{"gps":{"latitude":1,"longitude":2},"ts":"2025-11-24T16:00:00Z"}`,
		`{"temp":1,"p":{"value":2,"unit":"bar"},"ts":1764000000123}`, `[1]`, `{"lat":"1"}`, `{`,
	} {
		f.Add([]byte(s))
	}
	fieldMap, _ := parseFields("lat=gps.latitude,lon=gps.longitude,time=ts")
	f.Fuzz(func(t *testing.T, payload []byte) {
		doc, err := object(payload, "me")
		if err != nil {
			return
		}
		for _, d := range []func() (decoded, error){
			func() (decoded, error) { return decodeOwnTracks(doc) },
			func() (decoded, error) { return decodeJSON(doc, fieldMap) },
			func() (decoded, error) { return decodeTelemetry(doc, "ts") },
		} {
			got, err := d()
			if err != nil || got.geo == nil {
				continue
			}
			if g := got.geo; g.Lat == nil || g.Lon == nil || *g.Lat < -90 || *g.Lat > 90 || *g.Lon < -180 || *g.Lon > 180 {
				t.Fatalf("accepted %s as %+v", payload, g)
			}
			// The hub may refuse a value (a speed beyond its limits), but
			// it always reads the element.
			var fe *geoloc.FieldError
			if _, err := geoloc.Decode(got.geo.Encode(), time.Now()); errors.As(err, &fe) && fe.Field == "element" {
				t.Fatalf("encoding %s: %v", payload, err)
			}
		}
	})
}

func TestOutputIsJSON(t *testing.T) {
	lat, lon, speed := 52.5, 13.4, 10.0
	text := "tid=\"x\" <b>\u00e9\x01"
	b := &Bridge{p: &plan{Config: Config{Origin: "hub.example"}}}
	p := geoloc.Position{Device: "a+b@hub.example", Lat: lat, Lon: lon, Time: time.Unix(1764000000, 5e8).UTC(),
		Geoloc: geoloc.Geoloc{Lat: &lat, Lon: &lon, Speed: &speed, Text: text}}
	for _, format := range []string{"geohub", "owntracks"} {
		b.p.OutFormat = format
		var m map[string]any
		out := b.positionJSON(nil, p)
		if err := json.Unmarshal(out, &m); err != nil || m["_geohub"] != "hub.example" || m["lat"] != lat {
			t.Errorf("%s: %s %v", format, out, err)
		}
		if format == "geohub" && (m["text"] != text || m["time"] != "2025-11-24T16:00:00.5Z" || m["speed"] != speed) {
			t.Errorf("%s: %v", format, m)
		}
		if format == "owntracks" && (m["vel"] != 36.0 || m["tst"] != 1764000000.0 || m["tid"] != "+b") {
			t.Errorf("%s: %v", format, m)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(statusJSON(nil, "x@y", presence{online: true, via: "xmpp", at: time.Now()}, "o"), &m); err != nil || m["online"] != true {
		t.Errorf("status: %v %v", m, err)
	}
	if err := json.Unmarshal(hubStatus("o", false), &m); err != nil || m["online"] != false {
		t.Errorf("hub status: %v %v", m, err)
	}
}
