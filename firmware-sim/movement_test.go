package firmwaresim

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
)

var t0 = time.Date(2025, 6, 3, 7, 0, 0, 0, time.UTC)

func testRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

// drive runs m over span of simulated time with report gaps as a device
// has them: 1–6 s, now and then a two-minute silence.
func drive(m Mover, span time.Duration, seed uint64) []Fix {
	rng := testRand(seed)
	fixes := []Fix{m.Next(t0, 0)}
	for now := t0; now.Sub(t0) < span; {
		dt := time.Duration(1000+rng.IntN(5000)) * time.Millisecond
		if rng.IntN(300) == 0 {
			dt = 2 * time.Minute
		}
		now = now.Add(dt)
		fixes = append(fixes, m.Next(now, dt))
	}
	return fixes
}

// refDistance and refBearing come from orb, not from the code under test;
// orb's haversine is rescaled to the radius the hub uses.
func refDistance(a, b Fix) float64 {
	return geo.DistanceHaversine(orb.Point{a.Lon, a.Lat}, orb.Point{b.Lon, b.Lat}) * earthRadius / orb.EarthRadius
}

func refBearing(a, b Fix) float64 {
	return normBearing(geo.Bearing(orb.Point{a.Lon, a.Lat}, orb.Point{b.Lon, b.Lat}))
}

func angleDiff(a, b float64) float64 {
	d := math.Mod(math.Abs(a-b), 360)
	return math.Min(d, 360-d)
}

// checkConsistent checks that every fix's speed and bearing are those of
// the move from the fix before, and that a stopped device kept its bearing.
func checkConsistent(t *testing.T, fixes []Fix) {
	t.Helper()
	bad := 0
	for i := 1; i < len(fixes) && bad < 5; i++ {
		a, b := fixes[i-1], fixes[i]
		dt := b.Time.Sub(a.Time).Seconds()
		d := refDistance(a, b)
		switch {
		case b.Speed < 0 || b.Bearing < 0 || b.Bearing >= 360 || math.IsNaN(b.Lat+b.Lon+b.Speed+b.Bearing):
			t.Errorf("fix %d: out of range: %+v", i, b)
		case b.Speed == 0 && (d > 0.01 || b.Bearing != a.Bearing):
			t.Errorf("fix %d: stopped but moved %.3f m, bearing %.2f -> %.2f", i, d, a.Bearing, b.Bearing)
		case b.Speed > 0 && math.Abs(b.Speed-d/dt) > 1e-6*(1+b.Speed):
			t.Errorf("fix %d: speed %.6f m/s, moved %.3f m in %.1f s (%.6f m/s)", i, b.Speed, d, dt, d/dt)
		case b.Speed > 0 && d > 0.5 && angleDiff(b.Bearing, refBearing(a, b)) > 0.01:
			t.Errorf("fix %d: bearing %.4f, the move went %.4f", i, b.Bearing, refBearing(a, b))
		default:
			continue
		}
		bad++
	}
}

func TestGreatCircle(t *testing.T) {
	zoo, alex := Fix{Lat: 52.50672, Lon: 13.33261}, Fix{Lat: 52.52190, Lon: 13.41330}
	if d, want := gcDistance(zoo.Lat, zoo.Lon, alex.Lat, alex.Lon), refDistance(zoo, alex); math.Abs(d-want) > 1e-6 || math.Abs(d-5715) > 5 {
		t.Errorf("Zoo to Alexanderplatz: %.3f m, orb says %.3f", d, want)
	}
	if b := gcBearing(zoo.Lat, zoo.Lon, alex.Lat, alex.Lon); angleDiff(b, refBearing(zoo, alex)) > 1e-9 {
		t.Errorf("bearing %.6f, orb %.6f", b, refBearing(zoo, alex))
	}
	for _, c := range []struct {
		lat, lon, brg, d float64
	}{{52.5, 13.4, 0, 1000}, {52.5, 13.4, 271, 25000}, {-33.9, 151.2, 135, 500}, {0.1, 179.995, 90, 2000}, {-0.1, -179.995, 270, 2000}, {84.9, 0, 45, 3000}} {
		lat, lon := gcDestination(c.lat, c.lon, c.brg, c.d)
		if lon < -180 || lon > 180 {
			t.Errorf("%+v: longitude %g not normalised", c, lon)
		}
		if d := gcDistance(c.lat, c.lon, lat, lon); math.Abs(d-c.d) > 1e-6*c.d {
			t.Errorf("%+v: landed %.4f m away", c, d)
		}
		if b := gcBearing(c.lat, c.lon, lat, lon); angleDiff(b, c.brg) > 1e-6 {
			t.Errorf("%+v: bearing back %.8f", c, b)
		}
	}
	for in, want := range map[float64]float64{-1e-15: 0, 360: 0, -90: 270, 725: 5} {
		if got := normBearing(in); math.Abs(got-want) > 1e-9 || got >= 360 {
			t.Errorf("normBearing(%g) = %g, want %g", in, got, want)
		}
	}
}

func TestBoxValidate(t *testing.T) {
	for _, c := range []struct {
		box  Box
		want string // part of the error; "" for a good box
	}{
		{BerlinMitte, ""},
		{Box{179.99, -10, 180, -9.99}, ""},
		{Box{-10, -84.9, 10, -84}, ""},
		{Box{13.3, 52.6, 13.5, 52.5}, "minLat 52.6 above maxLat 52.5"},
		{Box{179.9, 10, -179.9, 11}, "antimeridian"},
		{Box{-181, 10, -179, 11}, "beyond ±180"},
		{Box{0, 80, 10, 86}, "beyond ±85"},
		{Box{0, -89, 10, -80}, "beyond ±85"},
		{Box{13.4, 52.5, 13.4005, 52.6}, "smaller than 100 m"},
		{Box{13.4, 52.5, 13.5, 52.5005}, "smaller than 100 m"},
		{Box{math.NaN(), 52.5, 13.5, 52.6}, "finite"},
	} {
		err := c.box.Validate()
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: error %v, want %q", c.box, err, c.want)
		}
	}
}

