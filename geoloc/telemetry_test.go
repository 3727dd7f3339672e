package geoloc

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/tidwall/buntdb"
)

const sensorItem = `<fields xmlns='urn:xmpp:iot:sensordata' seqnr='7' done='true'>
  <node nodeId='car-17'>
    <timestamp value='2026-11-25T11:03:00Z'>
      <numeric name='battery' momentary='true' automaticReadout='true' value='87' unit='%'/>
      <numeric name='temperature' value=' -4.25 ' unit='°C'/>
      <boolean name='door open' value='true'/>
      <string name='firmware' value='1.2.3'/>
      <int name='satellites' value='9'/>
      <x xmlns='urn:example:extension'><numeric xmlns='urn:xmpp:iot:sensordata' name='ignored' value='1'/></x>
    </timestamp>
  </node>
  <timestamp value='2026-11-25T12:04:00+01:00'>
    <long name='odometer' value='123456789012'/>
    <numeric name='battery' value='86.5' unit='%'/>
  </timestamp>
</fields>`

func parseSensor(t testing.TB, s string) ([]Reading, error) {
	t.Helper()
	n, err := xmlnode.Parse([]byte(s), "")
	if err != nil {
		t.Fatalf("not XML: %v\n%s", err, s)
	}
	return ParseSensorData(n, now)
}

func TestParseSensorData(t *testing.T) {
	rs, err := parseSensor(t, sensorItem)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 11, 3, 0, 0, time.UTC)
	want := []Reading{
		{Sensor: "battery", Value: 87, Unit: "%", Time: at, Node: "car-17"},
		{Sensor: "temperature", Value: -4.25, Unit: "°C", Time: at, Node: "car-17"},
		{Sensor: "satellites", Value: 9, Time: at, Node: "car-17"},
		{Sensor: "odometer", Value: 123456789012, Time: at.Add(time.Minute)},
		{Sensor: "battery", Value: 86.5, Unit: "%", Time: at.Add(time.Minute)},
	}
	if !reflect.DeepEqual(rs, want) {
		t.Errorf("got\n%+v\nwant\n%+v", rs, want)
	}
	// No numeric fields, or none at all (the end of a readout): accepted,
	// nothing to store.
	for _, in := range []string{
		`<fields xmlns='urn:xmpp:iot:sensordata' seqnr='8' done='true'/>`,
		`<fields xmlns='urn:xmpp:iot:sensordata'><timestamp value='2026-11-25T11:03:00Z'><boolean name='on' value='true'/></timestamp></fields>`,
	} {
		if rs, err := parseSensor(t, in); err != nil || len(rs) != 0 {
			t.Errorf("%s: %v %v", in, rs, err)
		}
	}
}

