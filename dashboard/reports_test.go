package dashboard_test

import (
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/geoloc"
)

// metresPerMilliDegree is 0.001° along a meridian.
const metresPerMilliDegree = geoloc.EarthRadius * math.Pi / 180 / 1000

// drive stores a device's morning: 5 minutes standing at (lat, lon), 30
// steps of 0.001° north 10 s apart at 11.1 m/s, 5 minutes standing there.
// It returns the end of it.
func (e *env) drive(name string, start time.Time, lat, lon float64) time.Time {
	e.t.Helper()
	at := start
	speed := func(v float64) func(*geoloc.Position) { return func(p *geoloc.Position) { p.Geoloc.Speed = f64(v) } }
	for range 31 {
		e.fix(name, lat, lon, at, speed(0))
		at = at.Add(10 * time.Second)
	}
	for i := 1; i <= 30; i++ {
		v := 11.1
		if i == 30 {
			v = 0
		}
		e.fix(name, lat+float64(i)/1000, lon, at, speed(v))
		at = at.Add(10 * time.Second)
	}
	for range 30 {
		e.fix(name, lat+0.03, lon, at, speed(0))
		at = at.Add(10 * time.Second)
	}
	return at
}

type tripReportJSON struct {
	Devices []struct {
		Device string `json:"device"`
		Name   string `json:"name"`
		Totals struct {
			Distance float64 `json:"distance"`
			Driving  float64 `json:"driving"`
			Idle     float64 `json:"idle"`
			Trips    int     `json:"trips"`
			Stops    int     `json:"stops"`
		} `json:"totals"`
		Trips []struct {
			Start    time.Time `json:"start"`
			Distance float64   `json:"distance"`
			Duration float64   `json:"duration"`
			MaxSpeed float64   `json:"max_speed"`
		} `json:"trips"`
		Stops []struct {
			Lat      float64 `json:"lat"`
			Duration float64 `json:"duration"`
		} `json:"stops"`
	} `json:"devices"`
}

func (r tripReportJSON) names() []string {
	var out []string
	for _, d := range r.Devices {
		out = append(out, d.Name)
	}
	return out
}

