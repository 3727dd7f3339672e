package geoloc

import (
	"math"
	"testing"
	"time"
)

// metresPerMilliDegree is 0.001° of a great circle (a meridian, the
// equator): what each step of the hand-built trails below covers.
const metresPerMilliDegree = EarthRadius * math.Pi / 180 / 1000

// trail builds a trail fix by fix, a fixed interval apart.
type trail struct {
	pts []TrailPoint
	at  time.Time
}

func newTrail(start time.Time) *trail { return &trail{at: start} }

// fix adds a fix after step; speed < 0 means none reported.
func (tr *trail) fix(step time.Duration, lat, lon, speed float64) *trail {
	tr.at = tr.at.Add(step)
	pt := TrailPoint{Time: tr.at, Lat: lat, Lon: lon}
	if speed >= 0 {
		pt.Speed = &speed
	}
	tr.pts = append(tr.pts, pt)
	return tr
}

// stand adds n fixes every 10 s around (lat, lon), jittering up to about
// 20 m with speeds below 1 m/s or none, the last one on the spot.
func (tr *trail) stand(n int, lat, lon float64) *trail {
	jitter := [][2]float64{{0.00012, -0.0002}, {-0.00015, 0.0001}, {0.00005, 0.00025}, {-0.0001, -0.00015}, {0, 0}}
	for i := range n - 1 {
		j := jitter[i%len(jitter)]
		speed := []float64{0.4, -1, 0.2}[i%3]
		tr.fix(10*time.Second, lat+j[0], lon+j[1], speed)
	}
	return tr.fix(10*time.Second, lat, lon, 0)
}

// north drives n steps of 0.001° north along a meridian, every 10 s
// (11.1 m/s), reporting speed (or none when < 0), and arrives: the last
// fix reports 0.
func (tr *trail) north(n int, lat, lon, speed float64) *trail {
	for i := 1; i <= n; i++ {
		tr.fix(10*time.Second, lat+float64(i)/1000, lon, speed)
	}
	tr.pts[len(tr.pts)-1].Speed = ptr(0)
	return tr
}

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// A day with GPS jitter at both stops, a stray fix 89 m off in the middle
// of the second, and a silence of 20 minutes while driving: two stops and
// three trips, with distances to the metre and times to the second.
func TestTripsAndStopsOfAHandBuiltDay(t *testing.T) {
	start := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	tr := newTrail(start)
	tr.fix(0, 52.0, 13.0, 0).stand(60, 52.0, 13.0) // 10 min at the depot: 08:00:00–08:10:00
	tr.north(60, 52.0, 13.0, 11.1)                 // arrives at 52.06 at 08:20:00
	tr.pts[len(tr.pts)-30].Speed = ptr(15.0)       // the fastest moment
	tr.stand(30, 52.06, 13.0)                      // 5 min
	tr.fix(10*time.Second, 52.0608, 13.0, -1)      // a stray fix 89 m north
	tr.fix(10*time.Second, 52.06, 13.0, -1)
	tr.stand(24, 52.06, 13.0)                  // 4 more minutes, until 08:29:20
	tr.north(30, 52.06, 13.0, 11.1)            // to 52.09 at 08:34:20
	tr.fix(20*time.Minute, 52.10, 13.0, 11.1)  // silence, then on: 08:54:20
	tr.north(20, 52.10, 13.0, 11.1)            // to 52.12 at 08:57:40
	tr.fix(5*time.Minute, 52.12, 13.0, 0)      // 09:02:40: quiet for 5 min, in place
	tr.fix(10*time.Minute, 52.12, 13.0002, -1) // and 10 min more asleep, 14 m off: still the same stop

	trips, stops := Analyze(tr.pts, ReportOptions{})
	if len(stops) != 3 {
		t.Fatalf("stops: %+v", stops)
	}
	at := func(h, m, s int) time.Time { return time.Date(2026, 3, 2, h, m, s, 0, time.UTC) }
	wantStops := []struct {
		lat, lon  float64
		arr, dep  time.Time
		duration  time.Duration
		tolMetres float64
	}{
		{52.0, 13.0, at(8, 0, 0), at(8, 10, 0), 10 * time.Minute, 5},
		{52.06, 13.0, at(8, 20, 0), at(8, 29, 20), 9*time.Minute + 20*time.Second, 5},
		{52.12, 13.0, at(8, 57, 40), at(9, 12, 40), 15 * time.Minute, 10},
	}
	for i, w := range wantStops {
		s := stops[i]
		if d := Distance(s.Lat, s.Lon, w.lat, w.lon); d > w.tolMetres || !s.Arrival.Equal(w.arr) || !s.Departure.Equal(w.dep) || s.Duration() != w.duration {
			t.Errorf("stop %d: %+v (%.1f m from %v,%v, %v), want %v–%v", i, s, d, w.lat, w.lon, s.Duration(), w.arr, w.dep)
		}
	}
	wantTrips := []struct {
		start, end time.Time
		metres     float64
		max        float64
	}{
		{at(8, 10, 0), at(8, 20, 0), 60 * metresPerMilliDegree, 15},     // 6672 m in 10 min
		{at(8, 29, 20), at(8, 34, 20), 30 * metresPerMilliDegree, 11.1}, // ends at the silence
		{at(8, 54, 20), at(8, 57, 40), 20 * metresPerMilliDegree, 11.1}, // nothing counted across it
	}
	if len(trips) != len(wantTrips) {
		t.Fatalf("trips: %+v", trips)
	}
	for i, w := range wantTrips {
		tp := trips[i]
		if !tp.Start.Equal(w.start) || !tp.End.Equal(w.end) || !near(tp.Distance, w.metres, 1) || tp.MaxSpeed != w.max {
			t.Errorf("trip %d: %v–%v %.1f m max %v, want %v–%v %.1f m max %v", i, tp.Start, tp.End, tp.Distance, tp.MaxSpeed, w.start, w.end, w.metres, w.max)
		}
	}
	if got := trips[0].AvgSpeed(); !near(got, 6671.7/600, 0.01) {
		t.Errorf("average speed %v m/s", got)
	}
	if math.Round(trips[0].Distance) != 6672 {
		t.Errorf("trip 0: %.3f m, want 6672 to the metre", trips[0].Distance)
	}
}

