package firmwaresim

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

// LoadRoute reads a route as [lon, lat] points in degrees, by the file's
// extension: .geojson or .json (the first Feature, or bare geometry, with
// a LineString or MultiLineString, whose parts are joined in order) or
// .gpx (the first track with points, its segments joined; else the first
// route). Repeated neighbouring points are dropped. It fails on files
// without such a line, with fewer than two distinct points, or with
// coordinates off the Earth.
func LoadRoute(path string) ([][2]float64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pts, err := parseRoute(data, path)
	if err != nil {
		return nil, fmt.Errorf("route %s: %w", path, err)
	}
	return pts, nil
}

func parseRoute(data []byte, name string) ([][2]float64, error) {
	var pts [][2]float64
	var err error
	switch ext := strings.ToLower(filepath.Ext(name)); ext {
	case ".geojson", ".json":
		pts, err = parseGeoJSONRoute(data)
	case ".gpx":
		pts, err = parseGPXRoute(data)
	default:
		return nil, fmt.Errorf("unknown route format %q: want .geojson, .json or .gpx", ext)
	}
	if err != nil {
		return nil, err
	}
	line, err := newPolyline(pts, false)
	if err != nil {
		return nil, err
	}
	return line.pts, nil
}

func parseGeoJSONRoute(data []byte) ([][2]float64, error) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("not GeoJSON: %w", err)
	}
	var geoms []orb.Geometry
	switch head.Type {
	case "":
		return nil, errors.New("not GeoJSON: no type")
	case "FeatureCollection":
		fc, err := geojson.UnmarshalFeatureCollection(data)
		if err != nil {
			return nil, err
		}
		for _, f := range fc.Features {
			geoms = append(geoms, f.Geometry)
		}
	case "Feature":
		f, err := geojson.UnmarshalFeature(data)
		if err != nil {
			return nil, err
		}
		geoms = append(geoms, f.Geometry)
	default:
		g, err := geojson.UnmarshalGeometry(data)
		if err != nil {
			return nil, err
		}
		geoms = append(geoms, g.Geometry())
	}
	for _, g := range geoms {
		if pts, ok := linePoints(g); ok {
			return pts, nil
		}
	}
	return nil, errors.New("no LineString or MultiLineString found")
}

// linePoints gives the points of the first line in g.
func linePoints(g orb.Geometry) ([][2]float64, bool) {
	switch g := g.(type) {
	case orb.LineString:
		pts := make([][2]float64, len(g))
		for i, p := range g {
			pts[i] = p
		}
		return pts, true
	case orb.MultiLineString:
		var pts [][2]float64
		for _, part := range g {
			for _, p := range part {
				pts = append(pts, p)
			}
		}
		return pts, true
	case orb.Collection:
		for _, c := range g {
			if pts, ok := linePoints(c); ok {
				return pts, true
			}
		}
	}
	return nil, false
}

// gpxPoint is a trkpt or rtept; its ele and time are accepted and unused.
type gpxPoint struct {
	Lat *float64 `xml:"lat,attr"`
	Lon *float64 `xml:"lon,attr"`
}

type gpxFile struct {
	XMLName xml.Name `xml:"gpx"`
	Tracks  []struct {
		Segments []struct {
			Points []gpxPoint `xml:"trkpt"`
		} `xml:"trkseg"`
	} `xml:"trk"`
	Routes []struct {
		Points []gpxPoint `xml:"rtept"`
	} `xml:"rte"`
}

func parseGPXRoute(data []byte) ([][2]float64, error) {
	var f gpxFile
	if err := xml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not GPX: %w", err)
	}
	var lines [][]gpxPoint
	for _, t := range f.Tracks {
		var line []gpxPoint
		for _, s := range t.Segments {
			line = append(line, s.Points...)
		}
		lines = append(lines, line)
	}
	for _, r := range f.Routes {
		lines = append(lines, r.Points)
	}
	for _, line := range lines {
		if len(line) == 0 {
			continue
		}
		pts := make([][2]float64, len(line))
		for i, p := range line {
			if p.Lat == nil || p.Lon == nil {
				return nil, fmt.Errorf("point %d: missing lat or lon", i)
			}
			pts[i] = [2]float64{*p.Lon, *p.Lat}
		}
		return pts, nil
	}
	return nil, errors.New("no track or route with points")
}

// polyline is a line on the sphere with the distance along it at each
// vertex, so that a position can be found from a distance travelled.
type polyline struct {
	pts [][2]float64 // lon, lat
	cum []float64    // metres from the start to each vertex
	brg []float64    // initial bearing of each segment
}

// newPolyline checks points (on the Earth, at least two distinct) and builds
// the path without repeated points; closed adds the way back to the first.
func newPolyline(points [][2]float64, closed bool) (*polyline, error) {
	p := &polyline{}
	for i, q := range points {
		lon, lat := q[0], q[1]
		if !(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180) { // also NaN
			return nil, fmt.Errorf("point %d (%g, %g) is off the Earth", i, lon, lat)
		}
		p.add(q)
	}
	if len(p.pts) < 2 {
		return nil, fmt.Errorf("%d distinct points: a route needs at least 2", len(p.pts))
	}
	if closed {
		p.add(p.pts[0])
	}
	return p, nil
}

