package dashboard_test

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geohub/geohub/dashboard"
	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/tracking"
)

// fakeFleet is one peer, geo-2, holding devices (as their bare JIDs),
// answering each viewer with those of its groups, as a real peer does
// with its copy of the accounts; down makes it missing.
type fakeFleet struct {
	devices map[string]tracking.Remote
	trails  map[string][]geoloc.TrailPoint
	series  map[string][]geoloc.Reading // by device, all of one sensor, "temp"
	sees    func(viewer, device string) bool
	down    atomic.Bool

	mu     sync.Mutex
	follow func([]tracking.Remote)
}

func (f *fakeFleet) statuses() []tracking.ShardStatus {
	st := tracking.ShardStatus{Instance: "geo-2.localhost", Status: "ok"}
	if f.down.Load() {
		st.Status, st.Reason = "missing", "context deadline exceeded"
	}
	return []tracking.ShardStatus{{Instance: "geo-1.localhost", Status: "ok"}, st}
}

func (f *fakeFleet) visible(viewer string, keep func(tracking.Remote) bool) []tracking.Remote {
	var out []tracking.Remote
	for _, r := range f.devices {
		if !f.down.Load() && f.sees(viewer, r.Device) && keep(r) {
			r.Instance = "geo-2.localhost"
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeFleet) Nearby(viewer string, lat, lon float64, k int, radius float64) ([]tracking.Remote, []tracking.ShardStatus) {
	out := f.visible(viewer, func(tracking.Remote) bool { return true })
	for i := range out {
		out[i].Distance = geoloc.Distance(lat, lon, out[i].Lat, out[i].Lon)
	}
	return tracking.SortNearest(out, k), f.statuses()
}

func (f *fakeFleet) Within(viewer string, area geoloc.Area) ([]tracking.Remote, []tracking.ShardStatus) {
	return f.visible(viewer, func(r tracking.Remote) bool { return area.Contains(r.Lat, r.Lon) }), f.statuses()
}

func (f *fakeFleet) Latest(viewer, device string) (tracking.Remote, bool, []tracking.ShardStatus) {
	r, ok := f.devices[device]
	return r, ok && !f.down.Load(), f.statuses()
}

func (f *fakeFleet) InsideBetween(viewer, fence string, area geoloc.Area, from, to time.Time) (map[string]time.Time, []tracking.ShardStatus) {
	out := map[string]time.Time{}
	for _, r := range f.visible(viewer, func(r tracking.Remote) bool { return area.Contains(r.Lat, r.Lon) }) {
		out[r.Device] = r.Time
	}
	return out, f.statuses()
}

func (f *fakeFleet) Trail(viewer, device string, from, to time.Time) ([]geoloc.TrailPoint, []tracking.ShardStatus) {
	var out []geoloc.TrailPoint
	for _, pt := range f.trails[device] {
		if !f.down.Load() && f.sees(viewer, device) && !pt.Time.Before(from) && !pt.Time.After(to) {
			out = append(out, pt)
		}
	}
	return out, f.statuses()
}

func (f *fakeFleet) Series(viewer, device, sensor string, from, to time.Time, limit int) ([]geoloc.Reading, []tracking.ShardStatus) {
	var out []geoloc.Reading
	for _, r := range f.series[device] {
		if !f.down.Load() && f.sees(viewer, device) && sensor == r.Sensor && !r.Time.Before(from) && !r.Time.After(to) && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, f.statuses()
}

func (f *fakeFleet) Relay(tracking.RelayedAlert) {}

func (f *fakeFleet) Follow(fn func([]tracking.Remote)) (stop func()) {
	f.mu.Lock()
	f.follow = fn
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.follow = nil
		f.mu.Unlock()
	}
}

// moved tells the follower, if any, of a peer's device's new position.
func (f *fakeFleet) moved(r tracking.Remote) bool {
	f.mu.Lock()
	fn := f.follow
	f.mu.Unlock()
	if fn != nil {
		r.Instance = "geo-2.localhost"
		fn([]tracking.Remote{r})
	}
	return fn != nil
}

func newFleetEnv(t *testing.T, configure ...func(*dashboard.Config)) (*env, *fakeFleet) {
	battery := 71.0
	now := time.Now().UTC().Truncate(time.Second)
	f := &fakeFleet{devices: map[string]tracking.Remote{
		// van belongs to geo-2; car1 is this instance's but geo-2 holds
		// a newer fix (ejabberd re-dealt it).
		jid("van"):  {Position: geoloc.Position{Device: jid("van"), Lat: 52.51, Lon: 13.41, Time: now}, Online: true, Battery: &battery},
		jid("car1"): {Position: geoloc.Position{Device: jid("car1"), Lat: 52.52, Lon: 13.42, Time: now}},
	}}
	var vanTrail []geoloc.TrailPoint // geo-2's, the last three minutes
	for i := range 3 {
		vanTrail = append(vanTrail, geoloc.TrailPoint{Time: now.Add(time.Duration(i-3) * time.Minute), Lat: 52.5 + float64(i)/100, Lon: 13.4})
	}
	f.trails = map[string][]geoloc.TrailPoint{jid("van"): vanTrail}
	var vanSeries []geoloc.Reading
	for i, pt := range vanTrail {
		vanSeries = append(vanSeries, geoloc.Reading{Sensor: "temp", Value: 12 + float64(i), Unit: "°C", Time: pt.Time})
	}
	f.series = map[string][]geoloc.Reading{jid("van"): vanSeries}
	e := newEnv(t, append(configure, func(c *dashboard.Config) { c.Fleet = f })...)
	f.sees = func(viewer, device string) bool {
		v, _ := e.accounts.Get(strings.TrimSuffix(viewer, "@localhost"))
		d, _ := e.accounts.Get(strings.TrimSuffix(device, "@localhost"))
		return v.Role == devices.RoleAdmin || slices.ContainsFunc(v.Groups, d.InGroup)
	}
	e.fix("car1", 52.0, 13.0, now.Add(-time.Hour))
	e.fix("car2", 52.5, 13.4, now)
	return e, f
}

type fleetAnswer struct {
	Features []struct {
		ID         string
		Geometry   struct{ Coordinates []float64 }
		Properties struct {
			Online   bool
			Battery  *float64
			Distance *float64
		}
	}
	Shards map[string]struct{ Status, Reason string }
}

func (a fleetAnswer) ids() []string {
	var out []string
	for _, f := range a.Features {
		out = append(out, f.ID)
	}
	slices.Sort(out)
	return out
}

// With peers, the map's positions, nearby and within are the fleet's: a
// peer's devices the viewer sees, the newest fix of a device both know,
// and how each instance took part, also when one does not answer.
func TestFleetAnswersMergeThePeersAndSayWhoAnswered(t *testing.T) {
	e, f := newFleetEnv(t)
	alice := e.token("alice") // north: car1, van

	var a fleetAnswer
	r := alice.do("GET", "/api/positions", nil)
	r.json(t, &a)
	if got := a.ids(); !slices.Equal(got, []string{jid("car1"), jid("van")}) {
		t.Errorf("positions %v, want car1 and van", got)
	}
	for _, ft := range a.Features {
		if ft.ID == jid("car1") && ft.Geometry.Coordinates[1] != 52.52 {
			t.Errorf("car1 at %v, want the newer fix from geo-2", ft.Geometry.Coordinates)
		}
		if ft.ID == jid("van") && (!ft.Properties.Online || ft.Properties.Battery == nil || *ft.Properties.Battery != 71) {
			t.Errorf("van %+v, want online with its battery, as geo-2 said", ft.Properties)
		}
	}
	if a.Shards["geo-2.localhost"].Status != "ok" || r.header.Get("GeoHub-Shards") != "geo-1.localhost=ok, geo-2.localhost=ok" {
		t.Errorf("shards %v, header %q", a.Shards, r.header.Get("GeoHub-Shards"))
	}

	a = fleetAnswer{}
	alice.do("GET", "/api/nearby?lat=52.51&lon=13.41&k=1", nil).json(t, &a)
	if got := a.ids(); !slices.Equal(got, []string{jid("van")}) || a.Features[0].Properties.Distance == nil {
		t.Errorf("nearest %v, want van with its distance", got)
	}
	a = fleetAnswer{}
	alice.do("GET", "/api/within?bbox=13.3,52.4,13.5,52.6", nil).json(t, &a)
	if got := a.ids(); !slices.Equal(got, []string{jid("car1"), jid("van")}) {
		t.Errorf("within %v", got)
	}
	var who []struct{ Device string }
	r = alice.do("GET", "/api/reports/who?bbox=13.3,52.4,13.5,52.6", nil)
	r.json(t, &who)
	if len(who) != 2 || r.header.Get("GeoHub-Shards") == "" {
		t.Errorf("who %v (%q), want car1 and van from geo-2", who, r.header.Get("GeoHub-Shards"))
	}

	f.down.Store(true)
	a = fleetAnswer{}
	r = alice.do("GET", "/api/positions", nil)
	r.json(t, &a)
	if got := a.ids(); !slices.Equal(got, []string{jid("car1")}) || a.Shards["geo-2.localhost"].Status != "missing" ||
		a.Shards["geo-2.localhost"].Reason == "" || !strings.Contains(r.header.Get("GeoHub-Shards"), "geo-2.localhost=missing") {
		t.Errorf("with geo-2 down: %v shards %v header %q", got, a.Shards, r.header.Get("GeoHub-Shards"))
	}
}

// The live stream follows the peers while it is open, and shows their
// devices to the viewers who see them only.
func TestStreamFollowsThePeers(t *testing.T) {
	e, f := newFleetEnv(t)
	if f.moved(tracking.Remote{}) {
		t.Fatal("followed before any stream")
	}
	alice, bob := e.token("alice").stream(t), e.token("bob").stream(t)
	van := tracking.Remote{Position: geoloc.Position{Device: jid("van"), Lat: 52.6, Lon: 13.5, Time: time.Now()}}
	if !f.moved(van) {
		t.Fatal("the stream does not follow the peers")
	}
	if ev := alice.next(t, "positions", 5*time.Second); !strings.Contains(ev.data, jid("van")) || !strings.Contains(ev.data, "52.6") {
		t.Errorf("alice got %s", ev.data)
	}
	// car2 is south's: bob sees it, alice does not.
	f.moved(tracking.Remote{Position: geoloc.Position{Device: jid("car2"), Lat: 52.7, Lon: 13.5, Time: time.Now()}})
	for ev := bob.next(t, "positions", 5*time.Second); !strings.Contains(ev.data, jid("car2")); ev = bob.next(t, "positions", 5*time.Second) {
	}
	alice.none(t, "positions", 200*time.Millisecond)
	alice.close()
	bob.close()
	for deadline := time.Now().Add(5 * time.Second); f.moved(van); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the closed streams still follow the peers")
		}
	}
}