// Without the cluster radius, the jitter at a stop would be movement: with
// speeds from fix to fix of up to 3 m/s and no reported speed, it is
// still one stop and no trip.
func TestJitterAloneIsNoTrip(t *testing.T) {
	tr := newTrail(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC))
	for i := range 40 { // 10 min, fixes every 15 s, up to 40 m apart
		d := []float64{0.00018, -0.00018}[i%2]
		tr.fix(15*time.Second, 48.1+d, 11.5, -1)
	}
	trips, stops := Analyze(tr.pts, ReportOptions{})
	if len(trips) != 0 || len(stops) != 1 || stops[0].Duration() != 9*time.Minute+45*time.Second {
		t.Errorf("trips %+v stops %+v", trips, stops)
	}
	// A tighter radius turns the same fixes into movement.
	if _, stops := Analyze(tr.pts, ReportOptions{StopRadius: 10}); len(stops) != 0 {
		t.Errorf("a 10 m radius still finds %+v", stops)
	}
}

// A trip from 23:55 to 00:10 belongs to the day it started in: the
// summary puts all of its distance and time there.
func TestTripAcrossMidnightCountsInTheDayItStarts(t *testing.T) {
	tr := newTrail(time.Date(2026, 3, 2, 23, 50, 0, 0, time.UTC))
	tr.fix(0, 40.0, -3.7, 0).stand(30, 40.0, -3.7) // 23:50–23:55
	tr.north(90, 40.0, -3.7, 11.1)                 // 15 min, 90 steps
	tr.tail(40)                                    // then stands until 00:16:40
	trips, stops := Analyze(tr.pts, ReportOptions{})
	if len(trips) != 1 || len(stops) != 2 {
		t.Fatalf("trips %+v stops %+v", trips, stops)
	}
	days := Summarize(trips, stops, time.UTC)
	if len(days) != 2 {
		t.Fatalf("days %+v", days)
	}
	d1, d2 := days[0], days[1]
	if d1.Day != "2026-03-02" || d1.Trips != 1 || !near(d1.Distance, 90*metresPerMilliDegree, 1) || d1.Driving != 15*time.Minute ||
		d1.Idle != 5*time.Minute || d1.MaxSpeed != 11.1 || d1.Stops != 1 {
		t.Errorf("day 1: %+v", d1)
	}
	if d2.Day != "2026-03-03" || d2.Trips != 0 || d2.Distance != 0 || d2.Driving != 0 || d2.Idle != 6*time.Minute+40*time.Second {
		t.Errorf("day 2: %+v", d2)
	}
	// In Tokyo (UTC+9) both fall on the 3rd.
	tokyo := time.FixedZone("JST", 9*3600)
	if days := Summarize(trips, stops, tokyo); len(days) != 1 || days[0].Day != "2026-03-03" || days[0].Trips != 1 || days[0].Stops != 2 {
		t.Errorf("in Tokyo: %+v", days)
	}
}

// tail adds n fixes standing where the trail is, every 10 s.
func (tr *trail) tail(n int) {
	last := tr.pts[len(tr.pts)-1]
	for range n {
		tr.fix(10*time.Second, last.Lat, last.Lon, 0)
	}
}

// On the antimeridian: a stop whose fixes straddle it has its centre on
// it (not at 0°), and a trip across it is 2.2 km, not 40,000.
func TestStopsAndTripsOnTheAntimeridian(t *testing.T) {
	tr := newTrail(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	lons := []float64{179.9998, -179.9998, 179.9999, -179.9997}
	for i := range 30 {
		tr.fix(10*time.Second, 0, lons[i%len(lons)], -1)
	}
	tr.fix(10*time.Second, 0, 180, 0)
	for i := 1; i <= 20; i++ { // east along the equator, across 180°
		tr.fix(10*time.Second, 0, wrapLon(180+float64(i)/1000), 11.1)
	}
	tr.pts[len(tr.pts)-1].Speed = ptr(0)
	tr.tail(30)
	trips, stops := Analyze(tr.pts, ReportOptions{})
	if len(stops) != 2 || len(trips) != 1 {
		t.Fatalf("trips %+v stops %+v", trips, stops)
	}
	if d := Distance(stops[0].Lat, stops[0].Lon, 0, 180); d > 20 {
		t.Errorf("stop centre %v,%v is %.0f m from 0,180", stops[0].Lat, stops[0].Lon, d)
	}
	if tp := trips[0]; !near(tp.Distance, 20*metresPerMilliDegree, 1) || tp.Duration() != 200*time.Second || !near(tp.EndLon, -179.98, 1e-9) {
		t.Errorf("trip across the antimeridian: %.1f m in %v, ends at %v", tp.Distance, tp.Duration(), tp.EndLon)
	}
}
