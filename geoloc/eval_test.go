package geoloc

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// eventLog collects what the sink is told.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) sink(es []Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, es...)
}

// take returns the events so far as "kind:fence:device" and forgets them.
func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		out = append(out, e.Kind+":"+e.FenceName+":"+e.Device)
	}
	l.events = nil
	return out
}

type groups map[string][]string

func (g groups) GroupsOf(device string) []string { return g[device] }

func fenceStore(t *testing.T, path string, geojson string) (*testStore, *eventLog) {
	t.Helper()
	ts := openTest(t, path, Options{})
	log := &eventLog{}
	ts.AddSink(log.sink)
	ts.SetDirectory(groups{"bus": {"fleet"}})
	if geojson != "" {
		fs, err := ParseFences([]byte(geojson))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.AddFences(fs, nil); err != nil {
			t.Fatal(err)
		}
	}
	return ts, log
}

// drive sends a device through fixes one second apart, starting at start.
func drive(t *testing.T, ts *testStore, dev string, start time.Duration, points ...[2]float64) {
	t.Helper()
	for i, p := range points {
		ts.put(t, fix(dev, p[1], p[0], start+time.Duration(i)*time.Second))
	}
}

const square = `{"type":"Feature","properties":{"name":"Depot","events":["enter","exit","dwell"],"dwell":3},
 "geometry":{"type":"Polygon","coordinates":[[[13,52],[13.1,52],[13.1,52.1],[13,52.1],[13,52]],
 [[13.04,52.04],[13.06,52.04],[13.06,52.06],[13.04,52.06],[13.04,52.04]]]}}`

func TestEnterExitDwellAndHoles(t *testing.T) {
	ts, log := fenceStore(t, ":memory:", square)
	drive(t, ts, "car", 0,
		[2]float64{12.9, 52.05}, // outside
		[2]float64{13.0, 52.02}, // exactly on the western edge: inside
		[2]float64{13.02, 52.02},
		[2]float64{13.02, 52.03},
		[2]float64{13.03, 52.03}, // 3 s inside: dwell
		[2]float64{13.05, 52.05}, // in the hole: out
		[2]float64{13.02, 52.02}, // back in
	)
	want := []string{"enter:Depot:car", "dwell:Depot:car", "exit:Depot:car", "enter:Depot:car"}
	if got := log.take(); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	alerts := ts.Alerts(t0, t0.Add(time.Hour), 0)
	if len(alerts) != 4 || alerts[0].Kind != Enter || alerts[0].Position.Lon != 13.0 {
		t.Errorf("alert records: %+v", alerts)
	}
}

func TestCrossingAThinCorridorAndAPolygon(t *testing.T) {
	corridor := `{"type":"FeatureCollection","features":[
	 {"type":"Feature","properties":{"name":"Rail","events":["cross","enter"],"width":20},
	  "geometry":{"type":"LineString","coordinates":[[13.0,52.0],[13.0,52.2]]}},
	 {"type":"Feature","properties":{"name":"Park","events":["cross"]},
	  "geometry":{"type":"Polygon","coordinates":[[[13.5,52],[13.51,52],[13.51,52.01],[13.5,52.01],[13.5,52]]]}}]}`
	ts, log := fenceStore(t, ":memory:", corridor)
	// A fast vehicle: one fix 500 m west of the rail, the next 500 m east.
	drive(t, ts, "car", 0, [2]float64{12.993, 52.1}, [2]float64{13.007, 52.1})
	// Jumping over the park.
	drive(t, ts, "car", 10*time.Second, [2]float64{13.49, 52.005}, [2]float64{13.52, 52.005})
	// Passing near but not through it.
	drive(t, ts, "car", 20*time.Second, [2]float64{13.49, 52.02}, [2]float64{13.52, 52.02})
	if got := log.take(); !slices.Equal(got, []string{"cross:Rail:car", "cross:Park:car"}) {
		t.Errorf("events %v", got)
	}
}

