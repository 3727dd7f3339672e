package firmwaresim

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// project finds where f lies along line ([lon, lat] points): the distance
// from the line's start to the nearest point of the line, and how far f
// is from it. Within a segment it measures flat (segments are short);
// along the line it adds orb's great-circle lengths.
func project(line [][2]float64, f Fix) (along, off float64) {
	off = math.Inf(1)
	acc := 0.0
	for i := 0; i+1 < len(line); i++ {
		a, b := line[i], line[i+1]
		kx := metresPerDegree * math.Cos(degToRad(a[1]))
		bx, by := (b[0]-a[0])*kx, (b[1]-a[1])*metresPerDegree
		px, py := (f.Lon-a[0])*kx, (f.Lat-a[1])*metresPerDegree
		l2 := bx*bx + by*by
		seg := refDistance(Fix{Lat: a[1], Lon: a[0]}, Fix{Lat: b[1], Lon: b[0]})
		if l2 == 0 {
			continue
		}
		s := math.Max(0, math.Min(1, (px*bx+py*by)/l2))
		if d := math.Hypot(px-s*bx, py-s*by); d < off {
			along, off = acc+s*seg, d
		}
		acc += seg
	}
	return along, off
}

func lineLength(line [][2]float64) float64 {
	L := 0.0
	for i := 1; i < len(line); i++ {
		L += refDistance(Fix{Lat: line[i-1][1], Lon: line[i-1][0]}, Fix{Lat: line[i][1], Lon: line[i][0]})
	}
	return L
}

// pointAlong is the point s metres along line, interpolated flat within
// its segment.
func pointAlong(line [][2]float64, s float64) Fix {
	for i := 1; i < len(line); i++ {
		a, b := Fix{Lat: line[i-1][1], Lon: line[i-1][0]}, Fix{Lat: line[i][1], Lon: line[i][0]}
		seg := refDistance(a, b)
		if s <= seg || i == len(line)-1 {
			k := math.Min(1, s/seg)
			return Fix{Lat: a.Lat + k*(b.Lat-a.Lat), Lon: a.Lon + k*(b.Lon-a.Lon)}
		}
		s -= seg
	}
	return Fix{}
}

func closed(line [][2]float64) [][2]float64 {
	return append(append([][2]float64(nil), line...), line[0])
}

func TestRouteFollower(t *testing.T) {
	for _, c := range []struct {
		file  string
		speed float64
		loop  bool
	}{
		{"testdata/line100.gpx", 9, false},
		{"testdata/line100.gpx", 9, true},
		{"testdata/tour.geojson", 6, true},
		{"testdata/tour.geojson", 6, false},
	} {
		name := filepath.Base(c.file) + map[bool]string{true: " loop", false: " back and forth"}[c.loop]
		t.Run(name, func(t *testing.T) {
			route := loadRoute(t, c.file)
			line := route
			if c.loop {
				line = closed(route)
			}
			L := lineLength(line)
			period := L
			if !c.loop {
				period = 2 * L
			}
			f, err := NewRouteFollower(route, c.speed, c.loop)
			must(t, err)
			if math.Abs(f.Period()-period) > 0.01 {
				t.Fatalf("period %.3f m, want %.3f", f.Period(), period)
			}
			fixes := drive(f, 3*time.Hour, 9)
			checkConsistent(t, fixes)
			ends := 0
			for i, fx := range fixes {
				along, off := project(line, fx)
				if off > 2 { // the test's flat segments miss the great circle by < 1 m on the 5.7 km closing leg
					t.Fatalf("fix %d is %.2f m off the route", i, off)
				}
				// The follower is where constant speed puts it: the
				// distance driven folded into one lap or one trip.
				u := math.Mod(c.speed*fx.Time.Sub(t0).Seconds(), period)
				if !c.loop && u > L {
					u = 2*L - u
				}
				if d := refDistance(fx, pointAlong(line, u)); d > 2 {
					t.Fatalf("fix %d is %.2f m from where %.1f m along the route is", i, d, u)
				}
				if along < 50 || along > L-50 {
					ends++ // passing the start of a lap, or turning back
				}
			}
			if laps := c.speed * 3 * 3600 / period; laps < 2 || ends < 4 {
				t.Errorf("only %.1f laps, %d fixes near the ends", laps, ends)
			}
		})
	}
}

