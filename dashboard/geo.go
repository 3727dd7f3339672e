package dashboard

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/tracking"
	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

// The positions of a large fleet are megabytes at every request: the
// copies of the positions and the answer's buffer are reused, or the
// garbage collector's work sets the tail latency.
var (
	positionBufs sync.Pool // *[]geoloc.Position
	answerBufs   sync.Pool // *[]byte
)

// positions answers the latest position of every device the viewer sees,
// in no particular order.
func (s *Server) positions(c echo.Context) error {
	if s.cfg.Fleet != nil {
		return s.fleetPositions(c)
	}
	v := viewerOf(c)
	pp, _ := positionBufs.Get().(*[]geoloc.Position)
	if pp == nil {
		pp = new([]geoloc.Position)
	}
	all := s.cfg.Geo.AppendLatest((*pp)[:0])
	bp, _ := answerBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b := slices.Grow((*bp)[:0], 64+len(all)*300)
	b = append(b, fcStart...)
	n := 0
	for i := range all {
		p := &all[i]
		if !v.admin && !v.seesJID(p.Device) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = appendPositionFeature(b, p, s.info(p))
	}
	b = append(b, fcEnd...)
	err := c.Blob(http.StatusOK, "application/geo+json", b)
	clear(all) // drop the strings they point to
	*pp, *bp = all[:0], b[:0]
	positionBufs.Put(pp)
	answerBufs.Put(bp)
	return err
}

// inArea answers the devices inside area, the fleet's when there is one.
func (s *Server) inArea(c echo.Context, area geoloc.Area) error {
	v := viewerOf(c)
	hits := local(s.cfg.Geo.Within(area, v.seesJID))
	var statuses []tracking.ShardStatus
	if s.cfg.Fleet != nil {
		var theirs []tracking.Remote
		theirs, statuses = s.cfg.Fleet.Within(v.jid, area)
		hits = tracking.Merge(hits, theirs)
	}
	return s.fleetCollection(c, hits, false, statuses)
}

// Bounds on the geometry queries.
const (
	maxNearby    = 1000
	maxRadius    = 20_037_509 // metres: half the Earth's circumference
	maxShapeBody = 4 << 20
)

func (s *Server) nearby(c echo.Context) error {
	q := &query{c: c}
	lat := q.required("lat", -90, 90)
	lon := q.required("lon", -180, 180)
	k := q.int("k", 10, 1, maxNearby)
	radius := q.float("radius", 0, 0, maxRadius)
	if q.err != nil {
		return q.err
	}
	v := viewerOf(c)
	var hits []tracking.Remote
	for _, h := range s.cfg.Geo.Nearby(lat, lon, k, radius, v.seesJID) {
		hits = append(hits, tracking.Remote{Position: h.Position, Distance: h.Distance})
	}
	var statuses []tracking.ShardStatus
	if s.cfg.Fleet != nil {
		var theirs []tracking.Remote
		theirs, statuses = s.cfg.Fleet.Nearby(v.jid, lat, lon, k, radius)
		hits = tracking.SortNearest(tracking.Merge(hits, theirs), k)
	}
	return s.fleetCollection(c, hits, true, statuses)
}

func (s *Server) within(c echo.Context) error {
	q := &query{c: c}
	var area geoloc.Area
	switch {
	case q.has("bbox") && (q.has("lat") || q.has("lon") || q.has("radius")):
		return apiError(http.StatusBadRequest, "give bbox, or lat, lon and radius, not both")
	case q.has("bbox"):
		box, err := parseBBox(q.str("bbox"))
		if err != nil {
			return apiError(http.StatusBadRequest, "bbox: %v", err)
		}
		area = box
	case q.has("lat") || q.has("lon") || q.has("radius"):
		lat := q.required("lat", -90, 90)
		lon := q.required("lon", -180, 180)
		radius := q.required("radius", 0, maxRadius)
		if q.err == nil && radius <= 0 {
			q.fail("radius", "must be above 0 metres")
		}
		area = geoloc.Circle{Lat: lat, Lon: lon, Radius: radius}
	default:
		return apiError(http.StatusBadRequest, "give bbox=minLon,minLat,maxLon,maxLat, or lat, lon and radius (metres); POST a GeoJSON polygon for a shape")
	}
	if q.err != nil {
		return q.err
	}
	return s.inArea(c, area)
}

