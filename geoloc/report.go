package geoloc

import (
	"math"
	"time"
)

// Reports are derived on request from a device's trail (TrailPoints) and
// the fence events the alert log keeps: nothing here is stored.
//
// A stop is a run of fixes that stay within StopRadius of their running
// centre, none reporting StopSpeed or more, for at least MinStop. The
// radius, not the speed between two fixes, is what makes GPS jitter at a
// standstill harmless: a fix 20 m off is still inside. Two stops with
// centres within StopRadius and less than MinStop apart are one stop (a
// stray fix in between was jitter). A device that falls silent and comes
// back where it was has stood still all along (a parked tracker asleep).
//
// A trip is what lies between stops: from the departure fix of one stop to
// the arrival fix of the next, or to the edge of the trail. A silence
// longer than MaxGap ends a trip: the next fix starts a new one, and no
// distance is counted across the gap. A trip or stop under way at the
// edge of the range is counted from (or to) the first (last) fix in it.

// ReportOptions are the thresholds of trip and stop detection; zero fields
// take the defaults.
type ReportOptions struct {
	StopRadius float64       // metres; default 50
	StopSpeed  float64       // m/s; default 1
	MinStop    time.Duration // default 3 minutes
	MaxGap     time.Duration // default 10 minutes
}

// Report defaults.
const (
	DefaultStopRadius = 50
	DefaultStopSpeed  = 1
	DefaultMinStop    = 3 * time.Minute
	DefaultMaxGap     = 10 * time.Minute
)

// WithDefaults fills the zero fields.
func (o ReportOptions) WithDefaults() ReportOptions {
	if o.StopRadius <= 0 {
		o.StopRadius = DefaultStopRadius
	}
	if o.StopSpeed <= 0 {
		o.StopSpeed = DefaultStopSpeed
	}
	if o.MinStop <= 0 {
		o.MinStop = DefaultMinStop
	}
	if o.MaxGap <= 0 {
		o.MaxGap = DefaultMaxGap
	}
	return o
}

// Stop is where a device stood still.
type Stop struct {
	Lat, Lon  float64 // the centre of its fixes
	Arrival   time.Time
	Departure time.Time
	Fixes     int
}

// Duration is how long the stop lasted.
func (s Stop) Duration() time.Duration { return s.Departure.Sub(s.Arrival) }

// Trip is a device's movement from one stop (or gap, or range edge) to the
// next.
type Trip struct {
	Start, End         time.Time
	StartLat, StartLon float64
	EndLat, EndLon     float64
	Distance           float64 // metres along the trail, great-circle
	MaxSpeed           float64 // m/s: the highest reported speed, or between fixes when none reports one
	// Points are the trip's fixes: a window on the trail analysed, not a
	// copy.
	Points []TrailPoint
}

// Duration is how long the trip took.
func (t Trip) Duration() time.Duration { return t.End.Sub(t.Start) }

// AvgSpeed is the distance over the duration in m/s, 0 for an instant.
func (t Trip) AvgSpeed() float64 {
	if s := t.Duration().Seconds(); s > 0 {
		return t.Distance / s
	}
	return 0
}

// Analyze finds the trips and stops in a trail, oldest first (pts in time
// order, as TrailPoints returns them).
func Analyze(pts []TrailPoint, opt ReportOptions) ([]Trip, []Stop) {
	opt = opt.WithDefaults()
	spans := stopSpans(pts, opt)
	stops := make([]Stop, len(spans))
	for i, sp := range spans {
		stops[i] = Stop{Lat: sp.lat, Lon: sp.lon, Arrival: pts[sp.first].Time, Departure: pts[sp.last].Time, Fixes: sp.fixes}
	}
	var trips []Trip
	from := 0
	for _, sp := range spans {
		trips = appendTrips(trips, pts[from:sp.first+1], opt)
		from = sp.last
	}
	if len(pts) > 0 {
		trips = appendTrips(trips, pts[from:], opt)
	}
	return trips, stops
}

// span is a stop as indexes into the trail, with its centre.
type span struct {
	first, last int
	lat, lon    float64
	fixes       int
}

