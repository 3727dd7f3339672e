package geoloc

import (
	"testing"
	"time"
)

// Time in zones from the fence events the store logged: a device already
// inside when the range starts counts from the start, one still inside at
// its end counts to the end, and a fence that logs no exits gives entries
// only.
func TestZoneReportFromTheFenceEvents(t *testing.T) {
	ts, _ := fenceStore(t, ":memory:", `{"type":"FeatureCollection","features":[
	 {"type":"Feature","properties":{"name":"Depot","radius":100,"events":["enter","exit"]},"geometry":{"type":"Point","coordinates":[13.0,52.0]}},
	 {"type":"Feature","properties":{"name":"Gate","radius":100,"events":["enter"]},"geometry":{"type":"Point","coordinates":[13.0,52.0]}},
	 {"type":"Feature","properties":{"name":"Elsewhere","radius":100,"events":["enter","exit"]},"geometry":{"type":"Point","coordinates":[14.0,52.0]}}]}`)
	out, in := [2]float64{13.0, 52.01}, [2]float64{13.0, 52.0}
	for _, step := range []struct {
		at time.Duration
		p  [2]float64
	}{
		{0, out}, {10 * time.Minute, in}, {70 * time.Minute, out}, {100 * time.Minute, in},
		{130 * time.Minute, out}, {170 * time.Minute, in},
	} {
		ts.put(t, fix("car", step.p[1], step.p[0], step.at-3*time.Hour))
	}
	start := t0.Add(-3 * time.Hour) // t0 is an hour ago: all of this is past
	zones, err := ts.ZoneReport([]string{"car"}, start.Add(time.Hour), start.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(zones) != 2 {
		t.Fatalf("zones %+v", zones)
	}
	depot, gate := zones[0], zones[1]
	// 60–70, 100–130 and 170–180 minutes.
	if depot.FenceName != "Depot" || !depot.InsideAtStart || depot.Entries != 2 || !depot.Timed || depot.Inside != 50*time.Minute {
		t.Errorf("depot: %+v", depot)
	}
	if gate.FenceName != "Gate" || gate.InsideAtStart || gate.Entries != 2 || gate.Timed || gate.Inside != 0 {
		t.Errorf("gate: %+v", gate)
	}
	// From before the first entry, nothing is inside at the start.
	zones, _ = ts.ZoneReport([]string{"car"}, start, start.Add(80*time.Minute))
	if len(zones) != 2 || zones[0].InsideAtStart || zones[0].Entries != 1 || zones[0].Inside != 60*time.Minute {
		t.Errorf("from the start: %+v", zones)
	}
}

// ZoneTimes alone: a lost entry (the log expired it) still counts from the
// start of the range when the first event seen is an exit.
func TestZoneTimesWithALostEntry(t *testing.T) {
	from := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	ev := func(kind string, min int) Event {
		return Event{Kind: kind, Fence: "f1", FenceName: "Yard", Device: "car", Time: from.Add(time.Duration(min) * time.Minute)}
	}
	got := ZoneTimes("car", []Event{ev(Enter, 30), ev(Exit, 20), ev(Dwell, 25), ev(Exit, 40)}, nil, map[string]bool{"f1": true}, from, from.Add(time.Hour))
	if len(got) != 1 || got[0].Inside != 30*time.Minute || !got[0].InsideAtStart || got[0].Entries != 1 {
		t.Errorf("%+v", got)
	}
}
