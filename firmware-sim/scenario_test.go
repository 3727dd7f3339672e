package firmwaresim

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadScenarioYAMLAndJSON(t *testing.T) {
	y, err := LoadScenario("testdata/scenario.yaml")
	must(t, err)
	j, err := LoadScenario("testdata/scenario.json")
	must(t, err)
	if !reflect.DeepEqual(y, j) {
		t.Fatalf("YAML and JSON forms differ:\n%+v\n%+v", y, j)
	}
	if y.Seed != 42 || y.Duration != 10*time.Minute || y.Hub != (HubSpec{"127.0.0.1:5222", "localhost", "data/tls/cert.pem"}) || y.MQTT.Broker != "tcp://127.0.0.1:1883" || len(y.Groups) != 4 {
		t.Fatalf("scenario %+v", y)
	}
	buses := y.Groups[0]
	want := Group{Name: "buses", Count: 3, Transport: "xmpp", Interval: 5 * time.Second, Jitter: 0.2,
		Movement:  MovementSpec{Model: ModelRoute, File: "line100.gpx", Speed: 9, Route: loadRoute(t, "testdata/line100.gpx")},
		Telemetry: &TelemetrySpec{Every: 30 * time.Second, Battery: &BatterySpec{100, 3}, Temperature: &TemperatureSpec{5, 2}},
		Chaos:     ChaosSpec{DropPerHour: 0.5, PausePerHour: 0.2, PauseFor: 2 * time.Minute, InvalidShare: 0.01}}
	if !reflect.DeepEqual(buses, want) {
		t.Errorf("buses:\n%+v\nwant\n%+v", buses, want)
	}
	if got := y.Groups[3].Movement.Route; len(got) != 9 {
		t.Errorf("couriers' route from tour.geojson has %d points", len(got))
	}
	// Every group's devices move.
	for gi := range y.Groups {
		g := &y.Groups[gi]
		for i := range g.Count {
			m, err := g.NewMover(y.Rand(g.Name, i))
			must(t, err)
			checkConsistentNoisy(t, drive(m, 10*time.Minute, uint64(i)))
		}
	}
}

// checkConsistentNoisy checks fixes with GPS noise: consecutive positions
// agree with speed and bearing up to both fixes' accuracies.
func checkConsistentNoisy(t *testing.T, fixes []Fix) {
	t.Helper()
	for i := 1; i < len(fixes); i++ {
		a, b := fixes[i-1], fixes[i]
		moved := refDistance(a, b)
		if claimed := b.Speed * b.Time.Sub(a.Time).Seconds(); moved > claimed+a.Accuracy+b.Accuracy || moved < claimed-a.Accuracy-b.Accuracy {
			t.Fatalf("fix %d: moved %.1f m, speed says %.1f m, accuracies %.1f and %.1f m", i, moved, claimed, a.Accuracy, b.Accuracy)
		}
	}
}

func TestScenarioDefaults(t *testing.T) {
	s, err := ParseScenario([]byte(`
groups:
  - name: bikes
    movement: {model: walk, box: [13.36, 52.50, 13.44, 52.54]}
    telemetry: {battery: {drain_per_hour: 5}}
`), "s.yaml")
	must(t, err)
	want := Group{Name: "bikes", Count: 1, Transport: "xmpp", Interval: 10 * time.Second, Jitter: 0.1,
		Movement:  MovementSpec{Model: ModelWalk, Box: []float64{13.36, 52.50, 13.44, 52.54}, Speed: 10},
		Telemetry: &TelemetrySpec{Every: 30 * time.Second, Battery: &BatterySpec{Start: 100, DrainPerHour: 5}},
		Chaos:     ChaosSpec{PauseFor: time.Minute}}
	if s.Seed != 0 || s.Duration != 0 || !reflect.DeepEqual(s.Groups[0], want) {
		t.Errorf("defaults:\n%+v\nwant\n%+v", s.Groups[0], want)
	}
	// Zero written out is kept, not replaced by the default.
	s, err = ParseScenario([]byte(`{"groups":[{"name":"a","jitter":0,"movement":{"model":"waypoints","points":[[1,2],[1.01,2]]}}]}`), "s.json")
	must(t, err)
	if g := s.Groups[0]; g.Jitter != 0 || g.Telemetry != nil {
		t.Errorf("jitter %g telemetry %+v, want 0 and none", g.Jitter, g.Telemetry)
	}
	if b := s.Groups[0].Behaviour(); b.Interval != 10*time.Second || b.PauseFor != time.Minute || b.TelemetryEvery != 0 {
		t.Errorf("behaviour %+v", b)
	}
}

