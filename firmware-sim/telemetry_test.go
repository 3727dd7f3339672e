package firmwaresim

import (
	"math"
	"testing"
	"time"
)

func TestGPSNoise(t *testing.T) {
	route := loadRoute(t, "testdata/line100.gpx")
	for seed := range uint64(3) {
		truth, err := NewRouteFollower(route, 9, false)
		must(t, err)
		inner, err := NewRouteFollower(route, 9, false)
		must(t, err)
		noisy := WithGPSNoise(inner, testRand(seed))
		want, got := drive(truth, 3*time.Hour, seed), drive(noisy, 3*time.Hour, seed)
		var sumOff, sumStep float64
		minAcc, maxAcc := math.Inf(1), 0.0
		for i := range got {
			g, w := got[i], want[i]
			if g.Time != w.Time || g.Speed != w.Speed || g.Bearing != w.Bearing {
				t.Fatalf("seed %d fix %d: noise changed time, speed or bearing: %+v, true %+v", seed, i, g, w)
			}
			if g.Accuracy < minAccuracy || g.Accuracy > maxAccuracy {
				t.Fatalf("seed %d fix %d: accuracy %.2f m", seed, i, g.Accuracy)
			}
			off := refDistance(g, w)
			if off > g.Accuracy*(1+1e-6) {
				t.Fatalf("seed %d fix %d: %.2f m off, beyond its accuracy %.2f m", seed, i, off, g.Accuracy)
			}
			sumOff += off
			minAcc, maxAcc = math.Min(minAcc, g.Accuracy), math.Max(maxAcc, g.Accuracy)
			if i > 0 {
				// The error drifts: consecutive errors differ by much less
				// than the error itself.
				e1 := [2]float64{(g.Lat - w.Lat) * metresPerDegree, (g.Lon - w.Lon) * metresPerDegree * math.Cos(degToRad(w.Lat))}
				p, q := got[i-1], want[i-1]
				e0 := [2]float64{(p.Lat - q.Lat) * metresPerDegree, (p.Lon - q.Lon) * metresPerDegree * math.Cos(degToRad(q.Lat))}
				sumStep += math.Hypot(e1[0]-e0[0], e1[1]-e0[1])
			}
		}
		meanOff, meanStep := sumOff/float64(len(got)), sumStep/float64(len(got)-1)
		t.Logf("seed %d: mean error %.2f m, mean change %.2f m per fix, accuracy %.1f–%.1f m", seed, meanOff, meanStep, minAcc, maxAcc)
		if meanOff < 1 || meanStep > meanOff/2 || maxAcc-minAcc < 2 {
			t.Errorf("seed %d: mean error %.2f m, mean change %.2f m, accuracy %.1f–%.1f m: want a drifting error of metres and an accuracy that varies", seed, meanOff, meanStep, minAcc, maxAcc)
		}
	}
}

func TestSensors(t *testing.T) {
	spec := TelemetrySpec{Every: 30 * time.Second, Battery: &BatterySpec{Start: 80, DrainPerHour: 3}, Temperature: &TemperatureSpec{Mean: 5, Swing: 2}}
	s := NewSensors(spec, testRand(3))
	if s.Every() != 30*time.Second {
		t.Errorf("Every %v", s.Every())
	}
	var prevBattery float64
	recharges := 0
	minT, maxT := math.Inf(1), math.Inf(-1)
	start := t0
	for at := start; at.Before(start.Add(72 * time.Hour)); at = at.Add(spec.Every) {
		rs := s.Read(at)
		if len(rs) != 2 || rs[0].Name != SensorBattery || rs[0].Unit != UnitPercent || rs[1].Name != SensorTemperature || rs[1].Unit != UnitCelsius {
			t.Fatalf("readings %+v", rs)
		}
		b, c := rs[0].Value, rs[1].Value
		if b < 0 || b > 80 {
			t.Fatalf("%v: battery %.1f %%", at, b)
		}
		if at == start && b != 80 {
			t.Errorf("battery starts at %.1f, want 80", b)
		}
		if wantB := 80 - math.Mod(3*at.Sub(start).Hours(), 80); math.Abs(b-wantB) > 0.051 {
			t.Fatalf("%v: battery %.2f, want %.2f", at, b, wantB)
		}
		if b > prevBattery && at != start {
			recharges++
		}
		prevBattery = b
		if c < 5-2-0.3 || c > 5+2+0.3 {
			t.Fatalf("%v: %.2f °C outside 5 ± 2.3", at, c)
		}
		minT, maxT = math.Min(minT, c), math.Max(maxT, c)
	}
	if recharges != 2 { // 72 h at 3 %/h from 80 %: empty at 26.7 h and 53.3 h
		t.Errorf("%d recharges in 72 h, want 2", recharges)
	}
	if maxT-minT < 3.5 {
		t.Errorf("temperature only ranged %.2f–%.2f °C over three days", minT, maxT)
	}
	// Afternoon warmer than night.
	s2 := NewSensors(spec, testRand(3))
	night, afternoon := s2.Read(t0.Add(-4 * time.Hour))[1].Value, s2.Read(t0.Add(8 * time.Hour))[1].Value
	if afternoon <= night {
		t.Errorf("03:00 %.2f °C, 15:00 %.2f °C: want the afternoon warmer", night, afternoon)
	}
}

func TestSensorsDeterministic(t *testing.T) {
	spec := TelemetrySpec{Temperature: &TemperatureSpec{Mean: 20, Swing: 5}}
	a, b, c := NewSensors(spec, testRand(1)), NewSensors(spec, testRand(1)), NewSensors(spec, testRand(2))
	differs := false
	for i := range 100 {
		at := t0.Add(time.Duration(i) * time.Minute)
		ra, rb, rc := a.Read(at), b.Read(at), c.Read(at)
		if len(ra) != 1 || ra[0] != rb[0] {
			t.Fatalf("same seed, different readings: %+v %+v", ra, rb)
		}
		differs = differs || ra[0] != rc[0]
	}
	if !differs {
		t.Error("seeds 1 and 2 read alike")
	}
	if rs := NewSensors(TelemetrySpec{Every: time.Second}, testRand(1)).Read(t0); len(rs) != 0 {
		t.Errorf("no sensors, readings %+v", rs)
	}
}

func TestBatteryLevel(t *testing.T) {
	for _, c := range []struct {
		b    BatterySpec
		d    time.Duration
		want float64
	}{
		{BatterySpec{100, 3}, 0, 100},
		{BatterySpec{100, 3}, 10 * time.Hour, 70},
		{BatterySpec{100, 10}, 10 * time.Hour, 100}, // empty: recharged
		{BatterySpec{100, 10}, 11 * time.Hour, 90},
		{BatterySpec{50, 0}, 1000 * time.Hour, 50},
		{BatterySpec{100, 3}, -time.Hour, 100},
	} {
		if got := batteryLevel(c.b, c.d); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%+v after %v: %.2f, want %.2f", c.b, c.d, got, c.want)
		}
	}
}