// The trail of a peer's device comes from the peer, saying who answered;
// the trail of this instance's own device is its own.
func TestTrailOfAPeersDevice(t *testing.T) {
	e, f := newFleetEnv(t)
	alice := e.token("alice")
	var tr struct {
		Geometry   struct{ Coordinates [][]float64 }
		Properties struct{ Times []time.Time }
		Shards     map[string]struct{ Status, Reason string }
	}
	r := alice.do("GET", "/api/devices/van/trail", nil)
	r.json(t, &tr)
	if len(tr.Geometry.Coordinates) != 3 || tr.Geometry.Coordinates[2][1] != 52.52 || !tr.Properties.Times[0].Before(tr.Properties.Times[1]) {
		t.Errorf("van's trail %v at %v, want geo-2's three points", tr.Geometry.Coordinates, tr.Properties.Times)
	}
	if r.header.Get("GeoHub-Shards") != "geo-1.localhost=ok, geo-2.localhost=ok" || tr.Shards["geo-2.localhost"].Status != "ok" {
		t.Errorf("shards %v, header %q", tr.Shards, r.header.Get("GeoHub-Shards"))
	}

	tr.Shards = nil
	r = alice.do("GET", "/api/devices/car1/trail", nil)
	r.json(t, &tr)
	if len(tr.Geometry.Coordinates) != 1 || r.header.Get("GeoHub-Shards") != "" || tr.Shards != nil {
		t.Errorf("car1's own trail %v, header %q, shards %v", tr.Geometry.Coordinates, r.header.Get("GeoHub-Shards"), tr.Shards)
	}

	f.down.Store(true)
	r = alice.do("GET", "/api/devices/van/trail", nil)
	r.json(t, &tr)
	if len(tr.Geometry.Coordinates) != 0 || tr.Shards["geo-2.localhost"].Status != "missing" || !strings.Contains(r.header.Get("GeoHub-Shards"), "geo-2.localhost=missing") {
		t.Errorf("with geo-2 down: %v, shards %v, header %q", tr.Geometry.Coordinates, tr.Shards, r.header.Get("GeoHub-Shards"))
	}
}