func TestScenarioErrors(t *testing.T) {
	const walk = `movement: {model: walk, box: [13.3, 52.4, 13.5, 52.5]}`
	for _, c := range []struct {
		name, doc, want string
	}{
		{"s.yaml", ``, "empty scenario"},
		{"s.yaml", `seed: [`, "yaml:"},
		{"s.json", "{\n\"seed\": 1,}", "not JSON: line 2: invalid character"},
		{"s.yaml", `seed: 1`, "groups: none"},
		{"s.yaml", `sed: 1`, "sed: unknown field (line 1)"},
		{"s.yaml", "groups:\n  - name: a\n    " + walk + "\n    intervall: 5s", "groups[0].intervall: unknown field (line 4)"},
		{"s.yaml", "groups:\n  - name: a\n    movement: {model: walk, box: [13.3, 52.4, 13.5, 52.5], spped: 3}", "groups[0].movement.spped: unknown field"},
		{"s.yaml", "groups:\n  - name: a\n    " + walk + "\n    telemetry: {battery: {start: 90, drain: 3}}", "groups[0].telemetry.battery.drain: unknown field"},
		{"s.yaml", "groups:\n  - name: a\n    " + walk + "\n    interval: 5x", "time.Duration"},
		{"s.yaml", "groups:\n  - name: a\n    " + walk + "\n    interval: 5", "time.Duration"},
		{"s.yaml", "duration: -1m\ngroups:\n  - name: a\n    " + walk, "duration: -1m0s"},
		{"s.yaml", "hub: {addr: localhost}\ngroups:\n  - name: a\n    " + walk, "hub.addr: address localhost: missing port"},
		{"s.yaml", "mqtt: {broker: '127.0.0.1:1883'}\ngroups:\n  - name: a\n    " + walk, "mqtt.broker:"},
		{"s.yaml", "groups:\n  - " + walk, `groups[0].name: "": want letters`},
		{"s.yaml", "groups:\n  - name: a b\n    " + walk, `groups[0].name: "a b"`},
		{"s.yaml", "groups:\n  - name: a\n    " + walk + "\n  - name: a\n    " + walk, `groups[1].name: "a" already names groups[0]`},
		{"s.yaml", "groups:\n  - name: a\n    count: 0\n    " + walk, "groups[0].count: 0: want 1 or more"},
		{"s.yaml", "groups:\n  - name: a\n    transport: http\n    " + walk, `groups[0].transport: "http": want xmpp or mqtt`},
		{"s.yaml", "groups:\n  - name: a\n    interval: 0s\n    " + walk, "groups[0].interval: 0s: want above 0"},
		{"s.yaml", "groups:\n  - name: a\n    jitter: 1\n    " + walk, "groups[0].jitter: 1: want 0 up to below 1"},
		{"s.yaml", "groups:\n  - name: a\n    movement: {box: [13.3, 52.4, 13.5, 52.5]}", "groups[0].movement.model: missing"},
		{"s.yaml", "groups:\n  - name: a\n    movement: {model: fly}", `groups[0].movement.model: "fly"`},
		{"s.yaml", "groups:\n  - name: a\n    movement: {model: walk, box: [13.3, 52.4, 13.5, 52.5], speed: -1}", "groups[0].movement.speed: -1: want above 0"},
		{"s.yaml", "groups:\n  - name: a\n    movement: {model: walk}", "groups[0].movement.box: want [minLon, minLat, maxLon, maxLat], got 0 numbers"},
		{"s.yaml", "groups:\n  - name: a\n    " + walk + "\n  - name: b\n    movement: {model: walk, box: [13.30, 52.6, 13.50, 52.5]}", "groups[1].movement.box: minLat 52.6 above maxLat 52.5"},
		{"s.yaml", "groups:\n  - name: a\n    movement: {model: walk, box: [179, 10, -179, 11]}", "antimeridian"},
		{"s.yaml", "groups:\n  - name: a\n    movement: {model: walk, box: [0, 80, 1, 89]}", "beyond ±85"},
		{"s.yaml", "groups:\n  - name: a\n    movement: {model: walk, box: [13.3, 52.4, 13.5, 52.5], points: [[1, 2], [2, 3]]}", "groups[0].movement.points: only for model waypoints"},
		{"s.yaml", "groups:\n  - name: a\n    movement: {model: waypoints, points: [[1, 2]]}", "groups[0].movement.points: 1 distinct points"},
		{"s.yaml", "groups:\n  - name: a\n    movement: {model: waypoints, points: [[1, 2], [3]]}", "groups[0].movement.points[1]: want [lon, lat], got 1 numbers"},
		{"s.yaml", "groups:\n  - name: a\n    movement: {model: waypoints, points: [[1, 2], [3, 91]]}", "off the Earth"},
		{"s.yaml", "groups:\n  - name: a\n    movement: {model: route}", "groups[0].movement.file: missing"},
		{"s.yaml", "groups:\n  - name: a\n    movement: {model: waypoints, points: [[1, 2], [2, 3]], loop: true}", "groups[0].movement.loop: only for model route"},
		{"s.yaml", "groups:\n  - name: a\n    " + walk + "\n    telemetry: {every: -1s, battery: {}}", "groups[0].telemetry.every"},
		{"s.yaml", "groups:\n  - name: a\n    " + walk + "\n    telemetry: {battery: {start: 120}}", "groups[0].telemetry.battery.start: 120"},
		{"s.yaml", "groups:\n  - name: a\n    " + walk + "\n    telemetry: {battery: {drain_per_hour: -1}}", "groups[0].telemetry.battery.drain_per_hour: -1"},
		{"s.yaml", "groups:\n  - name: a\n    " + walk + "\n    telemetry: {temperature: {mean: 200}}", "groups[0].telemetry.temperature.mean: 200"},
		{"s.yaml", "groups:\n  - name: a\n    " + walk + "\n    telemetry: {temperature: {swing: -2}}", "groups[0].telemetry.temperature.swing: -2"},
		{"s.yaml", "groups:\n  - name: a\n    " + walk + "\n    chaos: {drop_per_hour: -1}", "groups[0].chaos.drop_per_hour: -1"},
		{"s.yaml", "groups:\n  - name: a\n    " + walk + "\n    chaos: {pause_per_hour: .nan}", "groups[0].chaos.pause_per_hour: NaN"},
		{"s.yaml", "groups:\n  - name: a\n    " + walk + "\n    chaos: {pause_for: -1s}", "groups[0].chaos.pause_for: -1s"},
		{"s.yaml", "groups:\n  - name: a\n    " + walk + "\n    chaos: {invalid_share: 1.5}", "groups[0].chaos.invalid_share: 1.5"},
	} {
		_, err := ParseScenario([]byte(c.doc), c.name)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), c.name+": ") {
			t.Errorf("%q: error %v, want %q", c.doc, err, c.want)
		}
	}
}