func TestCircleAcrossTheAntimeridianAndHysteresis(t *testing.T) {
	fc := `{"type":"FeatureCollection","features":[
	 {"type":"Feature","properties":{"name":"Dateline","radius":20000},"geometry":{"type":"Point","coordinates":[179.95,0]}},
	 {"type":"Feature","properties":{"name":"Yard","radius":100,"hysteresis":20},"geometry":{"type":"Point","coordinates":[13,52]}}]}`
	ts, log := fenceStore(t, ":memory:", fc)
	drive(t, ts, "ship", 0, [2]float64{-179.7, 0}, [2]float64{-179.98, 0.01})
	if got := log.take(); !slices.Equal(got, []string{"enter:Dateline:ship"}) {
		t.Errorf("across the antimeridian: %v", got)
	}
	// GPS jitter around the yard's edge (100 m): 95, 110, 105, 90 m out.
	dist := func(m float64) [2]float64 { return [2]float64{13, 52 + m/111_195} }
	drive(t, ts, "car", 0, dist(300), dist(95), dist(70), dist(110), dist(105), dist(90), dist(130))
	if got := log.take(); !slices.Equal(got, []string{"enter:Yard:car", "exit:Yard:car"}) {
		t.Errorf("with hysteresis: %v", got)
	}
}

func TestFencesWatchTheirDevicesAndGroups(t *testing.T) {
	fc := `{"type":"Feature","properties":{"name":"Depot","groups":["fleet"],"devices":["van"]},
	 "geometry":{"type":"Polygon","coordinates":[[[13,52],[13.1,52],[13.1,52.1],[13,52.1],[13,52]]]}}`
	ts, log := fenceStore(t, ":memory:", fc)
	for _, dev := range []string{"bus", "van", "car"} {
		drive(t, ts, dev, 0, [2]float64{12.9, 52.05}, [2]float64{13.05, 52.05})
	}
	if got := log.take(); !slices.Equal(got, []string{"enter:Depot:bus", "enter:Depot:van"}) {
		t.Errorf("events %v", got)
	}
}

func TestFenceStateSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	ts, log := fenceStore(t, path, square)
	drive(t, ts, "car", 0, [2]float64{12.9, 52.02}, [2]float64{13.02, 52.02})
	if got := log.take(); !slices.Equal(got, []string{"enter:Depot:car"}) {
		t.Fatalf("before restart: %v", got)
	}
	ts.commit.Close()
	ts.db.Close()
	ts, log = fenceStore(t, path, "")
	if len(ts.Fences()) != 1 {
		t.Fatalf("fences after restart: %v", ts.Fences())
	}
	drive(t, ts, "car", 10*time.Second, [2]float64{13.03, 52.02}, [2]float64{12.9, 52.02})
	// No second enter; the entry time survived (the dwell counts from it);
	// the exit is not lost.
	if got := log.take(); !slices.Equal(got, []string{"dwell:Depot:car", "exit:Depot:car"}) {
		t.Errorf("after restart: %v", got)
	}
	id := ts.Fences()[0].ID
	if err := ts.RemoveFence(id); err != nil {
		t.Fatal(err)
	}
	if err := ts.RemoveFence(id); err == nil {
		t.Error("removed twice")
	}
	drive(t, ts, "car", 20*time.Second, [2]float64{13.02, 52.02})
	if got := log.take(); len(got) != 0 {
		t.Errorf("a removed fence raised %v", got)
	}
}

