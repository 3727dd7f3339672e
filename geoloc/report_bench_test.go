package geoloc

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// synthTrail is a device's trail at one fix every 5 s from start for
// days: each hour 20 minutes of driving (speed reported, heading drifting)
// and 40 standing with GPS jitter; silent from 22:00 to 06:00.
func synthTrail(seed uint64, start time.Time, days int) []TrailPoint {
	r := rand.New(rand.NewPCG(seed, 1))
	lat, lon := 52.0+r.Float64(), 13.0+r.Float64()
	heading := r.Float64() * 2 * math.Pi
	pts := make([]TrailPoint, 0, days*17280*2/3)
	for t := start; t.Before(start.AddDate(0, 0, days)); t = t.Add(5 * time.Second) {
		if h := t.Hour(); h >= 22 || h < 6 {
			continue
		}
		speed := 0.0
		jlat, jlon := (r.Float64()-0.5)*0.0003, (r.Float64()-0.5)*0.0004
		if t.Minute() < 20 {
			speed = 8 + r.Float64()*8
			heading += (r.Float64() - 0.5) * 0.3
			lat += speed * 5 * math.Cos(heading) / 111_195
			lon += speed * 5 * math.Sin(heading) / (111_195 * math.Cos(lat*math.Pi/180))
			jlat, jlon = 0, 0
		}
		s := speed
		pts = append(pts, TrailPoint{Time: t, Lat: lat + jlat, Lon: lon + jlon, Speed: &s})
	}
	return pts
}

// reportP99 records each report's time and reports their 99th percentile.
type reportP99 []time.Duration

func (p reportP99) report(b *testing.B, unit string) {
	slices.Sort(p)
	if len(p) > 0 {
		b.ReportMetric(float64(p[len(p)*99/100].Microseconds())/1000, unit)
	}
}

// One device-month: 30 days of fixes every 5 s (345,600 fixes, the nights
// silent), analysed into trips and stops and summed up by day.
func BenchmarkReportDeviceMonth(b *testing.B) {
	pts := synthTrail(1, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 30)
	b.ReportMetric(float64(len(pts)), "fixes")
	var times reportP99
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		trips, stops := Analyze(pts, ReportOptions{})
		days := Summarize(trips, stops, time.UTC)
		if len(days) != 30 || len(trips) < 30*16 {
			b.Fatalf("%d days, %d trips", len(days), len(trips))
		}
		times = append(times, time.Since(t0))
	}
	times.report(b, "p99-ms")
}

// A 1,000-device day: each device's day (11,520 fixes) analysed and summed
// up; ns/op is the whole fleet, p99-device-ms one device's report.
func BenchmarkReportFleetDay(b *testing.B) {
	const devices = 1000
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	trails := make([][]TrailPoint, 50) // 50 distinct days, reused round the fleet
	for i := range trails {
		trails[i] = synthTrail(uint64(i), day, 1)
	}
	var times reportP99
	b.ResetTimer()
	for range b.N {
		for d := range devices {
			t0 := time.Now()
			trips, stops := Analyze(trails[d%len(trails)], ReportOptions{})
			Summarize(trips, stops, time.UTC)
			times = append(times, time.Since(t0))
		}
	}
	times.report(b, "p99-device-ms")
}