func TestScenarioMergeKeys(t *testing.T) {
	doc := `
x-bus: &bus {transport: mqtt, interval: 3s, movement: {model: walk, box: [13.36, 52.50, 13.44, 52.54]}}
groups:
  - {<<: *bus, name: a}
  - {<<: *bus, name: b, interval: 4s}
`
	// x-bus is not a field: anchors live in fields of their own or inline.
	if _, err := ParseScenario([]byte(doc), "s.yaml"); err == nil || !strings.Contains(err.Error(), "x-bus: unknown field") {
		t.Errorf("extra top-level key: %v", err)
	}
	doc = `
groups:
  - &bus {name: a, transport: mqtt, interval: 3s, movement: {model: walk, box: [13.36, 52.50, 13.44, 52.54]}}
  - {<<: *bus, name: b, interval: 4s}
  - {<<: [*bus], name: c, speling: 1}
`
	if _, err := ParseScenario([]byte(doc), "s.yaml"); err == nil || !strings.Contains(err.Error(), "groups[2].speling: unknown field") {
		t.Errorf("unknown field beside a merge: %v", err)
	}
	s, err := ParseScenario([]byte(strings.Replace(doc, "speling: 1", "count: 2", 1)), "s.yaml")
	must(t, err)
	if g := s.Groups[1]; g.Name != "b" || g.Transport != "mqtt" || g.Interval != 4*time.Second || g.Movement.Model != ModelWalk {
		t.Errorf("merged group %+v", g)
	}
	if g := s.Groups[2]; g.Name != "c" || g.Count != 2 || g.Interval != 3*time.Second {
		t.Errorf("merged group %+v", g)
	}
}

func TestScenarioReportsEveryError(t *testing.T) {
	_, err := ParseScenario([]byte("groups:\n  - name: a\n    count: 0\n    movement: {model: walk, box: [1, 2, 3]}\n  - name: a\n    jitter: 2\n    movement: {model: route}\n"), "s.yaml")
	for _, want := range []string{"groups[0].count", "groups[0].movement.box", "groups[1].name", "groups[1].jitter", "groups[1].movement.file"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to name %s", err, want)
		}
	}
}

func TestLoadScenarioRouteErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.yaml")
	must(t, os.WriteFile(path, []byte("groups:\n  - name: a\n    movement: {model: route, file: routes/none.gpx}\n"), 0o600))
	_, err := LoadScenario(path)
	if err == nil || !strings.Contains(err.Error(), "groups[0].movement.file") || !strings.Contains(err.Error(), filepath.Join(dir, "routes", "none.gpx")) {
		t.Errorf("missing route: %v", err)
	}
	s, err := ParseScenario([]byte("groups:\n  - name: a\n    movement: {model: route, file: x.gpx}\n"), "s.yaml")
	must(t, err)
	if _, err := s.Groups[0].NewMover(testRand(1)); err == nil || !strings.Contains(err.Error(), "not loaded") {
		t.Errorf("mover of an unloaded route: %v", err)
	}
}

func TestScenarioRand(t *testing.T) {
	s := DefaultScenario(3, Box{})
	path := func(s *Scenario, group string, i int) []Fix {
		g := &s.Groups[0]
		for k := range s.Groups {
			if s.Groups[k].Name == group {
				g = &s.Groups[k]
			}
		}
		m, err := g.NewMover(s.Rand(group, i))
		must(t, err)
		return drive(m, 20*time.Minute, 1)
	}
	a := path(s, "car", 0)
	if !reflect.DeepEqual(a, path(s, "car", 0)) {
		t.Error("same seed, group and index: different paths")
	}
	if b := path(s, "car", 1); b[0] == a[0] {
		t.Error("devices 0 and 1 start alike")
	}
	other := *s
	other.Seed = 43
	if b := path(&other, "car", 0); b[0] == a[0] {
		t.Error("seeds 1 and 43 start alike")
	}
	// A group added in front changes nobody else's path.
	more := *s
	more.Groups = append([]Group{DefaultScenario(5, Box{}).Groups[0]}, s.Groups...)
	more.Groups[0].Name = "bus"
	if !reflect.DeepEqual(a, path(&more, "car", 0)) {
		t.Error("adding a group changed car-1's path")
	}
	// Drawing from the device's rng after building its mover (jitter,
	// sensors) does not change the path.
	rng := s.Rand("car", 0)
	m, err := s.Groups[0].NewMover(rng)
	must(t, err)
	NewSensors(*s.Groups[0].Telemetry, rng)
	rng.Float64()
	if !reflect.DeepEqual(a, drive(m, 20*time.Minute, 1)) {
		t.Error("drawing from the device's rng changed its path")
	}
}

func TestDefaultScenario(t *testing.T) {
	s := DefaultScenario(25, Box{})
	must(t, s.Validate())
	g := s.Groups[0]
	if g.Count != 25 || g.Interval != 2*time.Second || g.Movement.Model != ModelWalk || g.DeviceName(0) != "car-1" || g.DeviceName(24) != "car-25" {
		t.Fatalf("default group %+v", g)
	}
	for i := range g.Count {
		m, err := g.NewMover(s.Rand(g.Name, i))
		must(t, err)
		for _, f := range drive(m, 30*time.Minute, uint64(i)) {
			// Noise may carry a fix up to its accuracy beyond the box.
			margin := f.Accuracy / metresPerDegree * 2
			if f.Lat < 52.50-margin || f.Lat > 52.54+margin || f.Lon < 13.36-margin || f.Lon > 13.44+margin {
				t.Fatalf("car-%d at (%.5f, %.5f), outside Berlin Mitte", i+1, f.Lat, f.Lon)
			}
		}
	}
	if s := DefaultScenario(0, Box{0, 0, 0.01, 0.01}); s.Groups[0].Count != 1 || s.Groups[0].Movement.Box[2] != 0.01 {
		t.Errorf("DefaultScenario(0, box): %+v", s.Groups[0])
	}
}

func FuzzParseScenario(f *testing.F) {
	for _, p := range []string{"testdata/scenario.yaml", "testdata/scenario.json"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, filepath.Ext(p))
	}
	f.Add([]byte("groups: &g [{name: a, movement: {model: waypoints, points: [[0, 0], [0.01, 0]]}}]\nseed: *g"), ".yaml")
	f.Fuzz(func(t *testing.T, data []byte, ext string) {
		s, err := ParseScenario(data, "s"+ext)
		if err != nil {
			return
		}
		// Whatever validates builds movers, routes aside.
		for gi := range s.Groups {
			g := &s.Groups[gi]
			if g.Movement.Model == ModelRoute {
				continue
			}
			if _, err := g.NewMover(s.Rand(g.Name, 0)); err != nil {
				t.Fatalf("group %d validated but: %v", gi, err)
			}
		}
	})
}
