package firmwaresim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// earthRadius is the mean Earth radius in metres, the one the hub's geo
// code measures with, so that a speed reported here is the speed the hub
// would derive from the same two fixes.
const earthRadius = 6371008.8

func degToRad(d float64) float64 { return d * math.Pi / 180 }
func radToDeg(r float64) float64 { return r * 180 / math.Pi }

// normBearing maps any angle in degrees to [0, 360).
func normBearing(b float64) float64 {
	b = math.Mod(b, 360)
	if b < 0 {
		b += 360
	}
	if b >= 360 { // -1e-15 + 360 rounds to 360
		b = 0
	}
	return b
}

// gcDistance is the great-circle (haversine) distance in metres.
func gcDistance(lat1, lon1, lat2, lon2 float64) float64 {
	φ1, φ2 := degToRad(lat1), degToRad(lat2)
	dφ, dλ := φ2-φ1, degToRad(lon2-lon1)
	h := math.Sin(dφ/2)*math.Sin(dφ/2) + math.Cos(φ1)*math.Cos(φ2)*math.Sin(dλ/2)*math.Sin(dλ/2)
	return 2 * earthRadius * math.Asin(math.Min(1, math.Sqrt(h)))
}

// gcBearing is the initial great-circle bearing from the first point to
// the second, in degrees [0, 360).
func gcBearing(lat1, lon1, lat2, lon2 float64) float64 {
	φ1, φ2, dλ := degToRad(lat1), degToRad(lat2), degToRad(lon2-lon1)
	y := math.Sin(dλ) * math.Cos(φ2)
	x := math.Cos(φ1)*math.Sin(φ2) - math.Sin(φ1)*math.Cos(φ2)*math.Cos(dλ)
	return normBearing(radToDeg(math.Atan2(y, x)))
}

// gcDestination is the point d metres from (lat, lon) along the great
// circle leaving it at bearing; longitudes come back in [-180, 180].
func gcDestination(lat, lon, bearing, d float64) (float64, float64) {
	φ1, θ, δ := degToRad(lat), degToRad(bearing), d/earthRadius
	φ2 := math.Asin(math.Sin(φ1)*math.Cos(δ) + math.Cos(φ1)*math.Sin(δ)*math.Cos(θ))
	dλ := math.Atan2(math.Sin(θ)*math.Sin(δ)*math.Cos(φ1), math.Cos(δ)-math.Sin(φ1)*math.Sin(φ2))
	return radToDeg(φ2), math.Remainder(lon+radToDeg(dλ), 360)
}

// metresPerDegree is the length of one degree of latitude.
const metresPerDegree = earthRadius * math.Pi / 180

// Box is an area on the map, in degrees, in GeoJSON bbox order
// [minLon, minLat, maxLon, maxLat].
type Box struct{ MinLon, MinLat, MaxLon, MaxLat float64 }

// BerlinMitte is the area of the demo and of quick runs.
var BerlinMitte = Box{MinLon: 13.36, MinLat: 52.50, MaxLon: 13.44, MaxLat: 52.54}

// minBoxSide is the smallest box a device can drive around in.
const minBoxSide = 100.0

// Validate refuses boxes the models cannot drive in: inverted or
// antimeridian-crossing ones (minLon above maxLon), ones reaching beyond
// ±85° (where a lon/lat box degenerates) and ones under 100 m across.
func (b Box) Validate() error {
	for _, v := range [4]float64{b.MinLon, b.MinLat, b.MaxLon, b.MaxLat} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return errors.New("not a finite number")
		}
	}
	switch {
	case b.MinLon < -180 || b.MaxLon > 180:
		return fmt.Errorf("longitude beyond ±180 (%g, %g)", b.MinLon, b.MaxLon)
	case b.MinLon > b.MaxLon:
		return fmt.Errorf("minLon %g above maxLon %g (a box may not cross the antimeridian)", b.MinLon, b.MaxLon)
	case b.MinLat > b.MaxLat:
		return fmt.Errorf("minLat %g above maxLat %g", b.MinLat, b.MaxLat)
	case b.MinLat < -85 || b.MaxLat > 85:
		return fmt.Errorf("latitude beyond ±85 (%g, %g): polar boxes are refused", b.MinLat, b.MaxLat)
	}
	mid := (b.MinLat + b.MaxLat) / 2
	if gcDistance(mid, b.MinLon, mid, b.MaxLon) < minBoxSide || (b.MaxLat-b.MinLat)*metresPerDegree < minBoxSide {
		return fmt.Errorf("smaller than %g m across", minBoxSide)
	}
	return nil
}

// Contains reports whether the point lies in the box, edges included.
func (b Box) Contains(lat, lon float64) bool {
	return lat >= b.MinLat && lat <= b.MaxLat && lon >= b.MinLon && lon <= b.MaxLon
}

