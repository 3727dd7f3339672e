package geoloc

import (
	"errors"
	"fmt"
	"math"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// A fence's shape, in longitude/latitude degrees. Distances are in metres,
// measured on a local flat projection around each point: right for the
// shapes fleets draw (cities, depots, roads), not for shapes across the
// antimeridian or a pole.
type fenceShape struct {
	kind   string           // circle, polygon, corridor, proximity
	center orb.Point        // circle
	radius float64          // circle and proximity, metres
	poly   orb.MultiPolygon // polygon and multipolygon
	line   orb.LineString   // corridor centre line
	width  float64          // corridor, metres
}

// metresPerDegree gives the scale of a local flat projection at a latitude.
func metresPerDegree(lat float64) (x, y float64) {
	y = EarthRadius * math.Pi / 180
	return y * math.Cos(rad(lat)), y
}

// project maps p to metres relative to origin.
func project(origin, p orb.Point) orb.Point {
	kx, ky := metresPerDegree(origin.Lat())
	dlon := p.Lon() - origin.Lon()
	if dlon > 180 {
		dlon -= 360
	} else if dlon < -180 {
		dlon += 360
	}
	return orb.Point{dlon * kx, (p.Lat() - origin.Lat()) * ky}
}

// signedDistance is how far p is inside the shape (negative) or outside it
// (positive), in metres: the hysteresis test of a fence.
func (s *fenceShape) signedDistance(p orb.Point) float64 {
	switch s.kind {
	case "circle":
		return Distance(p.Lat(), p.Lon(), s.center.Lat(), s.center.Lon()) - s.radius
	case "corridor":
		return distanceToLine(p, s.line) - s.width/2
	}
	d := distanceToRings(p, s.poly)
	if planar.MultiPolygonContains(s.poly, p) {
		return -d
	}
	return d
}

// distanceToLine is the distance in metres from p to a line string.
func distanceToLine(p orb.Point, line orb.LineString) float64 {
	best := math.Inf(1)
	for i := 0; i+1 < len(line); i++ {
		a, b := project(p, line[i]), project(p, line[i+1])
		best = math.Min(best, segmentDistance(orb.Point{0, 0}, a, b))
	}
	if len(line) == 1 {
		best = Distance(p.Lat(), p.Lon(), line[0].Lat(), line[0].Lon())
	}
	return best
}

// distanceToRings is the distance in metres from p to the nearest edge of a
// multipolygon, holes included.
func distanceToRings(p orb.Point, mp orb.MultiPolygon) float64 {
	best := math.Inf(1)
	for _, poly := range mp {
		for _, ring := range poly {
			best = math.Min(best, distanceToLine(p, orb.LineString(ring)))
		}
	}
	return best
}

// segmentDistance is the planar distance from p to the segment ab.
func segmentDistance(p, a, b orb.Point) float64 {
	dx, dy := b[0]-a[0], b[1]-a[1]
	t := 0.0
	if l := dx*dx + dy*dy; l > 0 {
		t = math.Max(0, math.Min(1, ((p[0]-a[0])*dx+(p[1]-a[1])*dy)/l))
	}
	return math.Hypot(p[0]-a[0]-t*dx, p[1]-a[1]-t*dy)
}

// crosses reports whether the segment from a to b passes through the
// shape (both ends may be outside it).
func (s *fenceShape) crosses(a, b orb.Point) bool {
	switch s.kind {
	case "circle":
		pa, pb := project(s.center, a), project(s.center, b)
		return segmentDistance(orb.Point{0, 0}, pa, pb) <= s.radius
	case "corridor":
		for i := 0; i+1 < len(s.line); i++ {
			if segmentsDistance(project(a, a), project(a, b), project(a, s.line[i]), project(a, s.line[i+1])) <= s.width/2 {
				return true
			}
		}
		return false
	}
	for _, poly := range s.poly {
		for _, ring := range poly {
			for i := 0; i+1 < len(ring); i++ {
				if segmentsIntersect(a, b, ring[i], ring[i+1]) {
					return true
				}
			}
		}
	}
	return false
}

// segmentsDistance is the planar distance between segments ab and cd.
func segmentsDistance(a, b, c, d orb.Point) float64 {
	if segmentsIntersect(a, b, c, d) {
		return 0
	}
	return math.Min(math.Min(segmentDistance(a, c, d), segmentDistance(b, c, d)),
		math.Min(segmentDistance(c, a, b), segmentDistance(d, a, b)))
}

func orient(a, b, c orb.Point) float64 {
	return (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
}

func segmentsIntersect(a, b, c, d orb.Point) bool {
	d1, d2 := orient(c, d, a), orient(c, d, b)
	d3, d4 := orient(a, b, c), orient(a, b, d)
	if (d1 > 0) != (d2 > 0) && (d3 > 0) != (d4 > 0) && d1 != 0 && d2 != 0 && d3 != 0 && d4 != 0 {
		return true
	}
	on := func(p, q, r orb.Point, o float64) bool {
		return o == 0 && math.Min(p[0], q[0]) <= r[0] && r[0] <= math.Max(p[0], q[0]) &&
			math.Min(p[1], q[1]) <= r[1] && r[1] <= math.Max(p[1], q[1])
	}
	return on(c, d, a, d1) || on(c, d, b, d2) || on(a, b, c, d3) || on(a, b, d, d4)
}

// bound is the shape's box grown by margin metres.
func (s *fenceShape) bound(margin float64) orb.Bound {
	var b orb.Bound
	switch s.kind {
	case "circle":
		minLat, minLon, maxLat, maxLon := boxAround(s.center.Lat(), s.center.Lon(), s.radius+margin)
		return orb.Bound{Min: orb.Point{minLon, minLat}, Max: orb.Point{maxLon, maxLat}}
	case "corridor":
		b = s.line.Bound()
		margin += s.width / 2
	default:
		b = s.poly.Bound()
	}
	kx, ky := metresPerDegree(math.Max(math.Abs(b.Min.Lat()), math.Abs(b.Max.Lat())))
	dx, dy := margin/math.Max(kx, 1), margin/ky
	return orb.Bound{Min: orb.Point{b.Min.Lon() - dx, b.Min.Lat() - dy}, Max: orb.Point{b.Max.Lon() + dx, b.Max.Lat() + dy}}
}

// validate refuses shapes a fence cannot be: empty, degenerate, open or
// self-intersecting rings, non-positive radius or width.
func (s *fenceShape) validate() error {
	switch s.kind {
	case "circle":
		if !(s.radius > 0) || math.IsInf(s.radius, 0) {
			return errors.New("a circle needs a radius above 0 metres")
		}
		return checkPoint(s.center)
	case "proximity":
		if !(s.radius > 0) || s.radius > maxProximity {
			return fmt.Errorf("a proximity fence needs a radius above 0 and at most %v metres", maxProximity)
		}
		return nil
	case "corridor":
		if !(s.width > 0) || math.IsInf(s.width, 0) {
			return errors.New("a corridor needs a width above 0 metres")
		}
		if len(s.line) < 2 {
			return errors.New("a corridor needs a line of at least two points")
		}
		for _, p := range s.line {
			if err := checkPoint(p); err != nil {
				return err
			}
		}
		return nil
	}
	if len(s.poly) == 0 {
		return errors.New("empty polygon")
	}
	for _, poly := range s.poly {
		if len(poly) == 0 {
			return errors.New("a polygon without rings")
		}
		for i, ring := range poly {
			if err := checkRing(ring); err != nil {
				if i == 0 {
					return fmt.Errorf("outer ring: %w", err)
				}
				return fmt.Errorf("hole %d: %w", i, err)
			}
		}
	}
	return nil
}

func checkPoint(p orb.Point) error {
	if !(p.Lat() >= -90 && p.Lat() <= 90 && p.Lon() >= -180 && p.Lon() <= 180) {
		return fmt.Errorf("(%v, %v) is not a longitude/latitude point", p.Lon(), p.Lat())
	}
	return nil
}

// checkRing requires a closed ring of at least three distinct points with
// no edges crossing each other.
func checkRing(r orb.Ring) error {
	if len(r) < 4 || r[0] != r[len(r)-1] {
		return errors.New("a ring needs at least 4 positions, the last equal to the first")
	}
	for _, p := range r {
		if err := checkPoint(p); err != nil {
			return err
		}
	}
	n := len(r) - 1
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			if j == i+1 || i == 0 && j == n-1 {
				continue // neighbouring edges share a point
			}
			if segmentsIntersect(r[i], r[i+1], r[j], r[j+1]) {
				return fmt.Errorf("the ring intersects itself (edges %d and %d)", i, j)
			}
		}
	}
	if planar.Area(r) == 0 {
		return errors.New("the ring has no area")
	}
	return nil
}
