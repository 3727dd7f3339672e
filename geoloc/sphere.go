package geoloc

import "math"

// EarthRadius is the mean radius of the Earth in metres (IUGG), the one
// distances on the sphere use.
const EarthRadius = 6371008.8

func rad(deg float64) float64 { return deg * math.Pi / 180 }

// Distance is the great-circle distance in metres between two points given
// in degrees (haversine).
func Distance(lat1, lon1, lat2, lon2 float64) float64 {
	φ1, φ2 := rad(lat1), rad(lat2)
	dφ, dλ := φ2-φ1, rad(lon2-lon1)
	a := math.Sin(dφ/2)*math.Sin(dφ/2) + math.Cos(φ1)*math.Cos(φ2)*math.Sin(dλ/2)*math.Sin(dλ/2)
	return 2 * EarthRadius * math.Asin(math.Min(1, math.Sqrt(a)))
}

// distanceToBox is the great-circle distance in metres from a point to the
// nearest point of a longitude/latitude box (degrees). It is exact, which
// makes it a valid bound for nearest-neighbour search: the nearest point of
// the box is either straight north or south of the point (when the box spans
// the point's longitude) or on one of the box's two meridian edges.
func distanceToBox(lat, lon, minLat, minLon, maxLat, maxLon float64) float64 {
	if lon >= minLon && lon <= maxLon {
		switch {
		case lat < minLat:
			return (rad(minLat) - rad(lat)) * EarthRadius
		case lat > maxLat:
			return (rad(lat) - rad(maxLat)) * EarthRadius
		}
		return 0
	}
	return math.Min(distanceToMeridian(lat, lon, minLat, maxLat, minLon),
		distanceToMeridian(lat, lon, minLat, maxLat, maxLon))
}

// distanceToMeridian is the distance from a point to the segment of the
// meridian at longitude m between latitudes lo and hi (degrees). Along the
// meridian's great circle the distance has one minimum; on the segment the
// minimum is there if the segment holds it, else at an end.
func distanceToMeridian(lat, lon, lo, hi, m float64) float64 {
	d := math.Min(Distance(lat, lon, lo, m), Distance(lat, lon, hi, m))
	// cos(distance) = sin φ sin φp + cos φ cos φp cos Δλ = A cos(φ - φ0)
	a := math.Sin(rad(lat))
	b := math.Cos(rad(lat)) * math.Cos(rad(lon-m))
	foot := math.Atan2(a, b) * 180 / math.Pi
	if foot >= lo && foot <= hi {
		d = math.Min(d, Distance(lat, lon, foot, m))
	}
	return d
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
