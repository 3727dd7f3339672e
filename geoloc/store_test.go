package geoloc

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/store"
	"github.com/paulmach/orb"
	"github.com/tidwall/buntdb"
)

type testStore struct {
	*Store
	db     *buntdb.DB
	commit *store.Committer
}

func openTest(t testing.TB, path string, opt Options) *testStore {
	t.Helper()
	db, err := buntdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	commit := store.NewCommitter(db)
	opt.Commit = commit
	s, err := OpenStore(db, opt)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testStore{Store: s, db: db, commit: commit}
	t.Cleanup(func() { ts.commit.Close(); db.Close() })
	return ts
}

// put ingests fixes through the commit path and waits until they are
// durable.
func (ts *testStore) put(t testing.TB, ps ...Position) {
	t.Helper()
	done := make(chan error, len(ps))
	for _, p := range ps {
		w, then, err := ts.Stage(p)
		if err != nil {
			t.Fatal(err)
		}
		ts.commit.Submit(w, func(err error) { then(err); done <- err })
	}
	for range ps {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

var t0 = time.Now().UTC().Truncate(time.Second).Add(-time.Hour)

func fix(dev string, lat, lon float64, at time.Duration) Position {
	return Position{Device: dev, Lat: lat, Lon: lon, Time: t0.Add(at), Received: t0.Add(at)}
}

func TestOutOfOrderAndDuplicates(t *testing.T) {
	ts := openTest(t, ":memory:", Options{})
	ts.put(t, fix("car", 1, 1, 10*time.Second), fix("car", 2, 2, 30*time.Second))
	ts.put(t, fix("car", 1.5, 1.5, 20*time.Second)) // late
	if p, _ := ts.Latest("car"); p.Lat != 2 {
		t.Errorf("a late fix replaced the latest: %+v", p)
	}
	ts.put(t, fix("car", 2, 2, 30*time.Second)) // repeat
	pts := ts.TrailPoints("car", t0, t0.Add(time.Minute))
	var lats []float64
	for _, p := range pts {
		lats = append(lats, p.Lat)
	}
	if !slices.Equal(lats, []float64{1, 1.5, 2}) {
		t.Errorf("trail %v, want the late fix in its place and no repeat", lats)
	}
}

func TestThinningAndRetention(t *testing.T) {
	ts := openTest(t, ":memory:", Options{MinInterval: 10 * time.Second, MinDistance: 50})
	ts.put(t,
		fix("car", 52, 13, 0),
		fix("car", 52.01, 13, 5*time.Second),    // too soon
		fix("car", 52.0001, 13, 20*time.Second), // too close (11 m)
		fix("car", 52.01, 13, 25*time.Second),   // kept
	)
	if n := len(ts.TrailPoints("car", t0, t0.Add(time.Minute))); n != 2 {
		t.Errorf("thinned trail has %d points, want 2", n)
	}
	if p, _ := ts.Latest("car"); p.Lat != 52.01 || !p.Time.Equal(t0.Add(25*time.Second)) {
		t.Errorf("thinning must not hold back the latest fix: %+v", p)
	}
	// Points older than the retention are not kept; the rest expire.
	short := openTest(t, ":memory:", Options{Retention: 2 * time.Hour})
	short.put(t, Position{Device: "old", Lat: 1, Lon: 1, Time: time.Now().Add(-3 * time.Hour), Received: time.Now()})
	if short.trailCount() != 0 {
		t.Error("a fix older than the retention went into the trail")
	}
	short.put(t, Position{Device: "new", Lat: 1, Lon: 1, Time: time.Now(), Received: time.Now()})
	short.db.View(func(tx *buntdb.Tx) error {
		return tx.AscendKeys(trailPrefix+"*", func(k, _ string) bool {
			ttl, err := tx.TTL(k)
			if err != nil || ttl <= time.Hour || ttl > 2*time.Hour {
				t.Errorf("%s expires in %v, want about 2h", k, ttl)
			}
			return true
		})
	})
}

func TestPositionsSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	ts := openTest(t, path, Options{})
	ts.put(t, fix("a", 10, 20, 0), fix("b", -10, -20, 0))
	ts.commit.Close()
	ts.db.Close()
	ts = openTest(t, path, Options{})
	if p, ok := ts.Latest("b"); !ok || p.Lon != -20 {
		t.Fatalf("after restart: %+v", p)
	}
	if hits := ts.Nearby(10, 20, 1, 1000, nil); len(hits) != 1 || hits[0].Device != "a" {
		t.Errorf("index after restart: %+v", hits)
	}
	if err := ts.Forget("a"); err != nil {
		t.Fatal(err)
	}
	if _, ok := ts.Latest("a"); ok || len(ts.TrailPoints("a", t0, t0.Add(time.Hour))) != 0 || len(ts.Nearby(10, 20, 1, 1000, nil)) != 0 {
		t.Error("a forgotten device is still there")
	}
}

func TestNearbyMatchesBruteForce(t *testing.T) {
	ts := openTest(t, ":memory:", Options{})
	r := rand.New(rand.NewPCG(1, 2))
	var ps []Position
	for i := range 3000 {
		// Clusters near the antimeridian and the poles, and some everywhere.
		var lat, lon float64
		switch i % 3 {
		case 0:
			lat, lon = r.Float64()*20-10, 170+r.Float64()*20
			if lon > 180 {
				lon -= 360
			}
		case 1:
			lat, lon = 80+r.Float64()*10, r.Float64()*360-180
		default:
			lat, lon = r.Float64()*180-90, r.Float64()*360-180
		}
		ps = append(ps, fix(fmt.Sprintf("d%d", i), lat, lon, 0))
	}
	ts.put(t, ps...)
	for _, q := range [][2]float64{{0, 179.9}, {0, -179.9}, {89.9, 0}, {52.5, 13.4}, {-89, 100}} {
		got := ts.Nearby(q[0], q[1], 10, 0, nil)
		want := slices.Clone(ps)
		slices.SortFunc(want, func(a, b Position) int {
			return cmpFloat(Distance(q[0], q[1], a.Lat, a.Lon), Distance(q[0], q[1], b.Lat, b.Lon))
		})
		for i := range got {
			if got[i].Device != want[i].Device || math.Abs(got[i].Distance-Distance(q[0], q[1], want[i].Lat, want[i].Lon)) > 1e-6 {
				t.Fatalf("near %v, hit %d: got %s at %.0f m, want %s", q, i, got[i].Device, got[i].Distance, want[i].Device)
			}
		}
	}
	// Filter and maximum distance.
	hits := ts.Nearby(0, 179.9, 50, 500_000, func(d string) bool { return d != "d0" })
	for _, h := range hits {
		if h.Distance > 500_000 || h.Device == "d0" {
			t.Errorf("hit %s at %.0f m", h.Device, h.Distance)
		}
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestWithinAreas(t *testing.T) {
	ts := openTest(t, ":memory:", Options{})
	ts.put(t,
		fix("berlin", 52.52, 13.405, 0), fix("potsdam", 52.39, 13.06, 0), fix("paris", 48.85, 2.35, 0),
		fix("fiji", -17.7, 178.1, 0), fix("samoa", -13.8, -172.1, 0),
	)
	names := func(ps []Position) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Device)
		}
		slices.Sort(out)
		return out
	}
	if got := names(ts.Within(Circle{52.52, 13.405, 30_000}, nil)); !slices.Equal(got, []string{"berlin", "potsdam"}) {
		t.Errorf("30 km around Berlin: %v", got)
	}
	if got := names(ts.Within(Box{-20, 170, -10, -170}, nil)); !slices.Equal(got, []string{"fiji", "samoa"}) {
		t.Errorf("box across the antimeridian: %v", got)
	}
	if got := names(ts.Within(Circle{-15, 180, 1_000_000}, nil)); !slices.Equal(got, []string{"fiji", "samoa"}) {
		t.Errorf("circle across the antimeridian: %v", got)
	}
	// Brandenburg-ish square with Berlin cut out as a hole.
	outer := orb.Ring{{12, 52}, {14.5, 52}, {14.5, 53}, {12, 53}, {12, 52}}
	hole := orb.Ring{{13.2, 52.4}, {13.6, 52.4}, {13.6, 52.7}, {13.2, 52.7}, {13.2, 52.4}}
	if got := names(ts.Within(Shape{orb.Polygon{outer, hole}}, nil)); !slices.Equal(got, []string{"potsdam"}) {
		t.Errorf("polygon with a hole: %v", got)
	}
	if got := names(ts.Within(Circle{52.52, 13.405, 1e6}, func(d string) bool { return d != "berlin" })); !slices.Equal(got, []string{"paris", "potsdam"}) {
		t.Errorf("filtered: %v", got)
	}
}