// stopSpans finds the stops, merging those split by a stray fix.
func stopSpans(pts []TrailPoint, opt ReportOptions) []span {
	var out []span
	// The haversine of the radius: comparing to it saves an arcsine a fix.
	inside := math.Pow(math.Sin(opt.StopRadius/(2*EarthRadius)), 2)
	for i := 0; i < len(pts); {
		if moving(pts[i], opt) {
			i++
			continue
		}
		c := newCentre(pts[i])
		j := i
		for j+1 < len(pts) && !moving(pts[j+1], opt) && c.hav(pts[j+1]) <= inside {
			j++
			c.add(pts[j])
		}
		if pts[j].Time.Sub(pts[i].Time) < opt.MinStop {
			i++
			continue
		}
		lat, lon := c.point()
		sp := span{first: i, last: j, lat: lat, lon: lon, fixes: c.n}
		if n := len(out); n > 0 {
			prev := &out[n-1]
			if pts[i].Time.Sub(pts[prev.last].Time) < opt.MinStop && Distance(prev.lat, prev.lon, lat, lon) <= opt.StopRadius {
				*prev = merge(*prev, sp)
				i = j + 1
				continue
			}
		}
		out = append(out, sp)
		i = j + 1
	}
	return out
}

// merge joins two stops, their centre weighted by their fixes.
func merge(a, b span) span {
	fa, fb := float64(a.fixes), float64(b.fixes)
	c := centre{lat0: a.lat, lon0: a.lon, sumLat: a.lat*fa + b.lat*fb, sumDLon: wrapLon(b.lon-a.lon) * fb, n: a.fixes + b.fixes}
	lat, lon := c.point()
	return span{first: a.first, last: b.last, lat: lat, lon: lon, fixes: c.n}
}

// moving reports whether a fix says by its speed that the device moves.
func moving(pt TrailPoint, opt ReportOptions) bool {
	return pt.Speed != nil && *pt.Speed >= opt.StopSpeed
}

// centre is the running mean of fixes, longitudes taken relative to the
// first so that a cluster on the antimeridian does not average to 0°.
type centre struct {
	lat0, lon0      float64
	sumLat, sumDLon float64
	n               int
}

func newCentre(pt TrailPoint) centre {
	return centre{lat0: pt.Lat, lon0: pt.Lon, sumLat: pt.Lat, n: 1}
}

func (c *centre) add(pt TrailPoint) {
	c.sumLat += pt.Lat
	c.sumDLon += wrapLon(pt.Lon - c.lon0)
	c.n++
}

func (c *centre) point() (lat, lon float64) {
	return c.sumLat / float64(c.n), wrapLon(c.lon0 + c.sumDLon/float64(c.n))
}

// hav is the haversine from the centre to pt (see haversine).
func (c *centre) hav(pt TrailPoint) float64 {
	lat, lon := c.point()
	φ := rad(lat)
	return haversine(φ, math.Cos(φ), lon, pt.Lat, pt.Lon)
}

// wrapLon brings a longitude or a difference of two into [-180, 180].
func wrapLon(lon float64) float64 {
	if lon >= -180 && lon <= 180 {
		return lon
	}
	return math.Remainder(lon, 360)
}

// appendTrips adds the trips of a stretch between stops: one, or more
// where silences longer than MaxGap cut it. A piece of a single fix is
// no trip.
func appendTrips(trips []Trip, pts []TrailPoint, opt ReportOptions) []Trip {
	start := 0
	for i := 1; i <= len(pts); i++ {
		if i < len(pts) && pts[i].Time.Sub(pts[i-1].Time) <= opt.MaxGap {
			continue
		}
		if i-start >= 2 {
			trips = append(trips, tripOf(pts[start:i]))
		}
		start = i
	}
	return trips
}

func tripOf(pts []TrailPoint) Trip {
	first, last := pts[0], pts[len(pts)-1]
	t := Trip{Start: first.Time, End: last.Time, StartLat: first.Lat, StartLon: first.Lon,
		EndLat: last.Lat, EndLon: last.Lon, Points: pts}
	var reported, between float64
	anyReported := false
	for i, pt := range pts {
		if pt.Speed != nil {
			anyReported = true
			reported = max(reported, *pt.Speed)
		}
		if i == 0 {
			continue
		}
		d := Distance(pts[i-1].Lat, pts[i-1].Lon, pt.Lat, pt.Lon)
		t.Distance += d
		if dt := pt.Time.Sub(pts[i-1].Time).Seconds(); dt > 0 {
			between = max(between, d/dt)
		}
	}
	if anyReported {
		t.MaxSpeed = reported
	} else {
		t.MaxSpeed = between
	}
	return t
}