func TestParseSensorDataRefusesBadInput(t *testing.T) {
	item := func(ts, field string) string {
		return `<fields xmlns='urn:xmpp:iot:sensordata'><timestamp value='` + ts + `'>` + field + `</timestamp></fields>`
	}
	ok := "2026-11-25T11:03:00Z"
	many := ""
	for i := range maxFieldsPerItem + 1 {
		many += fmt.Sprintf("<numeric name='s%d' value='1'/>", i)
	}
	for _, tc := range []struct{ in, want string }{
		{`<resp xmlns='urn:xmpp:iot:sensordata'/>`, "not an XEP-0323 fields element"},
		{`<fields xmlns='urn:example'/>`, "not an XEP-0323 fields element"},
		{item(ok, `<numeric value='1'/>`), "needs a name"},
		{item(ok, `<numeric name='' value='1'/>`), "needs a name"},
		{item(ok, `<numeric name='`+strings.Repeat("x", 65)+`' value='1'/>`), "longer than 64"},
		{item(ok, `<numeric name='a&#9;b' value='1'/>`), "printable"},
		{item(ok, `<numeric name=' battery' value='1'/>`), "spaces"},
		{item(ok, `<numeric name='battery'/>`), "has no value"},
		{item(ok, `<numeric name='battery' value=''/>`), "is not a number"},
		{item(ok, `<numeric name='battery' value='lots'/>`), "is not a number"},
		{item(ok, `<numeric name='battery' value='NaN'/>`), "finite"},
		{item(ok, `<numeric name='battery' value='-Inf'/>`), "finite"},
		{item(ok, `<numeric name='battery' value='1e999'/>`), "finite"},
		{item(ok, `<int name='count' value='1.5'/>`), "32-bit integer"},
		{item(ok, `<int name='count' value='3000000000'/>`), "32-bit integer"},
		{item(ok, `<long name='count' value='x'/>`), "64-bit integer"},
		{item(ok, `<numeric name='battery' value='1' unit='`+strings.Repeat("u", 33)+`'/>`), "unit"},
		{item(ok, `<numeric name='battery' value='1'/><numeric name='battery' value='2'/>`), "two values"},
		{item("", `<numeric name='battery' value='1'/>`), "timestamp: needs a value"},
		{item("2026-11-25T11:03:00", `<numeric name='battery' value='1'/>`), "time zone"},
		{item("yesterday", `<numeric name='battery' value='1'/>`), "not an RFC 3339"},
		{item("1999-12-31T23:59:59Z", `<numeric name='battery' value='1'/>`), "before 2000"},
		{item("2026-11-26T12:00:01Z", `<numeric name='battery' value='1'/>`), "in the future"},
		{item(ok, many), "more than 100 fields"},
		{`<fields xmlns='urn:xmpp:iot:sensordata'><numeric name='battery' value='1'/></fields>`, "inside a <timestamp/>"},
		{`<fields xmlns='urn:xmpp:iot:sensordata'><node nodeId='` + strings.Repeat("n", 257) + `'/></fields>`, "nodeId"},
	} {
		rs, err := parseSensor(t, tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || rs != nil {
			t.Errorf("%.120s: got %v %v, want an error about %q", tc.in, rs, err, tc.want)
		}
		if _, ok := err.(*DataError); err != nil && !ok {
			t.Errorf("%.120s: %T is not a *DataError", tc.in, err)
		}
	}
	// Within the clock skew the codec allows: accepted.
	if _, err := parseSensor(t, item("2026-11-26T11:59:00Z", `<numeric name='battery' value='1'/>`)); err != nil {
		t.Errorf("an hour ahead: %v", err)
	}
}

func FuzzParseSensorData(f *testing.F) {
	f.Add([]byte(sensorItem))
	f.Add([]byte(`<fields xmlns='urn:xmpp:iot:sensordata'><timestamp value='2026-11-25T11:03:00Z'><numeric name='a:b%' value='1e308' unit='x'/></timestamp></fields>`))
	f.Fuzz(func(t *testing.T, in []byte) {
		n, err := xmlnode.Parse(in, "")
		if err != nil {
			return
		}
		rs, err := ParseSensorData(n, now)
		if err != nil {
			return
		}
		for _, r := range rs {
			if checkSensorName(r.Sensor) != nil || math.IsNaN(r.Value) || math.IsInf(r.Value, 0) ||
				r.Time.Before(earliest) || r.Time.After(now.Add(maxFuture)) {
				t.Fatalf("accepted a bad reading %+v", r)
			}
		}
	})
}

// putReadings ingests readings of a device through the commit path and
// waits until they are durable.
func (ts *testStore) putReadings(t testing.TB, device string, rs ...Reading) {
	t.Helper()
	w, then, err := ts.StageReadings(device, rs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ts.commit.Submit(w, func(err error) { then(err); done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// at is a reading taken d after t0.
func at(sensor string, v float64, unit string, d time.Duration) Reading {
	return Reading{Sensor: sensor, Value: v, Unit: unit, Time: t0.Add(d)}
}

func TestReadingsSeriesAndRetention(t *testing.T) {
	ts := openTest(t, ":memory:", Options{TelemetryRetention: 2 * time.Hour})
	ts.putReadings(t, "car@x", at("battery", 90, "%", 0), at("temp:inside", 4, "C", 0), at("battery", 89, "%", time.Minute))
	ts.putReadings(t, "car@x", at("battery", 95, "%", -time.Minute)) // late: the series only
	ts.putReadings(t, "car@x", Reading{Sensor: "battery", Value: 1, Time: time.Now().Add(-3 * time.Hour)})

	want := map[string]Reading{
		"battery":     {Sensor: "battery", Value: 89, Unit: "%", Time: t0.Add(time.Minute)},
		"temp:inside": {Sensor: "temp:inside", Value: 4, Unit: "C", Time: t0},
	}
	if got := ts.Readings("car@x"); !reflect.DeepEqual(got, want) {
		t.Errorf("latest: %+v", got)
	}
	if ts.Readings("bus@x") != nil {
		t.Error("readings of a device that sent none")
	}
	// The key layout: tm:<device>:<sensor, escaped>:<20-digit ns> with a
	// TTL of the retention less the reading's age; the one older than the
	// retention is not kept.
	var keys []string
	ts.db.View(func(tx *buntdb.Tx) error {
		return tx.AscendKeys(seriesPrefix+"*", func(k, _ string) bool {
			keys = append(keys, k)
			ttl, err := tx.TTL(k)
			if err != nil || ttl <= 55*time.Minute || ttl > time.Hour+time.Minute {
				t.Errorf("%s expires in %v, want about 1h", k, ttl)
			}
			return true
		})
	})
	ns := func(d time.Duration) string { return fmt.Sprintf("%020d", t0.Add(d).UnixNano()) }
	wantKeys := []string{"tm:car@x:battery:" + ns(-time.Minute), "tm:car@x:battery:" + ns(0), "tm:car@x:battery:" + ns(time.Minute),
		"tm:car@x:temp%3Ainside:" + ns(0)}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("series keys\n%q\nwant\n%q", keys, wantKeys)
	}
	if got := ts.Series("car@x", "battery", t0.Add(-time.Hour), t0.Add(time.Hour), 0); len(got) != 3 ||
		got[0].Value != 95 || got[2].Value != 89 || !got[2].Time.Equal(t0.Add(time.Minute)) || got[2].Unit != "%" {
		t.Errorf("series: %+v", got)
	}
	if got := ts.Series("car@x", "battery", t0, t0.Add(time.Minute), 1); len(got) != 1 || got[0].Value != 90 {
		t.Errorf("series from t0, at most 1: %+v", got)
	}
	if got := ts.Series("car@x", "temp:inside", time.Time{}, time.Now(), 0); len(got) != 1 || got[0].Sensor != "temp:inside" {
		t.Errorf("escaped sensor: %+v", got)
	}
	if got := ts.Series("car@x", "temp", time.Time{}, time.Now(), 0); len(got) != 0 {
		t.Errorf("a prefix of a sensor's name is another sensor: %+v", got)
	}

	// Another value for the latest reading's time replaces it, in the
	// series too.
	ts.putReadings(t, "car@x", at("battery", 88, "%", time.Minute))
	if got := ts.Readings("car@x")["battery"]; got.Value != 88 {
		t.Errorf("a corrected reading: %+v", got)
	}
	if got := ts.Series("car@x", "battery", t0.Add(time.Minute), t0.Add(time.Minute), 0); len(got) != 1 || got[0].Value != 88 {
		t.Errorf("the corrected series: %+v", got)
	}

	// Bad readings from another path are refused before anything is written.
	for _, r := range []Reading{{Sensor: "", Value: 1, Time: t0}, {Sensor: "x", Value: math.NaN(), Time: t0}, {Sensor: "x", Value: 1}} {
		if _, _, err := ts.StageReadings("car@x", []Reading{r}, time.Now()); err == nil {
			t.Errorf("%+v accepted", r)
		}
	}
	// A device cannot claim memory without bound.
	var lots []Reading
	for i := range maxSensorsPerDevice {
		lots = append(lots, at(fmt.Sprintf("s%d", i), 1, "", 0))
	}
	if _, _, err := ts.StageReadings("car@x", lots, time.Now()); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("too many sensors: %v", err)
	}
}

func TestReadingsSurviveRestartAndForget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	ts := openTest(t, path, Options{})
	ts.putReadings(t, "car@x", at("battery", 50, "%", 0), at("speed", 3, "m/s", 0))
	ts.putReadings(t, "bus@x", at("battery", 70, "%", 0))
	want := ts.Readings("car@x")
	ts.commit.Close()
	ts.db.Close()

	ts = openTest(t, path, Options{})
	if got := ts.Readings("car@x"); !reflect.DeepEqual(got, want) || len(got) != 2 {
		t.Errorf("after restart %+v, want %+v", got, want)
	}
	if got := ts.ReportingDevices(); !slices.Equal(got, []string{"bus@x", "car@x"}) {
		t.Errorf("reporting devices: %v", got)
	}
	if err := ts.Forget("car@x"); err != nil {
		t.Fatal(err)
	}
	if ts.Readings("car@x") != nil || len(ts.Series("car@x", "battery", time.Time{}, time.Now(), 0)) != 0 {
		t.Error("a forgotten device's readings are still there")
	}
	ts.db.View(func(tx *buntdb.Tx) error {
		return tx.AscendKeys("*car@x*", func(k, _ string) bool {
			t.Errorf("left after Forget: %s", k)
			return true
		})
	})
	if ts.Readings("bus@x") == nil {
		t.Error("Forget took another device's readings")
	}
}

func f64(v float64) *float64 { return &v }

func ruleStore(t *testing.T, path string, rules ...*Rule) (*testStore, *eventLog) {
	t.Helper()
	ts := openTest(t, path, Options{})
	log := &eventLog{}
	ts.AddSink(log.sink)
	ts.SetDirectory(groups{"bus@x": {"fleet"}})
	if len(rules) > 0 {
		if _, err := ts.AddRules(rules, nil); err != nil {
			t.Fatal(err)
		}
	}
	return ts, log
}

// takeValues returns the events so far as "kind:rule:device:value" and
// forgets them.
func (l *eventLog) takeValues() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		out = append(out, fmt.Sprintf("%s:%s:%s:%v", e.Kind, e.FenceName, e.Device, e.Value))
	}
	l.events = nil
	return out
}