// stillMetres is how far a device may creep between fixes and still be
// reported as stopped.
const stillMetres = 1e-3

// trueTrack turns successive true positions into fixes whose speed and bearing
// are those of the straight move between them (distance / dt, initial
// great-circle bearing), whatever path the model took in between, so that
// a consumer comparing consecutive fixes finds them consistent. A device
// that did not move reports speed 0 and keeps its last bearing.
type trueTrack struct{ lat, lon, bearing float64 }

func (tr *trueTrack) fix(t time.Time, dt time.Duration, lat, lon float64) Fix {
	f := Fix{Time: t, Lat: lat, Lon: lon, Bearing: tr.bearing}
	if d := gcDistance(tr.lat, tr.lon, lat, lon); d > stillMetres && dt > 0 {
		f.Speed = d / dt.Seconds()
		f.Bearing = gcBearing(tr.lat, tr.lon, lat, lon)
	}
	tr.lat, tr.lon, tr.bearing = lat, lon, f.Bearing
	return f
}

// splitRand derives an independent generator from rng, taking all it
// needs at once: a model then never draws from the caller's rng again, so
// the caller's later draws (sensors, jitter) cannot change the path.
func splitRand(rng *rand.Rand) *rand.Rand {
	return rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
}

// checkSpeed refuses speeds a vehicle model cannot use.
func checkSpeed(speed float64) error {
	if !(speed > 0) || math.IsInf(speed, 0) {
		return fmt.Errorf("speed %g m/s: must be above 0", speed)
	}
	return nil
}

// Road walk: a car on a Manhattan-like street grid.
const (
	walkStep      = 0.5   // seconds per integration step
	walkBlockMin  = 120.0 // metres between intersections
	walkBlockMax  = 400.0
	walkSkew      = 3.0  // degrees a street may deviate from the grid
	walkEdge      = 10.0 // metres the box edge is kept away
	walkMinRoom   = 60.0 // metres a new street must run before the box edge
	walkAccel     = 1.5  // m/s²
	walkDecel     = 2.5  // m/s²
	walkCrawl     = 1.0  // m/s, the slowest approach, so that a car arrives
	walkTurnSpeed = 5.0  // m/s through a turn
	walkUTurn     = 2.0  // m/s through a U-turn
	walkRedShare  = 0.25 // of intersections where the car waits
	walkRedMin    = 10.0 // seconds at a red light
	walkRedMax    = 45.0
)

// RoadWalk drives a car at random through a street grid inside a box:
// straight streets heading north, east, south or west (each skewed by up
// to 3°) with intersections every 120–400 m, where it goes straight or
// turns. The box edge is a T-junction; where no street leads on, the car
// makes a U-turn, so it never leaves the box. It cruises at 70–130 % of
// the mean speed (drawn per street), accelerating and braking smoothly,
// slows down for turns and waits 10–45 s at red lights at a quarter of
// the intersections; over time it averages about two thirds of the mean.
type RoadWalk struct {
	rng      *rand.Rand
	box      Box
	mean     float64
	lat, lon float64
	base     int     // grid direction of this street: 0, 90, 180 or 270
	heading  float64 // base plus the street's skew
	left     float64 // metres to the next intersection
	next     int     // grid direction taken there
	endSpeed float64 // wanted speed at the intersection: 0 at a red light
	cruise   float64 // wanted speed on this street
	v        float64 // current speed, m/s
	wait     float64 // seconds left at a red light
	tr       trueTrack
}

// NewRoadWalk starts a car at a random place in box, cruising at about
// speed m/s. It takes what it needs from rng at once (see splitRand).
func NewRoadWalk(rng *rand.Rand, box Box, speed float64) (*RoadWalk, error) {
	if err := box.Validate(); err != nil {
		return nil, fmt.Errorf("box: %w", err)
	}
	if err := checkSpeed(speed); err != nil {
		return nil, err
	}
	w := &RoadWalk{rng: splitRand(rng), box: box, mean: speed}
	inLat := walkEdge / metresPerDegree
	inLon := inLat / math.Cos(degToRad(math.Max(math.Abs(box.MinLat), math.Abs(box.MaxLat))))
	w.lat = box.MinLat + inLat + w.rng.Float64()*(box.MaxLat-box.MinLat-2*inLat)
	w.lon = box.MinLon + inLon + w.rng.Float64()*(box.MaxLon-box.MinLon-2*inLon)
	w.base = w.openDirection(w.lat, w.lon, 90*w.rng.IntN(4))
	w.street()
	w.v = w.cruise
	w.tr = trueTrack{lat: w.lat, lon: w.lon, bearing: w.heading}
	return w, nil
}