// movers are the models under test, each built from seed.
var movers = []struct {
	name  string
	speed float64
	build func(t *testing.T, seed uint64) Mover
}{
	{"walk", 12, func(t *testing.T, seed uint64) Mover {
		w, err := NewRoadWalk(testRand(seed), BerlinMitte, 12)
		must(t, err)
		return w
	}},
	{"waypoints", 10, func(t *testing.T, seed uint64) Mover {
		w, err := NewWaypointLoop(testRand(seed), waypoints, 10)
		must(t, err)
		return w
	}},
	{"route loop", 8, func(t *testing.T, seed uint64) Mover {
		f, err := NewRouteFollower(loadRoute(t, "testdata/tour.geojson"), 8, true)
		must(t, err)
		return f
	}},
	{"route back and forth", 9, func(t *testing.T, seed uint64) Mover {
		f, err := NewRouteFollower(loadRoute(t, "testdata/line100.gpx"), 9, false)
		must(t, err)
		return f
	}},
}

var waypoints = [][2]float64{{13.40, 52.50}, {13.41, 52.51}, {13.42, 52.505}, {13.415, 52.495}}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func loadRoute(t *testing.T, path string) [][2]float64 {
	t.Helper()
	pts, err := LoadRoute(path)
	must(t, err)
	return pts
}

func TestMoversConsistent(t *testing.T) {
	for _, m := range movers {
		t.Run(m.name, func(t *testing.T) {
			for seed := range uint64(3) {
				checkConsistent(t, drive(m.build(t, seed), 3*time.Hour, seed))
			}
		})
	}
}

func TestMoversDeterministic(t *testing.T) {
	for _, m := range movers {
		t.Run(m.name, func(t *testing.T) {
			a, b := drive(m.build(t, 5), time.Hour, 1), drive(m.build(t, 5), time.Hour, 1)
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("fix %d differs for the same seed: %+v, %+v", i, a[i], b[i])
				}
			}
			if m.name == "walk" || m.name == "waypoints" {
				if c := drive(m.build(t, 6), time.Hour, 1); c[1] == a[1] {
					t.Errorf("seeds 5 and 6 start alike: %+v", a[1])
				}
			}
		})
	}
}

func TestRoadWalk(t *testing.T) {
	boxes := []struct {
		name string
		box  Box
	}{
		{"Berlin Mitte", BerlinMitte},
		{"small at the equator", Box{-0.0015, -0.001, 0.0015, 0.001}},
		{"at the antimeridian", Box{179.97, -17.8, 180, -17.77}},
		{"far north", Box{20, 84.5, 21, 84.9}},
	}
	for _, bc := range boxes {
		t.Run(bc.name, func(t *testing.T) {
			for seed := range uint64(4) {
				const mean = 12.0
				w, err := NewRoadWalk(testRand(seed), bc.box, mean)
				must(t, err)
				fixes := drive(w, 3*time.Hour, seed)
				checkConsistent(t, fixes)
				var stopped, moving, onGrid int
				var dist, jump float64
				for i, f := range fixes {
					if !bc.box.Contains(f.Lat, f.Lon) {
						t.Fatalf("seed %d fix %d: (%.6f, %.6f) left the box", seed, i, f.Lat, f.Lon)
					}
					if f.Speed > 1.3*mean+1e-9 {
						t.Errorf("seed %d fix %d: %.2f m/s, above 130 %% of the mean", seed, i, f.Speed)
					}
					if i == 0 {
						continue
					}
					dt := f.Time.Sub(fixes[i-1].Time).Seconds()
					dist += f.Speed * dt
					// Two fixes' average speeds differ by at most the braking
					// over half of both spans, but for the chord cut at a turn.
					if i > 1 {
						if span := dt + fixes[i-1].Time.Sub(fixes[i-2].Time).Seconds(); span < 12 {
							jump = math.Max(jump, math.Abs(f.Speed-fixes[i-1].Speed)-walkDecel*span/2)
						}
					}
					switch {
					case f.Speed == 0:
						stopped++
					case f.Speed > 3:
						moving++
						if d := math.Mod(f.Bearing+5, 90); d < 10 {
							onGrid++
						}
					}
				}
				avg := dist / fixes[len(fixes)-1].Time.Sub(t0).Seconds()
				t.Logf("seed %d: average %.1f m/s, %d fixes stopped, %.0f %% on the grid, largest speed jump %.2f m/s", seed, avg, stopped, 100*float64(onGrid)/float64(moving), jump)
				if avg < 0.4*mean || avg > 1.1*mean {
					t.Errorf("seed %d: average speed %.1f m/s for a mean of %g", seed, avg, mean)
				}
				if stopped == 0 {
					t.Errorf("seed %d: never stopped at a light", seed)
				}
				if share := float64(onGrid) / float64(moving); share < 0.8 {
					t.Errorf("seed %d: only %.0f %% of moving fixes head along the grid", seed, 100*share)
				}
				if jump > 1.5 {
					t.Errorf("seed %d: speed jumped by %.2f m/s more than braking allows", seed, jump)
				}
			}
		})
	}
}
