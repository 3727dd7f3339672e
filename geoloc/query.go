package geoloc

import (
	"cmp"
	"math"
	"slices"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// Rect is a longitude/latitude rectangle in degrees, MinLon <= MaxLon.
type Rect struct{ MinLat, MinLon, MaxLat, MaxLon float64 }

// Area is a region of the Earth's surface that queries ask about.
type Area interface {
	// Rects cover the area: one rectangle, or two where it crosses the
	// antimeridian.
	Rects() []Rect
	Contains(lat, lon float64) bool
}

// Box is a longitude/latitude box. MinLon > MaxLon means it crosses the
// antimeridian (from 170 to -170, say).
type Box struct{ MinLat, MinLon, MaxLat, MaxLon float64 }

// Rects implements Area.
func (b Box) Rects() []Rect {
	if b.MinLon <= b.MaxLon {
		return []Rect{{b.MinLat, b.MinLon, b.MaxLat, b.MaxLon}}
	}
	return []Rect{{b.MinLat, b.MinLon, b.MaxLat, 180}, {b.MinLat, -180, b.MaxLat, b.MaxLon}}
}

// Contains implements Area.
func (b Box) Contains(lat, lon float64) bool {
	if lat < b.MinLat || lat > b.MaxLat {
		return false
	}
	if b.MinLon <= b.MaxLon {
		return lon >= b.MinLon && lon <= b.MaxLon
	}
	return lon >= b.MinLon || lon <= b.MaxLon
}

// Circle is every point within Radius metres (great-circle) of a centre.
type Circle struct{ Lat, Lon, Radius float64 }

// Rects implements Area.
func (c Circle) Rects() []Rect {
	minLat, minLon, maxLat, maxLon := boxAround(c.Lat, c.Lon, c.Radius)
	switch {
	case minLon < -180:
		return []Rect{{minLat, minLon + 360, maxLat, 180}, {minLat, -180, maxLat, maxLon}}
	case maxLon > 180:
		return []Rect{{minLat, minLon, maxLat, 180}, {minLat, -180, maxLat, maxLon - 360}}
	}
	return []Rect{{minLat, minLon, maxLat, maxLon}}
}

// Contains implements Area.
func (c Circle) Contains(lat, lon float64) bool { return Distance(c.Lat, c.Lon, lat, lon) <= c.Radius }

// Shape is a GeoJSON polygon or multipolygon, holes included, taken as
// planar in longitude/latitude: right for the regions fleets work in, not
// for shapes across the antimeridian or a pole.
type Shape struct{ Geometry orb.Geometry }

// Rects implements Area.
func (s Shape) Rects() []Rect {
	b := s.Geometry.Bound()
	return []Rect{{b.Min.Lat(), b.Min.Lon(), b.Max.Lat(), b.Max.Lon()}}
}

// Contains implements Area.
func (s Shape) Contains(lat, lon float64) bool {
	pt := orb.Point{lon, lat}
	switch g := s.Geometry.(type) {
	case orb.Polygon:
		return planar.PolygonContains(g, pt)
	case orb.MultiPolygon:
		return planar.MultiPolygonContains(g, pt)
	case orb.Bound:
		return g.Contains(pt)
	}
	return false
}

// Hit is a device found near a point.
type Hit struct {
	Position
	Distance float64 // metres, great-circle
}

// Nearby returns up to k devices nearest to (lat, lon) within max metres
// (great-circle), nearest first. Only devices accepted by filter (nil
// accepts all) count.
func (s *Store) Nearby(lat, lon float64, k int, max float64, filter func(device string) bool) []Hit {
	if k <= 0 {
		return nil
	}
	if max <= 0 {
		max = math.Inf(1)
	}
	// The search orders by haversine, not metres: exact for the indexed
	// points (min == mx), a cheap lower bound for the index's boxes.
	q := newNearPoint(lat, lon)
	var hits []Hit
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.index.Nearby(
		func(min, mx [2]float64, _ string, item bool) float64 {
			if item {
				return q.to(min[1], min[0])
			}
			return q.toBox(min[1], min[0], mx[1], mx[0])
		},
		func(_, _ [2]float64, device string, h float64) bool {
			d := havMetres(h)
			if d > max {
				return false
			}
			if filter == nil || filter(device) {
				if hits == nil {
					hits = make([]Hit, 0, min(k, len(s.latest)))
				}
				hits = append(hits, Hit{Position: s.latest[device], Distance: d})
			}
			return len(hits) < k
		})
	// Already in order but for ties the arcsine might break by an ulp.
	slices.SortStableFunc(hits, func(a, b Hit) int { return cmp.Compare(a.Distance, b.Distance) })
	return hits
}

// Within returns the latest positions inside area, of the devices filter
// accepts (nil accepts all).
func (s *Store) Within(area Area, filter func(device string) bool) []Position {
	var out []Position
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range area.Rects() {
		s.index.Search([2]float64{r.MinLon, r.MinLat}, [2]float64{r.MaxLon, r.MaxLat},
			func(_, _ [2]float64, device string) bool {
				p := s.latest[device]
				if area.Contains(p.Lat, p.Lon) && (filter == nil || filter(device)) {
					out = append(out, p)
				}
				return true
			})
	}
	return out
}
