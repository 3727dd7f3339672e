package tracking

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/tidwall/buntdb"
)

// peerFleet is one peer holding van; it may not answer, and geo-3 never
// does.
type peerFleet struct {
	van  Remote
	down bool
}

func (f *peerFleet) statuses() []ShardStatus {
	st := []ShardStatus{{Instance: "geo-1", Status: "ok"}, {Instance: "geo-2", Status: "ok"}, {Instance: "geo-3", Status: "missing", Reason: "timeout"}}
	if f.down {
		st[1] = ShardStatus{Instance: "geo-2", Status: "missing", Reason: "timeout"}
	}
	return st
}

func (f *peerFleet) list() []Remote {
	if f.down {
		return nil
	}
	return []Remote{f.van}
}

func (f *peerFleet) Nearby(_ string, lat, lon float64, k int, _ float64) ([]Remote, []ShardStatus) {
	hits := f.list()
	for i := range hits {
		hits[i].Distance = geoloc.Distance(lat, lon, hits[i].Lat, hits[i].Lon)
	}
	return hits, f.statuses()
}

func (f *peerFleet) Within(string, geoloc.Area) ([]Remote, []ShardStatus) {
	return f.list(), f.statuses()
}

func (f *peerFleet) Latest(_, device string) (Remote, bool, []ShardStatus) {
	return f.van, device == f.van.Device && !f.down, f.statuses()
}

func (f *peerFleet) InsideBetween(_, _ string, _ geoloc.Area, _, _ time.Time) (map[string]time.Time, []ShardStatus) {
	out := map[string]time.Time{}
	for _, r := range f.list() {
		out[r.Device] = r.Time
	}
	return out, f.statuses()
}

func (f *peerFleet) Trail(_, _ string, _, _ time.Time) ([]geoloc.TrailPoint, []ShardStatus) {
	return nil, f.statuses()
}

func (f *peerFleet) Series(_, _, _ string, _, _ time.Time, _ int) ([]geoloc.Reading, []ShardStatus) {
	return nil, f.statuses()
}

func (f *peerFleet) Relay(RelayedAlert)                  {}
func (f *peerFleet) Follow(func([]Remote)) (stop func()) { return func() {} }

// Chat commands answer for the peers' devices too, and name the
// instances that did not answer.
func TestChatCommandsAskThePeers(t *testing.T) {
	db, err := buntdb.Open(filepath.Join(t.TempDir(), "geohub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	accounts, err := devices.Open(db, devices.Options{Domain: "localhost", Iterations: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer accounts.Close()
	geo, err := geoloc.OpenStore(db, geoloc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []devices.NewAccount{{Name: "op", Role: devices.RoleOperator, Groups: []string{"fleet"}},
		{Name: "van", Role: devices.RoleDevice, Groups: []string{"fleet"}}, {Name: "bus", Role: devices.RoleDevice, Groups: []string{"city"}}} {
		a.Password = "pw"
		if _, err := accounts.Add(a); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	f := &peerFleet{van: Remote{Position: geoloc.Position{Device: "van@localhost", Lat: 52.5, Lon: 13.4, Time: now}, Instance: "geo-2"}}
	app := &App{accounts: accounts, geo: geo, fleet: f}
	op, _ := accounts.Get("op")
	for _, c := range []struct{ line, want string }{
		{"where van", "van at geo:52.5,13.4"},
		{"where", "van at geo:52.5,13.4"},
		{"near 52.5,13.41 2km", "van, 677 m away"},
		{"who 52.5,13.4,1km 00:00 23:59", "van, first at"},
	} {
		got := app.command(op, c.line)
		if !strings.Contains(got, c.want) || !strings.Contains(got, "geo-3 (timeout)") || strings.Contains(got, "geo-2") {
			t.Errorf("%s: %q, want %q and geo-3 named as missing", c.line, got, c.want)
		}
	}
	// Of a device op may not watch, nothing, not even who was asked.
	if got := app.command(op, "where bus"); got != "No position of bus." {
		t.Errorf("where bus: %q", got)
	}
	f.down = true
	if got := app.command(op, "where van"); !strings.Contains(got, "No position of van.") || !strings.Contains(got, "geo-2 (timeout), geo-3 (timeout)") {
		t.Errorf("where van with geo-2 down: %q", got)
	}
}

// Parts of a trail from several instances join oldest first, a time once.
func TestMergeTrails(t *testing.T) {
	at := func(s int, lat float64) geoloc.TrailPoint {
		return geoloc.TrailPoint{Time: time.Unix(int64(s), 0), Lat: lat}
	}
	got := MergeTrails([]geoloc.TrailPoint{at(3, 1), at(5, 1)}, nil, []geoloc.TrailPoint{at(1, 2), at(3, 2), at(4, 2)})
	want := []geoloc.TrailPoint{at(1, 2), at(3, 1), at(4, 2), at(5, 1)}
	if len(got) != len(want) {
		t.Fatalf("merged %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) || got[i].Lat != want[i].Lat {
			t.Errorf("point %d: %v, want %v", i, got[i], want[i])
		}
	}
}