func TestBadFencesAreRefused(t *testing.T) {
	poly := func(coords string) string {
		return `{"type":"Feature","properties":{"name":"X"},"geometry":{"type":"Polygon","coordinates":` + coords + `}}`
	}
	for _, tc := range []struct{ in, want string }{
		{`not json`, "not JSON"},
		{`{"type":"Point","coordinates":[1,2]}`, "Feature or FeatureCollection"},
		{`{"type":"FeatureCollection","features":[]}`, "no features"},
		{poly(`[[[0,0],[1,1],[1,0],[0,1],[0,0]]]`), "intersects itself"},
		{poly(`[]`), "polygon"},
		{poly(`[[[0,0],[1,0],[0,0]]]`), "at least 4"},
		{poly(`[[[0,0],[1,0],[2,0],[0,0]]]`), "no area"},
		{poly(`[[[0,0],[1,0],[1,1],[0,1]]]`), "last equal to the first"},
		{poly(`[[[0,0],[200,0],[1,1],[0,0]]]`), "not a longitude/latitude"},
		{`{"type":"Feature","properties":{"name":"C","radius":0},"geometry":{"type":"Point","coordinates":[1,2]}}`, "radius"},
		{`{"type":"Feature","properties":{"name":"C","radius":-5},"geometry":{"type":"Point","coordinates":[1,2]}}`, "radius"},
		{`{"type":"Feature","properties":{"name":"L"},"geometry":{"type":"LineString","coordinates":[[1,2],[2,3]]}}`, "width"},
		{`{"type":"Feature","properties":{"name":"C","radius":5,"events":["teleport"]},"geometry":{"type":"Point","coordinates":[1,2]}}`, "unknown event"},
		{`{"type":"Feature","properties":{"name":"C","radius":5,"events":["dwell"]},"geometry":{"type":"Point","coordinates":[1,2]}}`, "dwell"},
		{`{"type":"Feature","properties":{"radius":5},"geometry":{"type":"Point","coordinates":[1,2]}}`, "name"},
		{`{"type":"Feature","properties":{"name":"N","radius":5},"geometry":null}`, "geometry"},
	} {
		_, err := ParseFences([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error about %q", tc.in, err, tc.want)
		}
	}
	// Round trip: a stored fence reads back the same.
	fs, err := ParseFences([]byte(square))
	if err != nil {
		t.Fatal(err)
	}
	fs[0].ID = "x"
	b, _ := fs[0].Feature().MarshalJSON()
	again, err := ParseFences(b)
	if err != nil || again[0].Name != "Depot" || again[0].Dwell != 3*time.Second || fmt.Sprint(again[0].Geometry) != fmt.Sprint(fs[0].Geometry) {
		t.Errorf("round trip: %v %+v", err, again)
	}
}

func TestAlertTexts(t *testing.T) {
	at := time.Date(2026, 11, 25, 14, 3, 0, 0, time.UTC)
	e := Event{ID: "1", Kind: Enter, Fence: "f1", FenceName: "Depot", Device: "car-17@localhost", Time: at,
		Position: Position{Device: "car-17@localhost", Lat: 52.52013, Lon: 13.40498, Time: at}}
	if got := e.Body(); got != "car-17 entered Depot at 14:03 UTC, 52.5201 13.4050" {
		t.Errorf("body %q", got)
	}
	e.Kind, e.Since = Dwell, at.Add(-5*time.Minute)
	if got := e.Body(); got != "car-17 has been in Depot for 5m0s at 14:03 UTC, 52.5201 13.4050" {
		t.Errorf("dwell body %q", got)
	}
	el := string(e.Element())
	for _, want := range []string{"event='dwell'", "fence='f1'", "device='car-17@localhost'", "<lat>52.52013</lat>", "<timestamp>2026-11-25T14:03:00Z</timestamp>"} {
		if !strings.Contains(el, want) {
			t.Errorf("element lacks %s: %s", want, el)
		}
	}
}

// Fences change while fixes flow: this deadlocked when fence writes took
// the store's lock before the database's.
func TestFenceChangesWhileFixesFlow(t *testing.T) {
	ts, _ := fenceStore(t, ":memory:", "")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ts.put(t, fix("car", 52+float64(i%100)*0.001, 13.05, time.Duration(i)*time.Second))
		}
	}()
	for range 50 {
		fs, err := ParseFences([]byte(square))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.AddFences(fs, nil); err != nil {
			t.Fatal(err)
		}
		if err := ts.RemoveFence(fs[0].ID); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-done
}

// A device that goes quiet inside a fence still gets its dwell event, from
// the sweep, once; a later fix does not raise it again.
func TestDwellSweepForQuietDevices(t *testing.T) {
	ts, log := fenceStore(t, ":memory:", square)
	drive(t, ts, "car", 0, [2]float64{12.9, 52.02}, [2]float64{13.02, 52.02})
	log.take()
	entered := t0.Add(time.Second)
	if err := ts.SweepDwell(entered.Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := log.take(); len(got) != 0 {
		t.Fatalf("dwell before its time: %v", got)
	}
	if err := ts.SweepDwell(entered.Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	events := slices.Clone(log.events)
	log.mu.Unlock()
	if got := log.take(); !slices.Equal(got, []string{"dwell:Depot:car"}) {
		t.Fatalf("sweep: %v", got)
	}
	if e := events[0]; !e.Time.Equal(entered.Add(3*time.Second)) || !e.Since.Equal(entered) || e.Position.Lat != 52.02 || e.ID == "" {
		t.Errorf("dwell event: %+v", e)
	}
	if got := ts.Alerts(time.Time{}, time.Now().Add(time.Hour), 0); len(got) != 2 || got[1].Kind != Dwell {
		t.Errorf("alert log: %+v", got)
	}
	ts.SweepDwell(entered.Add(20 * time.Second))
	drive(t, ts, "car", 20*time.Second, [2]float64{13.03, 52.02})
	if got := log.take(); len(got) != 0 {
		t.Errorf("dwell raised twice: %v", got)
	}
}