// Next drives on for dt in steps of at most half a second.
func (w *RoadWalk) Next(t time.Time, dt time.Duration) Fix {
	for rest := dt.Seconds(); rest > 0; {
		rest -= w.step(math.Min(rest, walkStep))
	}
	return w.tr.fix(t, dt, w.lat, w.lon)
}

// step drives for up to h seconds and returns the time taken: less when
// the car reaches an intersection, so that the rest is driven on the next
// street instead of lost (a lost half second reads as a sudden slowdown).
func (w *RoadWalk) step(h float64) float64 {
	if w.wait > 0 {
		use := math.Min(h, w.wait)
		w.wait -= use
		return use
	}
	// Brake early enough to reach the intersection at endSpeed, counting
	// the distance this step will cover before it can brake again.
	ahead := math.Max(0, w.left-w.v*h)
	target := math.Min(w.cruise, math.Max(walkCrawl, math.Sqrt(w.endSpeed*w.endSpeed+2*walkDecel*ahead)))
	if w.v < target {
		w.v = math.Min(target, w.v+walkAccel*h)
	} else {
		w.v = math.Max(target, w.v-walkDecel*h)
	}
	d := math.Min(w.v*h, w.left)
	lat, lon := gcDestination(w.lat, w.lon, w.heading, d)
	if !w.box.Contains(lat, lon) {
		// The skew drifted the car onto the edge: turn into the box.
		w.base = w.openDirection(w.lat, w.lon, w.base)
		w.v = math.Min(w.v, walkUTurn)
		w.street()
		return h
	}
	w.lat, w.lon, w.left = lat, lon, w.left-d
	if w.left > 0 {
		return h
	}
	used := math.Max(0.01, d/w.v) // never 0, so that Next always ends
	if w.endSpeed == 0 {
		w.wait = walkRedMin + w.rng.Float64()*(walkRedMax-walkRedMin)
		w.v = 0
	} else {
		w.v = math.Min(w.v, w.endSpeed)
	}
	w.base = w.next
	w.street()
	return math.Min(h, used)
}

// street starts the street ahead along w.base: its length (cut short by
// the box edge), its skew (none where it runs close along an edge, so
// that the drift cannot reach it), what the car does at its end, and its
// cruise speed.
func (w *RoadWalk) street() {
	w.left = walkBlockMin + w.rng.Float64()*(walkBlockMax-walkBlockMin)
	w.left = math.Max(0, math.Min(w.left, w.room(w.lat, w.lon, w.base)-walkEdge))
	skew := (2*w.rng.Float64() - 1) * walkSkew
	side := math.Min(w.room(w.lat, w.lon, (w.base+90)%360), w.room(w.lat, w.lon, (w.base+270)%360))
	if side < walkEdge+w.left*math.Sin(degToRad(walkSkew))+1 {
		skew = 0
	}
	w.heading = normBearing(float64(w.base) + skew)
	endLat, endLon := gcDestination(w.lat, w.lon, w.heading, w.left)
	w.next = w.openDirection(endLat, endLon, w.base)
	switch (w.next - w.base + 360) % 360 {
	case 0:
		w.endSpeed = math.Inf(1)
	case 180:
		w.endSpeed = walkUTurn
	default:
		w.endSpeed = walkTurnSpeed
	}
	if w.rng.Float64() < walkRedShare {
		w.endSpeed = 0
	}
	w.cruise = w.mean * (0.7 + 0.6*w.rng.Float64())
}

// openDirection picks where to go at (lat, lon) coming along base:
// straight, left or right (6:2:2) among the streets with room before the
// box edge; a U-turn when none has.
func (w *RoadWalk) openDirection(lat, lon float64, base int) int {
	var dirs [3]int
	var weights [3]float64
	total := 0.0
	for i, turn := range [3]int{0, 270, 90} {
		d := (base + turn) % 360
		if w.room(lat, lon, d) > walkMinRoom+walkEdge {
			dirs[i], weights[i] = d, []float64{6, 2, 2}[i]
			total += weights[i]
		}
	}
	if total == 0 {
		return (base + 180) % 360
	}
	x := w.rng.Float64() * total
	pick := -1
	for i := range dirs {
		if weights[i] > 0 && (pick < 0 || x >= 0) {
			pick = i
		}
		x -= weights[i]
	}
	return dirs[pick]
}

// room is how many metres lie between (lat, lon) and the box edge in grid
// direction dir.
func (w *RoadWalk) room(lat, lon float64, dir int) float64 {
	perLon := metresPerDegree * math.Cos(degToRad(lat))
	switch dir {
	case 0:
		return (w.box.MaxLat - lat) * metresPerDegree
	case 90:
		return (w.box.MaxLon - lon) * perLon
	case 180:
		return (lat - w.box.MinLat) * metresPerDegree
	default:
		return (lon - w.box.MinLon) * perLon
	}
}
