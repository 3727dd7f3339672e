package geoloc

import "math"

// EarthRadius is the mean radius of the Earth in metres (IUGG), the one
// distances on the sphere use.
const EarthRadius = 6371008.8

func rad(deg float64) float64 { return deg * math.Pi / 180 }

// Distance is the great-circle distance in metres between two points given
// in degrees (haversine).
func Distance(lat1, lon1, lat2, lon2 float64) float64 {
	φ1 := rad(lat1)
	return havMetres(haversine(φ1, math.Cos(φ1), lon1, lat2, lon2))
}

// haversine is sin²(θ/2), θ the central angle between a first point at
// latitude φ1 (radians, with its cosine) and longitude lon1 (degrees) and a
// second point at (lat2, lon2) in degrees. It rises with the distance, so a
// search can order by it and take the arcsine of its results only.
func haversine(φ1, cosφ1, lon1, lat2, lon2 float64) float64 {
	φ2 := rad(lat2)
	dφ, dλ := φ2-φ1, rad(lon2-lon1)
	return math.Sin(dφ/2)*math.Sin(dφ/2) + cosφ1*math.Cos(φ2)*math.Sin(dλ/2)*math.Sin(dλ/2)
}

// havMetres is the distance in metres that a haversine stands for.
func havMetres(h float64) float64 { return 2 * EarthRadius * math.Asin(math.Min(1, math.Sqrt(h))) }

// nearPoint is the point a nearest-neighbour search starts from, with what
// the haversines to it need computed once.
type nearPoint struct {
	lat, lon float64 // degrees, lon in [-180, 180]
	φ, cosφ  float64
}

func newNearPoint(lat, lon float64) nearPoint {
	if lon < -180 || lon > 180 {
		lon = math.Remainder(lon, 360)
	}
	return nearPoint{lat: lat, lon: lon, φ: rad(lat), cosφ: math.Cos(rad(lat))}
}

// to is the haversine from q to a point, as Distance computes it.
func (q *nearPoint) to(lat, lon float64) float64 { return haversine(q.φ, q.cosφ, q.lon, lat, lon) }

// toBox is a lower bound on the haversine from q to any point of a
// longitude/latitude box (degrees, minLon <= maxLon), without trigonometric
// calls. In sin²(Δφ/2) + cos φ cos φ2 sin²(Δλ/2) both terms are at least 0,
// so the sum over the box is at least the sum of each term's least value:
// Δφ the latitude gap from q to the box, cos φ2 at the box latitude farthest
// from the equator (cos falls away from it), Δλ the longitude gap the
// shorter way round (sin²(Δλ/2) has period 2π and rises on [0, π]).
// sinBelow and cosBelow stand in for sin and cos from below. For small
// angles they agree with math.Sin and math.Cos to the last bit or two, so
// rounding could put them a hair above: the factor 1-1e-12 covers that.
func (q *nearPoint) toBox(minLat, minLon, maxLat, maxLon float64) float64 {
	var dφ float64
	switch {
	case q.lat < minLat:
		dφ = rad(minLat) - q.φ
	case q.lat > maxLat:
		dφ = q.φ - rad(maxLat)
	}
	s := sinBelow(dφ / 2)
	h := s * s
	if q.lon < minLon || q.lon > maxLon {
		// Gaps east to minLon and west to maxLon; one is at most 180°.
		east, west := minLon-q.lon, q.lon-maxLon
		if east < 0 {
			east += 360
		}
		if west < 0 {
			west += 360
		}
		s = sinBelow(rad(math.Min(east, west)) / 2)
		c := cosBelow(rad(math.Max(math.Abs(minLat), math.Abs(maxLat))))
		h += q.cosφ * c * s * s
	}
	return h * (1 - 1e-12)
}

// sinBelow is at most sin t for t in [0, π/2], and close to it: the Taylor
// polynomial to t⁷. Integrating cos t <= 1 from 0 again and again gives
// alternately upper and lower bounds for sin and cos for every t >= 0, this
// one among them; it stays above 0.9998 up to π/2.
func sinBelow(t float64) float64 {
	t2 := t * t
	return t * (1 - t2/6*(1-t2/20*(1-t2/42)))
}

// cosBelow is at most cos x for x in [0, π/2] (the Taylor polynomial to x⁶,
// a lower bound the same way as sinBelow), and not below 0.
func cosBelow(x float64) float64 {
	x2 := x * x
	return math.Max(0, 1-x2/2*(1-x2/12*(1-x2/30)))
}

// boxAround returns a longitude/latitude box that contains every point
// within r metres of (lat, lon): the search area for a circle.
func boxAround(lat, lon, r float64) (minLat, minLon, maxLat, maxLon float64) {
	dφ := r / EarthRadius * 180 / math.Pi
	minLat, maxLat = lat-dφ, lat+dφ
	if minLat <= -90 || maxLat >= 90 {
		// The circle holds a pole: every longitude.
		return math.Max(minLat, -90), -180, math.Min(maxLat, 90), 180
	}
	// The widest longitude offset is at the latitude of the tangent points.
	dλ := math.Asin(math.Min(1, math.Sin(r/EarthRadius)/math.Cos(rad(lat)))) * 180 / math.Pi
	return minLat, lon - dλ, maxLat, lon + dλ
}