// Reports over the API: the trips and stops of a drive, to the metre and
// second, in JSON, CSV, GPX and GeoJSON; and the group visibility of every
// other endpoint: an operator of north gets 404 for south's device, 403
// for south's group, and never sees car2 in a report of all or of a group.
func TestReportsOverTheAPIWithGroupVisibility(t *testing.T) {
	e := newEnv(t)
	start := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Second)
	end := e.drive("car1", start, 52.0, 13.0)
	e.drive("car2", start, 48.0, 11.0)
	e.drive("van", start.Add(time.Minute), 52.5, 13.0)
	alice, bob, root := e.login("alice"), e.login("bob"), e.login("root")
	rng := "from=" + url.QueryEscape(start.Format(time.RFC3339)) + "&to=" + url.QueryEscape(end.Format(time.RFC3339))

	var rep tripReportJSON
	alice.must(200, "GET", "/api/reports/trips?device=car1&"+rng, nil).json(t, &rep)
	if len(rep.Devices) != 1 || len(rep.Devices[0].Trips) != 1 {
		t.Fatalf("trips: %+v", rep)
	}
	d, trip := rep.Devices[0], rep.Devices[0].Trips[0]
	// Departs at the last standing fix (5 min in), arrives 300 s later.
	if !trip.Start.Equal(start.Add(5*time.Minute)) || trip.Duration != 300 || math.Abs(trip.Distance-30*metresPerMilliDegree) > 1 || trip.MaxSpeed != 11.1 {
		t.Errorf("trip: %+v, want 3336 m in 300 s from %v", trip, start.Add(5*time.Minute))
	}
	if d.Totals.Trips != 1 || d.Totals.Stops != 2 || d.Totals.Idle != 600 || d.Totals.Driving != 300 || math.Round(d.Totals.Distance) != 3336 {
		t.Errorf("totals: %+v", d.Totals)
	}
	alice.must(200, "GET", "/api/reports/stops?device=car1@localhost&"+rng, nil).json(t, &rep)
	if s := rep.Devices[0].Stops; len(s) != 2 || s[0].Duration != 300 || s[1].Duration != 300 || math.Abs(s[1].Lat-52.03) > 1e-9 {
		t.Errorf("stops: %+v", s)
	}

	// Visibility: as everywhere else.
	alice.status(t, 404, "GET", "/api/reports/trips?device=car2&"+rng, nil)
	bob.status(t, 404, "GET", "/api/reports/stops?device=car1&"+rng, nil)
	alice.status(t, 404, "GET", "/api/reports/trips?device=car1@elsewhere&"+rng, nil)
	alice.status(t, 403, "GET", "/api/reports/trips?group=south&"+rng, nil)
	alice.status(t, 404, "GET", "/api/reports/summary?device=car2&"+rng, nil)
	alice.status(t, 404, "GET", "/api/reports/zones?device=car2&"+rng, nil)
	for _, q := range []string{"", "group=north&"} {
		alice.must(200, "GET", "/api/reports/trips?"+q+rng, nil).json(t, &rep)
		if got := rep.names(); !slices.Equal(got, []string{"car1", "van"}) {
			t.Errorf("alice's report of %q covers %v", q, got)
		}
	}
	root.must(200, "GET", "/api/reports/trips?group=south&"+rng, nil).json(t, &rep)
	if got := rep.names(); !slices.Equal(got, []string{"car2", "van"}) {
		t.Errorf("root's report of south covers %v", got)
	}
	if msg := alice.status(t, 400, "GET", "/api/reports/trips?format=pdf&"+rng, nil).errorMessage(t); !strings.Contains(msg, "format") {
		t.Errorf("bad format: %s", msg)
	}

	// CSV: a download, a header and one row per trip.
	r := alice.must(200, "GET", "/api/reports/trips?format=csv&"+rng, nil)
	if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="geohub-trips-`) || !strings.HasSuffix(cd, `.csv"`) {
		t.Errorf("Content-Disposition: %q", cd)
	}
	rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0][0] != "device" || rows[0][4] != "distance_m" || rows[1][0] != "car1" || rows[1][4] != "3335.9" || rows[1][3] != "300" {
		t.Errorf("trips CSV:\n%s", r.body)
	}
	if strings.Contains(string(r.body), "car2") {
		t.Errorf("alice's CSV names car2:\n%s", r.body)
	}

	// GPX: the stops as waypoints, the trip as a track segment.
	var gpx struct {
		Wpts []struct {
			Lat float64 `xml:"lat,attr"`
		} `xml:"wpt"`
		Trks []struct {
			Name string `xml:"name"`
			Segs []struct {
				Pts []struct {
					Lat  float64   `xml:"lat,attr"`
					Time time.Time `xml:"time"`
				} `xml:"trkpt"`
			} `xml:"trkseg"`
		} `xml:"trk"`
	}
	r = alice.must(200, "GET", "/api/reports/trips?device=car1&format=gpx&"+rng, nil)
	if err := xml.Unmarshal(r.body, &gpx); err != nil {
		t.Fatal(err)
	}
	if len(gpx.Wpts) != 2 || len(gpx.Trks) != 1 || gpx.Trks[0].Name != "car1" || len(gpx.Trks[0].Segs) != 1 || len(gpx.Trks[0].Segs[0].Pts) != 31 ||
		!strings.Contains(string(r.body), `xmlns="http://www.topografix.com/GPX/1/1"`) {
		t.Errorf("GPX:\n%s", r.body)
	}

	// GeoJSON: the trip a LineString, the stops Points.
	var fc struct {
		Features []struct {
			Geometry struct {
				Type        string `json:"type"`
				Coordinates any    `json:"coordinates"`
			} `json:"geometry"`
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	}
	alice.must(200, "GET", "/api/reports/trips?device=car1&format=geojson&"+rng, nil).json(t, &fc)
	if len(fc.Features) != 1 || fc.Features[0].Geometry.Type != "LineString" || fc.Features[0].Properties["distance"] != 3335.9 {
		t.Errorf("trips GeoJSON: %+v", fc)
	}

	// The summary: the day's distance is the trip's.
	var days []map[string]any
	alice.must(200, "GET", "/api/reports/summary?device=car1&tz=Europe/Berlin&"+rng, nil).json(t, &days)
	if len(days) < 1 || days[0]["distance"] != 3335.9 || days[0]["driving"] != 300.0 {
		t.Errorf("summary: %v", days)
	}
	alice.status(t, 400, "GET", "/api/reports/summary?tz=Mars/Olympus&"+rng, nil)
}

// Time in zones and who was inside, over the API, per group.
func TestZonesAndWhoOverTheAPI(t *testing.T) {
	e := newEnv(t)
	fences, err := geoloc.ParseFences([]byte(`{"type":"FeatureCollection","features":[
	 {"type":"Feature","properties":{"name":"North yard","radius":100,"groups":["north"],"events":["enter","exit"]},"geometry":{"type":"Point","coordinates":[13.0,52.03]}},
	 {"type":"Feature","properties":{"name":"South yard","radius":100,"groups":["south"],"events":["enter","exit"]},"geometry":{"type":"Point","coordinates":[11.0,48.03]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if fences, err = e.geo.AddFences(fences, nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Second)
	end := e.drive("car1", start, 52.0, 13.0)
	e.drive("car2", start, 48.0, 11.0)
	alice, root := e.login("alice"), e.login("root")
	rng := "from=" + url.QueryEscape(start.Format(time.RFC3339)) + "&to=" + url.QueryEscape(end.Format(time.RFC3339))

	var zones []map[string]any
	alice.must(200, "GET", "/api/reports/zones?"+rng, nil).json(t, &zones)
	// car1 enters 100 m short of the yard's centre (at 52.0291, 20 s
	// before the end of the drive), and stays until the end of the range.
	if len(zones) != 1 || zones[0]["fence_name"] != "North yard" || zones[0]["entries"] != 1.0 || zones[0]["inside"] != 310.0 || zones[0]["timed"] != true {
		t.Errorf("alice's zones: %v", zones)
	}
	root.must(200, "GET", "/api/reports/zones?"+rng, nil).json(t, &zones)
	if len(zones) != 2 {
		t.Errorf("root's zones: %v", zones)
	}

	var who []map[string]any
	circle := fmt.Sprintf("lat=52.03&lon=13.0&radius=50&%s", rng)
	alice.must(200, "GET", "/api/reports/who?"+circle, nil).json(t, &who)
	if len(who) != 1 || who[0]["name"] != "car1" || who[0]["first_inside"] != start.Add(60*10*time.Second).Format(time.RFC3339) {
		t.Errorf("who in the circle: %v", who)
	}
	alice.must(200, "GET", "/api/reports/who?fence="+fences[0].ID+"&"+rng, nil).json(t, &who)
	if len(who) != 1 || who[0]["name"] != "car1" {
		t.Errorf("who in the north yard: %v", who)
	}
	alice.status(t, 404, "GET", "/api/reports/who?fence="+fences[1].ID+"&"+rng, nil)
	// Drawn around both yards: alice sees car1 only, root both.
	poly := `{"type":"Polygon","coordinates":[[[10,47],[14,47],[14,53],[10,53],[10,47]]]}`
	alice.must(200, "POST", "/api/reports/who?"+rng, poly).json(t, &who)
	if len(who) != 1 || who[0]["name"] != "car1" {
		t.Errorf("alice, who in the polygon: %v", who)
	}
	root.must(200, "POST", "/api/reports/who?"+rng, poly).json(t, &who)
	if len(who) != 2 {
		t.Errorf("root, who in the polygon: %v", who)
	}
	r := root.must(200, "POST", "/api/reports/who?format=csv&"+rng, poly)
	if !strings.HasPrefix(string(r.body), "device,jid,first_inside\n") || !strings.Contains(string(r.body), "car2,car2@localhost,") {
		t.Errorf("who CSV:\n%s", r.body)
	}
}