// A peer's device's sensor series comes from the peer, with the
// instances' statuses; this instance's own answers alone.
func TestSeriesOfAPeersDevice(t *testing.T) {
	e, f := newFleetEnv(t)
	alice := e.token("alice")
	e.reading("car1", geoloc.Reading{Sensor: "temp", Value: 21, Unit: "°C", Time: time.Now().Add(-time.Minute)})
	var se struct {
		Unit   string
		Points []struct {
			Time  time.Time
			Value float64
		}
		Shards map[string]struct{ Status, Reason string }
	}
	r := alice.do("GET", "/api/devices/van/telemetry?sensor=temp", nil)
	r.json(t, &se)
	if len(se.Points) != 3 || se.Unit != "°C" || se.Points[2].Value != 14 || !se.Points[0].Time.Before(se.Points[1].Time) {
		t.Errorf("van's series %+v, want geo-2's three readings", se)
	}
	if r.header.Get("GeoHub-Shards") != "geo-1.localhost=ok, geo-2.localhost=ok" || se.Shards["geo-2.localhost"].Status != "ok" {
		t.Errorf("shards %v, header %q", se.Shards, r.header.Get("GeoHub-Shards"))
	}

	se.Shards = nil
	r = alice.do("GET", "/api/devices/car1/telemetry?sensor=temp", nil)
	r.json(t, &se)
	if len(se.Points) != 1 || se.Points[0].Value != 21 || r.header.Get("GeoHub-Shards") != "" || se.Shards != nil {
		t.Errorf("car1's own series %+v, header %q", se, r.header.Get("GeoHub-Shards"))
	}

	f.down.Store(true)
	r = alice.do("GET", "/api/devices/van/telemetry?sensor=temp", nil)
	r.json(t, &se)
	if len(se.Points) != 0 || se.Shards["geo-2.localhost"].Status != "missing" || se.Shards["geo-2.localhost"].Reason == "" ||
		!strings.Contains(r.header.Get("GeoHub-Shards"), "geo-2.localhost=missing") {
		t.Errorf("with geo-2 down: %+v, header %q", se, r.header.Get("GeoHub-Shards"))
	}
}
