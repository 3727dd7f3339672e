package geoloc

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/history"
)

func openHistory(t testing.TB, dir string) *history.Store {
	t.Helper()
	h, err := history.Open(filepath.Join(dir, history.File), history.Options{BlockPoints: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// route is n fixes of a device, one every 5 s from t0, with a speed.
func route(dev string, n int, at time.Duration) []Position {
	out := make([]Position, n)
	for i := range out {
		p := fix(dev, 52+float64(i)*1e-4, -0.1+float64(i)*1e-4, at+time.Duration(i)*5*time.Second)
		p.Geoloc.Speed = ptr(float64(i%20) + 0.5)
		out[i] = p
	}
	return out
}

func ptr(v float64) *float64 { return &v }

// wantTrail is what the trail of ps reads as: the points quantised.
func wantTrail(ps []Position) []TrailPoint {
	out := make([]TrailPoint, len(ps))
	for i, p := range ps {
		out[i] = trailPointOfHistory(historyPoint(trailPointOf(p)))
	}
	return out
}

func sameTrail(t *testing.T, what string, got, want []TrailPoint) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d points, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("%s: point %d is %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

func TestSealedAndUnsealedReadAsOneTrail(t *testing.T) {
	dir := t.TempDir()
	ts := openTest(t, filepath.Join(dir, "db"), Options{History: openHistory(t, dir), SealEvery: -1, SealDelay: time.Minute})
	ps := route("car", 100, 0)
	ts.put(t, ps[:80]...)
	n, more, err := ts.SealRound(time.Now())
	if err != nil || n != 80 || more {
		t.Fatalf("sealed %d (more %v): %v", n, more, err)
	}
	if c := ts.trailCount(); c != 0 {
		t.Fatalf("%d points left in BuntDB after sealing", c)
	}
	ts.put(t, ps[80:]...)
	all := func() []TrailPoint { return ts.TrailPoints("car", t0.Add(-time.Hour), t0.Add(time.Hour)) }
	sameTrail(t, "sealed and unsealed", all(), wantTrail(ps))

	// A crash between the history commit and the BuntDB delete: the
	// points are in both stores.
	var hp []history.Point
	for _, p := range ps[80:] {
		hp = append(hp, historyPoint(trailPointOf(p)))
	}
	if err := ts.opt.History.Seal(map[string][]history.Point{"car": hp}, nil); err != nil {
		t.Fatal(err)
	}
	sameTrail(t, "in both stores", all(), wantTrail(ps))
	if n, _, _ := ts.SealRound(time.Now()); n != 20 {
		t.Fatalf("the second round sealed %d", n)
	}
	sameTrail(t, "sealed again", all(), wantTrail(ps))
	if c := ts.trailCount(); c != 0 {
		t.Fatalf("%d points left in BuntDB", c)
	}

	// A late fix stays in BuntDB, in order, until a round merges it.
	late := fix("car", 50, 0, 12*time.Second)
	ts.put(t, late)
	want := wantTrail(append(append(ps[:3:3], late), ps[3:]...))
	sameTrail(t, "with a late fix", all(), want)
	ts.SealRound(time.Now())
	sameTrail(t, "with a late fix sealed", all(), want)
	// Recent points (inside the seal delay) stay in BuntDB.
	now := route("car", 1, time.Hour)
	ts.put(t, now...)
	if n, _, _ := ts.SealRound(time.Now()); n != 0 || ts.trailCount() != 1 {
		t.Errorf("a point within the seal delay was sealed")
	}
	// Ranges cut inside the sealed blocks.
	sameTrail(t, "a range", ts.TrailPoints("car", ps[10].Time, ps[20].Time), wantTrail(ps[10:21]))

	// Who was in an area reads the sealed points.
	area := Box{MinLat: 52.00495, MinLon: -0.1, MaxLat: 52.00505, MaxLon: 0}
	if got := ts.InsideBetween(area, t0, t0.Add(time.Hour), nil); !got["car"].Equal(ps[50].Time) {
		t.Errorf("inside between: %v, want car at %v", got, ps[50].Time)
	}
}

func TestForgetDeletesTheHistory(t *testing.T) {
	dir := t.TempDir()
	h := openHistory(t, dir)
	ts := openTest(t, filepath.Join(dir, "db"), Options{History: h, SealEvery: -1, SealDelay: -1})
	ts.put(t, route("car", 40, 0)...)
	ts.put(t, route("bus", 40, 0)...)
	ts.SealRound(time.Now())
	if err := ts.Forget("car"); err != nil {
		t.Fatal(err)
	}
	if pts, _ := h.Points("car", 0, 1<<62); len(pts) != 0 {
		t.Errorf("%d sealed points of a removed device", len(pts))
	}
	if pts := ts.TrailPoints("bus", t0, t0.Add(time.Hour)); len(pts) != 40 {
		t.Errorf("the other device has %d points", len(pts))
	}
}

func TestHistoryExpiresWithTheRetention(t *testing.T) {
	dir := t.TempDir()
	h := openHistory(t, dir) // 16 points a block
	ts := openTest(t, filepath.Join(dir, "db"), Options{History: h, SealEvery: -1, SealDelay: -1, Retention: 2 * time.Hour})
	ps := route("car", 100, -30*time.Minute) // from 90 minutes ago, 5 s apart
	ts.put(t, ps...)
	ts.SealRound(time.Now())
	// Later, the first 49 points (242 s) are past the 2 h: the first three
	// blocks go, the fourth (points 48 to 63) stays whole.
	later := ps[0].Time.Add(2*time.Hour + 242*time.Second)
	n, err := ts.ExpireHistory(later)
	if err != nil {
		t.Fatal(err)
	}
	left := ts.TrailPoints("car", t0.Add(-2*time.Hour), t0.Add(time.Hour))
	cut := later.Add(-2 * time.Hour)
	if n != 3 || len(left) != 52 {
		t.Fatalf("expired %d blocks, %d points left", n, len(left))
	}
	// Whole blocks go: the first point left may be older than the cutoff,
	// but not by a whole block.
	if !left[0].Time.After(cut.Add(-16 * 5 * time.Second)) {
		t.Errorf("a block wholly past the retention stayed: first point %v, cutoff %v", left[0].Time, cut)
	}
	if left[len(left)-1].Time.Before(cut) {
		t.Errorf("the last point is older than the cutoff")
	}
	for i, p := range left {
		if p.Time.Before(cut) && i >= 16 {
			t.Errorf("point %d at %v is past the cutoff %v outside the boundary block", i, p.Time, cut)
		}
	}
}

// A data folder from before the history store has its trail in BuntDB:
// the sealer moves it, in bounded rounds, and the trail reads the same.
func TestMigrationMovesTrailKeysIntoHistory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db")
	ps := append(route("car", 300, 0), route("bus", 300, 0)...)
	old := openTest(t, path, Options{})
	old.put(t, ps...)
	var readings []Reading
	for i := range 100 {
		readings = append(readings, at("battery", float64(100-i), "%", time.Duration(i)*time.Second))
	}
	old.putReadings(t, "car", readings...)
	before := old.TrailPoints("car", t0.Add(-time.Hour), t0.Add(time.Hour))
	old.commit.Close()
	old.db.Close()

	defer func(n int) { maxSealPoints = n }(maxSealPoints)
	maxSealPoints = 70
	ts := openTest(t, path, Options{History: openHistory(t, dir), SealEvery: time.Hour, SealDelay: -1})
	defer ts.Close()
	waitFor(t, func() bool { return ts.unsealedCount() == 0 })
	if got := ts.Series("car", "battery", t0.Add(-time.Hour), t0.Add(time.Hour), 0); !reflect.DeepEqual(got, readings) {
		t.Errorf("battery after migration: %d readings, want %d", len(got), len(readings))
	}
	sameTrail(t, "car after migration", ts.TrailPoints("car", t0.Add(-time.Hour), t0.Add(time.Hour)), wantTrail(ps[:300]))
	sameTrail(t, "bus after migration", ts.TrailPoints("bus", t0.Add(-time.Hour), t0.Add(time.Hour)), wantTrail(ps[300:]))
	if len(before) != 300 {
		t.Fatalf("the old store had %d points", len(before))
	}
}

// A group's retention outlives the global one for its devices, in BuntDB
// (a late fix older than the global retention is kept) and in the history
// (expiry), and survives a restart.
func TestGroupRetention(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db")
	h := openHistory(t, dir)
	opt := Options{History: h, SealEvery: -1, SealDelay: -1, Retention: 7 * 24 * time.Hour}
	ts := openTest(t, path, opt)
	ts.SetDirectory(groups{"van": {"fleet", "other"}, "car": {"other"}})
	if err := ts.SetGroupRetention("fleet", 30*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-10 * 24 * time.Hour).UTC().Truncate(time.Second)
	recent := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	for _, dev := range []string{"van", "car"} {
		ts.put(t, Position{Device: dev, Lat: 1, Lon: 1, Time: recent, Received: recent},
			Position{Device: dev, Lat: 2, Lon: 2, Time: old, Received: old})
	}
	count := func(dev string) int { return len(ts.TrailPoints(dev, old.Add(-time.Hour), time.Now())) }
	if count("van") != 2 || count("car") != 1 {
		t.Fatalf("van has %d points (want 2: the group keeps 30 days), car %d (want 1)", count("van"), count("car"))
	}
	ts.SealRound(time.Now())
	// 15 days on: the van's 25-day-old point stays, the car's 16-day-old one goes.
	if _, err := ts.ExpireHistory(time.Now().Add(15 * 24 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if count("van") != 2 || count("car") != 0 {
		t.Errorf("after expiry van has %d points (want 2), car %d (want 0)", count("van"), count("car"))
	}
	ts.commit.Close()
	ts.db.Close()
	again := openTest(t, path, opt)
	if got := again.GroupRetentions(); len(got) != 1 || got["fleet"] != 30*24*time.Hour {
		t.Errorf("group retentions after a restart: %v", got)
	}
	if err := again.SetGroupRetention("fleet", 0); err != nil || len(again.GroupRetentions()) != 0 {
		t.Errorf("cleared: %v %v", err, again.GroupRetentions())
	}
}

// Sensor series go the same way as trails: sealed by the same rounds,
// read merged without duplicates, expired with the telemetry retention,
// deleted with the device.
func TestSeriesInTheHistory(t *testing.T) {
	dir := t.TempDir()
	h := openHistory(t, dir)
	ts := openTest(t, filepath.Join(dir, "db"), Options{History: h, SealEvery: -1, SealDelay: time.Minute, TelemetryRetention: 2 * time.Hour})
	var want []Reading
	for i := range 40 {
		r := at("temp:inside", 4+float64(i)/10, "C", time.Duration(i)*time.Minute)
		ts.putReadings(t, "car@x", r)
		want = append(want, r)
	}
	ts.putReadings(t, "car@x", at("battery", 90, "%", 0))
	series := func() []Reading { return ts.Series("car@x", "temp:inside", t0.Add(-time.Hour), t0.Add(time.Hour), 0) }
	same := func(what string) {
		t.Helper()
		if got := series(); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got %d readings\n%+v\nwant %d", what, len(got), got, len(want))
		}
	}
	n, _, err := ts.SealRound(time.Now())
	if err != nil || n != 41 {
		t.Fatalf("sealed %d: %v", n, err)
	}
	same("sealed")
	// Both places, as after a crash between the commit and the deletes.
	var hr []history.Reading
	for _, r := range want[30:] {
		hr = append(hr, history.Reading{Time: r.Time.UnixMilli(), Value: r.Value, Unit: r.Unit})
	}
	for _, r := range want[30:] {
		ts.putReadings(t, "car@x", r)
	}
	same("sealed and unsealed")
	h.Seal(nil, map[history.Series][]history.Reading{{Device: "car@x", Sensor: "temp:inside"}: hr})
	same("sealed twice")
	if got := ts.Series("car@x", "temp:inside", t0.Add(-time.Hour), t0.Add(time.Hour), 35); !reflect.DeepEqual(got, want[:35]) {
		t.Errorf("at most 35: %d readings", len(got))
	}
	ts.SealRound(time.Now())
	same("sealed again")
	// t0 is an hour ago: in 90 minutes, the first half hour is past the 2 h.
	if _, err := ts.ExpireHistory(time.Now().Add(90 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := series(); len(got) == 0 || len(got) == len(want) || got[len(got)-1] != want[len(want)-1] {
		t.Errorf("after expiry %d readings of %d", len(got), len(want))
	}
	if err := ts.Forget("car@x"); err != nil {
		t.Fatal(err)
	}
	if got := series(); len(got) != 0 {
		t.Errorf("after forget: %d readings", len(got))
	}
	if got, _ := h.Readings(history.Series{Device: "car@x", Sensor: "battery"}, 0, 1<<62, 0); len(got) != 0 {
		t.Errorf("the battery series stayed after forget: %+v", got)
	}
}

// The millisecond decides whether a point is in a range, sealed or not: a
// MAM page after a point's id (its quantised time, plus 1 ns) does not
// hold it again.
func TestSubMillisecondTimesPageOnce(t *testing.T) {
	dir := t.TempDir()
	ts := openTest(t, filepath.Join(dir, "db"), Options{History: openHistory(t, dir), SealEvery: -1, SealDelay: -1})
	at := t0.Add(500 * time.Microsecond)
	ts.put(t, Position{Device: "car", Lat: 1, Lon: 1, Time: at, Received: at})
	for _, sealed := range []bool{false, true} {
		if sealed {
			ts.SealRound(time.Now())
		}
		pts := ts.TrailPoints("car", t0.Add(-time.Second), t0.Add(time.Second))
		if len(pts) != 1 || !pts[0].Time.Equal(t0) {
			t.Fatalf("sealed %v: %+v", sealed, pts)
		}
		if next := ts.TrailPoints("car", t0.Add(1), t0.Add(time.Second)); len(next) != 0 {
			t.Errorf("sealed %v: the range after its time holds it again: %+v", sealed, next)
		}
		if upTo := ts.TrailPoints("car", t0.Add(-time.Second), t0.Add(300*time.Microsecond)); len(upTo) != 1 {
			t.Errorf("sealed %v: a range up to its millisecond misses it", sealed)
		}
	}
}