// feed sends values of one sensor a second apart, starting at start.
func feed(t *testing.T, ts *testStore, dev, sensor string, start time.Duration, values ...float64) {
	t.Helper()
	for i, v := range values {
		ts.putReadings(t, dev, at(sensor, v, "%", start+time.Duration(i)*time.Second))
	}
}

func TestThresholdsCrossRearmWithHysteresis(t *testing.T) {
	ts, log := ruleStore(t, ":memory:",
		&Rule{Name: "Low battery", Sensor: "battery", Below: f64(15), Hysteresis: 2, Notify: []string{"op@x"}},
		&Rule{Name: "Cold chain", Sensor: "temp", Below: f64(2), Above: f64(8)})
	feed(t, ts, "car@x", "battery", 0,
		20, // fine
		14, // below: alert
		12, // still below: nothing
		15, // back at the threshold, within the hysteresis: still in alarm
		16.9,
		13, // so no second alert
		17, // back by the hysteresis: re-armed
		14.9)
	if got := log.takeValues(); !slices.Equal(got, []string{"below:Low battery:car@x:14", "below:Low battery:car@x:14.9"}) {
		t.Errorf("battery alerts: %v", got)
	}
	// Both ways; a jump from one alarm range to the other raises at once.
	feed(t, ts, "car@x", "temp", 0, 5, 9, 8.5, 8, 1, 9, 5, 9)
	if got := log.takeValues(); !slices.Equal(got, []string{"above:Cold chain:car@x:9", "below:Cold chain:car@x:1",
		"above:Cold chain:car@x:9", "above:Cold chain:car@x:9"}) {
		t.Errorf("temperature alerts: %v", got)
	}
	// A late reading is history: it joins the series, and judges nothing.
	feed(t, ts, "car@x", "battery", -time.Hour, 1)
	if got := log.takeValues(); len(got) != 0 {
		t.Errorf("a late reading raised %v", got)
	}
	// The alert log keeps them, with what the alert needs.
	var below []Event
	for _, e := range ts.Alerts(time.Time{}, time.Now().Add(time.Minute), 0) {
		if e.Sensor == "battery" {
			below = append(below, e)
		}
	}
	if len(below) != 2 || below[0].Threshold != 15 || below[0].Unit != "%" || below[0].Notify[0] != "op@x" || below[0].ID == "" {
		t.Errorf("alert log: %+v", below)
	}
	if st := ts.Alarms(below[0].Fence); st["car@x"] != Below {
		t.Errorf("alarms: %v", st)
	}
}