// parseBBox reads minLon,minLat,maxLon,maxLat; minLon > maxLon crosses
// the antimeridian.
func parseBBox(s string) (geoloc.Box, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return geoloc.Box{}, fmt.Errorf("%q: want minLon,minLat,maxLon,maxLat", s)
	}
	var v [4]float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return geoloc.Box{}, fmt.Errorf("%q is not a number", p)
		}
		v[i] = f
	}
	for _, lon := range []float64{v[0], v[2]} {
		if !(lon >= -180 && lon <= 180) {
			return geoloc.Box{}, fmt.Errorf("longitude %v is out of range [-180, 180]", lon)
		}
	}
	for _, lat := range []float64{v[1], v[3]} {
		if !(lat >= -90 && lat <= 90) {
			return geoloc.Box{}, fmt.Errorf("latitude %v is out of range [-90, 90]", lat)
		}
	}
	if v[1] > v[3] {
		return geoloc.Box{}, fmt.Errorf("minLat %v is above maxLat %v", v[1], v[3])
	}
	return geoloc.Box{MinLon: v[0], MinLat: v[1], MaxLon: v[2], MaxLat: v[3]}, nil
}

func (s *Server) withinShape(c echo.Context) error {
	b, err := readBody(c, maxShapeBody)
	if err != nil {
		return err
	}
	g, err := parseArea(b)
	if err != nil {
		return apiError(http.StatusBadRequest, "body: %v", err)
	}
	return s.inArea(c, geoloc.Shape{Geometry: g})
}

// parseArea reads a GeoJSON Polygon or MultiPolygon, bare or as a
// Feature's geometry, and checks its coordinates.
func parseArea(b []byte) (orb.Geometry, error) {
	var probe struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	var g orb.Geometry
	switch probe.Type {
	case "Feature":
		f, err := geojson.UnmarshalFeature(b)
		if err != nil {
			return nil, fmt.Errorf("not a GeoJSON Feature: %v", err)
		}
		g = f.Geometry
	case "Polygon", "MultiPolygon":
		gg, err := geojson.UnmarshalGeometry(b)
		if err != nil {
			return nil, fmt.Errorf("not a GeoJSON %s: %v", probe.Type, err)
		}
		g = gg.Geometry()
	default:
		return nil, fmt.Errorf("want a GeoJSON Polygon, MultiPolygon or a Feature holding one, not type %q", probe.Type)
	}
	var polys orb.MultiPolygon
	switch g := g.(type) {
	case orb.Polygon:
		polys = orb.MultiPolygon{g}
	case orb.MultiPolygon:
		polys = g
	case nil:
		return nil, fmt.Errorf("the Feature has no geometry")
	default:
		return nil, fmt.Errorf("a %s is not an area: want a Polygon or MultiPolygon", g.GeoJSONType())
	}
	if len(polys) == 0 {
		return nil, fmt.Errorf("no polygons")
	}
	for _, poly := range polys {
		if len(poly) == 0 {
			return nil, fmt.Errorf("a polygon without rings")
		}
		for _, ring := range poly {
			if len(ring) < 4 {
				return nil, fmt.Errorf("a ring has %d positions; a closed ring needs at least 4", len(ring))
			}
			for _, p := range ring {
				if !(p.Lon() >= -180 && p.Lon() <= 180 && p.Lat() >= -90 && p.Lat() <= 90) {
					return nil, fmt.Errorf("position [%v, %v] is not a longitude and latitude", p.Lon(), p.Lat())
				}
			}
		}
	}
	return g, nil
}