func TestTrailAsGeoJSONAndWhoWasInside(t *testing.T) {
	ts := openTest(t, ":memory:", Options{})
	speed := 12.5
	p := fix("car", 52.50, 13.30, 0)
	p.Geoloc.Speed = &speed
	ts.put(t, p, fix("car", 52.51, 13.35, time.Minute), fix("car", 52.52, 13.40, 2*time.Minute),
		fix("bus", 48.85, 2.35, 0), fix("bus", 52.515, 13.38, 5*time.Minute))
	f := ts.Trail("car", t0, t0.Add(90*time.Second))
	line, ok := f.Geometry.(orb.LineString)
	if !ok || len(line) != 2 || line[1] != (orb.Point{13.35, 52.51}) {
		t.Fatalf("trail geometry: %#v", f.Geometry)
	}
	if times := f.Properties["times"].([]string); times[0] != t0.Format(time.RFC3339Nano) {
		t.Errorf("times: %v", times)
	}
	if speeds := f.Properties["speeds"].([]any); speeds[0] != 12.5 || speeds[1] != nil {
		t.Errorf("speeds: %v", speeds)
	}
	area := Circle{52.515, 13.38, 2000}
	inside := ts.InsideBetween(area, t0, t0.Add(3*time.Minute), nil)
	if len(inside) != 1 || !inside["car"].Equal(t0.Add(2*time.Minute)) {
		t.Errorf("inside in the first 3 minutes: %v", inside)
	}
	if inside := ts.InsideBetween(area, t0, t0.Add(10*time.Minute), nil); len(inside) != 2 {
		t.Errorf("inside in 10 minutes: %v", inside)
	}
}

// Every sink and position watcher is told, in the order they were added,
// once the fix is durable; a late fix moves no one.
func TestSinksAndPositionWatchers(t *testing.T) {
	ts, _ := fenceStore(t, ":memory:", square)
	var got []string
	ts.AddSink(func(es []Event) { got = append(got, "second sink: "+es[0].Kind) })
	ts.WatchPositions(func(p Position) { got = append(got, "watch 1: "+p.Device) })
	ts.WatchPositions(func(p Position) { got = append(got, "watch 2: "+p.Device) })
	ts.put(t, fix("car", 52.02, 13.02, 10*time.Second)) // inside the depot
	ts.put(t, fix("car", 52.5, 13.5, 5*time.Second))    // late
	want := []string{"watch 1: car", "watch 2: car", "second sink: enter"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