func TestThresholdStateSurvivesRestartAndRuleRemoval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	ts, log := ruleStore(t, path, &Rule{Name: "Low battery", Sensor: "battery", Below: f64(15)})
	feed(t, ts, "car@x", "battery", 0, 20, 10)
	if got := log.takeValues(); !slices.Equal(got, []string{"below:Low battery:car@x:10"}) {
		t.Fatalf("before restart: %v", got)
	}
	ts.commit.Close()
	ts.db.Close()

	ts, log = ruleStore(t, path)
	if rs := ts.Rules(); len(rs) != 1 || rs[0].Name != "Low battery" || *rs[0].Below != 15 {
		t.Fatalf("rules after restart: %+v", rs)
	}
	feed(t, ts, "car@x", "battery", 10*time.Second, 9, 30, 5)
	if got := log.takeValues(); !slices.Equal(got, []string{"below:Low battery:car@x:5"}) {
		t.Errorf("after restart: %v", got)
	}
	var changes []RuleChange
	ts.WatchRules(func(c RuleChange) { changes = append(changes, c) })
	id := ts.Rules()[0].ID
	if err := ts.RemoveRule(id); err != nil {
		t.Fatal(err)
	}
	if err := ts.RemoveRule(id); err == nil {
		t.Error("removed twice")
	}
	if len(changes) != 1 || !changes[0].Removed || changes[0].Rule.ID != id {
		t.Errorf("changes: %+v", changes)
	}
	feed(t, ts, "car@x", "battery", 20*time.Second, 30, 5)
	if got := log.takeValues(); len(got) != 0 {
		t.Errorf("a removed rule raised %v", got)
	}
	ts.db.View(func(tx *buntdb.Tx) error {
		return tx.AscendKeys("*"+id+"*", func(k, _ string) bool {
			t.Errorf("left after RemoveRule: %s", k)
			return true
		})
	})
}