func TestRouteFollowerSkip(t *testing.T) {
	route := loadRoute(t, "testdata/line100.gpx")
	f, err := NewRouteFollower(route, 9, false)
	must(t, err)
	L := f.Period() / 2
	f.Skip(L + 100) // on the way back, 100 m from the far end
	fix := f.Next(t0, time.Second)
	if along, _ := project(route, fix); math.Abs(along-(L-109)) > 0.5 {
		t.Errorf("after skipping to the way back: %.1f m along, want %.1f", along, L-109)
	}
	if fix.Speed < 8.9 || fix.Speed > 9.01 {
		t.Errorf("speed %.3f after a skip, want 9 (the skip is not reported)", fix.Speed)
	}
}

func TestWaypointLoop(t *testing.T) {
	line := closed(waypoints)
	L := lineLength(line)
	for seed := range uint64(4) {
		w, err := NewWaypointLoop(testRand(seed), waypoints, 10)
		must(t, err)
		fixes := drive(w, 3*time.Hour, seed)
		checkConsistent(t, fixes)
		prev, _ := project(line, fixes[0])
		total := 0.0
		near := make([]int, len(waypoints))
		for i, f := range fixes[1:] {
			along, off := project(line, f)
			if off > 0.5 {
				t.Fatalf("seed %d fix %d: %.2f m off the loop", seed, i+1, off)
			}
			step := math.Mod(along-prev+L, L) // forward only, in order, wrapping to the first
			if dt := f.Time.Sub(fixes[i].Time).Seconds(); step > 1.15*10*dt+0.5 {
				t.Fatalf("seed %d fix %d: jumped %.1f m along in %.1f s", seed, i+1, step, dt)
			}
			total += step
			prev = along
			for k, p := range waypoints {
				if gcDistance(f.Lat, f.Lon, p[1], p[0]) < 0.5 {
					near[k]++
				}
			}
		}
		if loops := total / L; loops < 10 {
			t.Errorf("seed %d: %.1f loops in 3 h", seed, loops)
		}
		for k, n := range near {
			if n == 0 {
				t.Errorf("seed %d: no fix while stopped at waypoint %d", seed, k)
			}
		}
	}
}