func (p *polyline) add(q [2]float64) {
	n := len(p.pts)
	if n == 0 {
		p.pts, p.cum = append(p.pts, q), append(p.cum, 0)
		return
	}
	last := p.pts[n-1]
	d := gcDistance(last[1], last[0], q[1], q[0])
	if d < 0.01 { // a GPS logger standing still repeats its point
		return
	}
	p.pts, p.cum = append(p.pts, q), append(p.cum, p.cum[n-1]+d)
	p.brg = append(p.brg, gcBearing(last[1], last[0], q[1], q[0]))
}

func (p *polyline) length() float64 { return p.cum[len(p.cum)-1] }

// segment is the index of the segment s metres along lies on.
func (p *polyline) segment(s float64) int {
	i := sort.SearchFloat64s(p.cum, s) // first vertex at or beyond s
	return max(0, min(i-1, len(p.brg)-1))
}

// on is the point s metres along, on segment i.
func (p *polyline) on(i int, s float64) (lat, lon float64) {
	d := math.Max(0, math.Min(s-p.cum[i], p.cum[i+1]-p.cum[i]))
	return gcDestination(p.pts[i][1], p.pts[i][0], p.brg[i], d)
}

// RouteFollower drives along a route at constant speed: round and round
// (loop, closing the route with a straight way back to its start if it is
// open) or back and forth between its ends.
type RouteFollower struct {
	p     *polyline
	loop  bool
	speed float64
	u     float64 // metres into one lap (loop) or one there-and-back
	tr    trueTrack
}

// NewRouteFollower starts at the first point of route ([lon, lat]
// degrees), driving at speed m/s.
func NewRouteFollower(route [][2]float64, speed float64, loop bool) (*RouteFollower, error) {
	if err := checkSpeed(speed); err != nil {
		return nil, err
	}
	p, err := newPolyline(route, loop)
	if err != nil {
		return nil, err
	}
	f := &RouteFollower{p: p, loop: loop, speed: speed}
	f.Skip(0)
	return f, nil
}

// Period is the length in metres of one lap, or of one trip there and back.
func (f *RouteFollower) Period() float64 {
	if f.loop {
		return f.p.length()
	}
	return 2 * f.p.length()
}

// Skip moves the follower metres further along its way without reporting
// the move: the next fix's speed is measured from there. A fleet on one
// route starts spread out by skipping random distances.
func (f *RouteFollower) Skip(metres float64) {
	if f.u = math.Mod(f.u+metres, f.Period()); f.u < 0 { // skipped backwards
		f.u += f.Period()
	}
	lat, lon := f.position()
	i := f.p.segment(f.along())
	f.tr = trueTrack{lat: lat, lon: lon, bearing: f.p.brg[i]}
}

// along is the distance from the route's start, folding the way back.
func (f *RouteFollower) along() float64 {
	if L := f.p.length(); !f.loop && f.u > L {
		return 2*L - f.u
	}
	return f.u
}

func (f *RouteFollower) position() (lat, lon float64) {
	s := f.along()
	return f.p.on(f.p.segment(s), s)
}

// Next drives on for dt.
func (f *RouteFollower) Next(t time.Time, dt time.Duration) Fix {
	if dt > 0 {
		f.u = math.Mod(f.u+f.speed*dt.Seconds(), f.Period())
	}
	lat, lon := f.position()
	return f.tr.fix(t, dt, lat, lon)
}

// WaypointLoop drives from waypoint to waypoint along great circles and
// from the last back to the first, at 85–115 % of its mean speed (drawn
// per leg), stopping up to 10 s at each waypoint as a van or bus does.
type WaypointLoop struct {
	rng  *rand.Rand
	p    *polyline
	mean float64
	leg  int     // the segment being driven: from waypoint leg to leg+1
	s    float64 // metres along the loop
	v    float64 // m/s on this leg
	wait float64 // seconds left at a waypoint
	tr   trueTrack
}

// NewWaypointLoop starts at a random place on the loop through points
// ([lon, lat] degrees, repeated neighbours dropped), so that a fleet on
// one loop starts spread out. It takes what it needs from rng at once.
func NewWaypointLoop(rng *rand.Rand, points [][2]float64, speed float64) (*WaypointLoop, error) {
	if err := checkSpeed(speed); err != nil {
		return nil, err
	}
	p, err := newPolyline(points, true)
	if err != nil {
		return nil, err
	}
	w := &WaypointLoop{rng: splitRand(rng), p: p, mean: speed}
	w.s = w.rng.Float64() * p.length()
	w.leg = p.segment(w.s)
	w.v = w.legSpeed()
	lat, lon := p.on(w.leg, w.s)
	w.tr = trueTrack{lat: lat, lon: lon, bearing: p.brg[w.leg]}
	return w, nil
}

func (w *WaypointLoop) legSpeed() float64 { return w.mean * (0.85 + 0.3*w.rng.Float64()) }

// Next drives on for dt, through as many waypoints as it reaches.
func (w *WaypointLoop) Next(t time.Time, dt time.Duration) Fix {
	for rest := dt.Seconds(); rest > 0; {
		if w.wait > 0 {
			use := math.Min(rest, w.wait)
			w.wait, rest = w.wait-use, rest-use
			continue
		}
		need := (w.p.cum[w.leg+1] - w.s) / w.v
		if need > rest {
			w.s += w.v * rest
			break
		}
		rest -= need
		w.leg = (w.leg + 1) % len(w.p.brg)
		w.s = w.p.cum[w.leg]
		w.v = w.legSpeed()
		w.wait = 10 * w.rng.Float64()
	}
	lat, lon := w.p.on(w.leg, w.s)
	return w.tr.fix(t, dt, lat, lon)
}