func TestRulesWatchTheirDevicesAndGroups(t *testing.T) {
	ts, log := ruleStore(t, ":memory:",
		&Rule{Name: "Fleet", Sensor: "battery", Below: f64(15), Groups: []string{"fleet"}},
		&Rule{Name: "Car", Sensor: "battery", Below: f64(15), Devices: []string{"car@x"}},
		&Rule{Name: "Fuel", Sensor: "fuel", Below: f64(15)})
	for _, dev := range []string{"bus@x", "car@x", "van@x"} {
		feed(t, ts, dev, "battery", 0, 10)
	}
	got := log.takeValues()
	slices.Sort(got)
	if !slices.Equal(got, []string{"below:Car:car@x:10", "below:Fleet:bus@x:10"}) {
		t.Errorf("alerts: %v", got)
	}
}

func TestBadRulesAreRefused(t *testing.T) {
	for _, tc := range []struct {
		r    Rule
		want string
	}{
		{Rule{Sensor: "battery", Below: f64(1)}, "name"},
		{Rule{Name: "x", Below: f64(1)}, "sensor"},
		{Rule{Name: "x", Sensor: "battery"}, "threshold"},
		{Rule{Name: "x", Sensor: "battery", Below: f64(math.NaN())}, "finite"},
		{Rule{Name: "x", Sensor: "battery", Above: f64(math.Inf(1))}, "finite"},
		{Rule{Name: "x", Sensor: "battery", Below: f64(10), Above: f64(5)}, "less than"},
		{Rule{Name: "x", Sensor: "battery", Below: f64(10), Hysteresis: -1}, "hysteresis"},
		{Rule{Name: "x", Sensor: "battery", Below: f64(10), Notify: make([]string, maxFenceList+1)}, "at most"},
	} {
		ts := openTest(t, ":memory:", Options{})
		if _, err := ts.AddRules([]*Rule{&tc.r}, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error about %q", tc.r, err, tc.want)
		}
		if len(ts.Rules()) != 0 {
			t.Errorf("%+v was stored", tc.r)
		}
	}
}

func TestThresholdAlertTexts(t *testing.T) {
	at := time.Date(2026, 11, 25, 14, 3, 0, 0, time.UTC)
	e := Event{ID: "1", Kind: Below, Fence: "r1", FenceName: "Low battery", Device: "car-17@localhost", Time: at,
		Sensor: "battery", Value: 12, Unit: "%", Threshold: 15}
	if got := e.Body(); got != "car-17 battery 12 % below 15 % (Low battery) at 14:03 UTC" {
		t.Errorf("body %q", got)
	}
	el := string(e.Element())
	for _, want := range []string{"event='below'", "rule='r1'", "rule-name='Low battery'", "sensor='battery'", "value='12'",
		"unit='%'", "threshold='15'", "device='car-17@localhost'", "time='2026-11-25T14:03:00Z'"} {
		if !strings.Contains(el, want) {
			t.Errorf("element lacks %s: %s", want, el)
		}
	}
	if strings.Contains(el, "<geoloc") {
		t.Errorf("a device without a position has no geoloc: %s", el)
	}
	e.Kind, e.Sensor, e.Value, e.Unit, e.Threshold = Above, "temperature", 9.25, "", 8
	e.Position = Position{Device: "car-17@localhost", Lat: 52.5, Lon: 13.4, Time: at}
	if got := e.Body(); got != "car-17 temperature 9.25 above 8 (Low battery) at 14:03 UTC" {
		t.Errorf("body %q", got)
	}
	if el := string(e.Element()); !strings.Contains(el, "<lat>52.5</lat>") || strings.Contains(el, "unit=") {
		t.Errorf("element: %s", el)
	}
}

func TestSeriesPointJSON(t *testing.T) {
	for _, p := range []point{{V: 1}, {V: -1.5e-300, U: `°C "in" \ out`, N: "node\x01<&>"}, {V: math.MaxFloat64, U: "%"}} {
		var back point
		b := p.appendJSON(nil)
		if err := json.Unmarshal(b, &back); err != nil || back != p {
			t.Errorf("%+v: %s read back as %+v, %v", p, b, back, err)
		}
	}
}