func TestMoverErrors(t *testing.T) {
	rng := testRand(1)
	for _, c := range []struct {
		name string
		err  func() error
		want string
	}{
		{"walk box", func() error { _, err := NewRoadWalk(rng, Box{13.5, 52.5, 13.3, 52.6}, 10); return err }, "antimeridian"},
		{"walk speed", func() error { _, err := NewRoadWalk(rng, BerlinMitte, 0); return err }, "above 0"},
		{"one waypoint", func() error { _, err := NewWaypointLoop(rng, waypoints[:1], 10); return err }, "at least 2"},
		{"same waypoints", func() error {
			_, err := NewWaypointLoop(rng, [][2]float64{{13.4, 52.5}, {13.4, 52.5}}, 10)
			return err
		}, "at least 2"},
		{"waypoint off", func() error { _, err := NewWaypointLoop(rng, [][2]float64{{13.4, 52.5}, {13.4, 95}}, 10); return err }, "off the Earth"},
		{"route speed", func() error { _, err := NewRouteFollower(waypoints, math.NaN(), true); return err }, "above 0"},
		{"empty route", func() error { _, err := NewRouteFollower(nil, 5, true); return err }, "at least 2"},
	} {
		if err := c.err(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

func TestLoadRoute(t *testing.T) {
	gpx := loadRoute(t, "testdata/line100.gpx")
	if len(gpx) != 20 || gpx[0] != [2]float64{13.33261, 52.50672} || gpx[19] != [2]float64{13.41330, 52.52190} {
		t.Errorf("line100.gpx: %d points from %v to %v, want 20 (two segments, the junction once)", len(gpx), gpx[0], gpx[len(gpx)-1])
	}
	tour := loadRoute(t, "testdata/tour.geojson")
	if len(tour) != 9 || tour[0] != [2]float64{13.3958, 52.5074} {
		t.Errorf("tour.geojson: %d points from %v, want 9 from the depot", len(tour), tour[0])
	}
}

func TestParseRouteForms(t *testing.T) {
	want := [][2]float64{{13.4, 52.5}, {13.41, 52.51}, {13.42, 52.52}}
	for name, doc := range map[string]string{
		"bare.geojson":       `{"type":"LineString","coordinates":[[13.4,52.5],[13.41,52.51],[13.42,52.52]]}`,
		"feature.json":       `{"type":"Feature","properties":{},"geometry":{"type":"LineString","coordinates":[[13.4,52.5,30],[13.41,52.51,31],[13.42,52.52,32]]}}`,
		"multi.geojson":      `{"type":"MultiLineString","coordinates":[[[13.4,52.5],[13.41,52.51]],[[13.41,52.51],[13.42,52.52]]]}`,
		"collection.geojson": `{"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[1,2]},{"type":"LineString","coordinates":[[13.4,52.5],[13.41,52.51],[13.42,52.52]]}]}`,
		"features.GEOJSON":   `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":null,"properties":{}},{"type":"Feature","properties":{},"geometry":{"type":"LineString","coordinates":[[13.4,52.5],[13.41,52.51],[13.42,52.52]]}}]}`,
		"route.gpx":          `<gpx xmlns="http://www.topografix.com/GPX/1/0"><rte><rtept lat="52.5" lon="13.4"/><rtept lat="52.51" lon="13.41"><ele>40</ele></rtept><rtept lat="52.52" lon="13.42"/></rte></gpx>`,
		"emptytrack.gpx":     `<gpx><trk><trkseg></trkseg></trk><rte><rtept lat="52.5" lon="13.4"/><rtept lat="52.51" lon="13.41"/><rtept lat="52.52" lon="13.42"/></rte></gpx>`,
	} {
		got, err := parseRoute([]byte(doc), name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(got) != len(want) || got[0] != want[0] || got[2] != want[2] {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
}

func TestLoadRouteErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, doc, want string
	}{
		{"r.kml", `<kml/>`, `unknown route format ".kml"`},
		{"r.gpx", `<gpx><trk><trkseg><trkpt lat="52.5"`, "not GPX"},
		{"r.gpx", `<kml><Placemark/></kml>`, "not GPX"},
		{"r.gpx", `<gpx><wpt lat="52.5" lon="13.4"/></gpx>`, "no track or route with points"},
		{"r.gpx", `<gpx><trk><trkseg><trkpt lat="52.5" lon="13.4"/></trkseg></trk></gpx>`, "1 distinct points: a route needs at least 2"},
		{"r.gpx", `<gpx><trk><trkseg><trkpt lat="52.5" lon="13.4"/><trkpt lat="52.5" lon="13.4"/></trkseg></trk></gpx>`, "at least 2"},
		{"r.gpx", `<gpx><trk><trkseg><trkpt lat="52.5" lon="13.4"/><trkpt lat="95" lon="13.4"/></trkseg></trk></gpx>`, "point 1 (13.4, 95) is off the Earth"},
		{"r.gpx", `<gpx><trk><trkseg><trkpt lat="52.5" lon="13.4"/><trkpt lat="52.6"/></trkseg></trk></gpx>`, "point 1: missing lat or lon"},
		{"r.gpx", `<gpx><trk><trkseg><trkpt lat="52.5" lon="east"/></trkseg></trk></gpx>`, "not GPX"},
		{"r.geojson", `not json`, "not GeoJSON"},
		{"r.geojson", `{"coordinates":[]}`, "not GeoJSON: no type"},
		{"r.geojson", `{"type":"Point","coordinates":[13.4,52.5]}`, "no LineString or MultiLineString found"},
		{"r.geojson", `{"type":"FeatureCollection","features":[]}`, "no LineString"},
		{"r.geojson", `{"type":"LineString","coordinates":[[13.4,52.5]]}`, "at least 2"},
		{"r.json", `{"type":"LineString","coordinates":[[200,52.5],[13.4,52.6]]}`, "point 0 (200, 52.5) is off the Earth"},
		{"r.geojson", `{"type":"LineString","coordinates":"nope"}`, "cannot unmarshal"},
	} {
		path := filepath.Join(dir, c.name)
		must(t, os.WriteFile(path, []byte(c.doc), 0o600))
		_, err := LoadRoute(path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s %s: error %v, want %q with the path", c.name, c.doc, err, c.want)
		}
	}
	if _, err := LoadRoute(filepath.Join(dir, "missing.gpx")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParseRoute(f *testing.F) {
	for _, p := range []string{"testdata/line100.gpx", "testdata/tour.geojson"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, filepath.Ext(p))
	}
	f.Add([]byte(`{"type":"MultiLineString","coordinates":[[[1,2],[3,4]],[]]}`), ".geojson")
	f.Add([]byte(`<gpx><rte><rtept lat="1" lon="2"/><rtept lat="NaN" lon="2"/></rte></gpx>`), ".gpx")
	f.Fuzz(func(t *testing.T, data []byte, ext string) {
		pts, err := parseRoute(data, "route"+ext)
		if err != nil {
			return
		}
		// Whatever parses must drive.
		m, err := NewRouteFollower(pts, 10, true)
		if err != nil {
			t.Fatalf("parsed route %v does not drive: %v", pts, err)
		}
		m.Next(t0, time.Minute)
	})
}
