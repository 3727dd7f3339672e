package history_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	firmwaresim "github.com/geohub/geohub/firmware-sim"
	"github.com/geohub/geohub/internal/history"
)

// drivingDay is a day of one car from firmware-sim (a road walk through a
// street grid with GPS noise), one fix every 5 s give or take jitter, as
// the simulator puts it on the wire: time to the millisecond, position
// to 1e-6°, speed to 0.1 m/s, bearing and accuracy whole.
func drivingDay(seed uint64, start time.Time, jitter float64) []history.Point {
	rng := rand.New(rand.NewPCG(seed, 1))
	box := firmwaresim.Box{MinLon: 13.30, MinLat: 52.45, MaxLon: 13.50, MaxLat: 52.57}
	walk, err := firmwaresim.NewRoadWalk(rng, box, 14)
	if err != nil {
		panic(err)
	}
	m := firmwaresim.WithGPSNoise(walk, rng)
	round := func(v float64, digits int) float64 {
		p := math.Pow(10, float64(digits))
		return math.Round(v*p) / p
	}
	const n = 17_280
	pts := make([]history.Point, 0, n)
	t := start
	for range n {
		dt := time.Duration(float64(5*time.Second) * (1 + jitter*(2*rng.Float64()-1)))
		t = t.Add(dt)
		f := m.Next(t, dt)
		pts = append(pts, history.Point{Time: t.Truncate(time.Millisecond).UnixMilli(), Lat: round(f.Lat, 6), Lon: round(f.Lon, 6),
			Speed: round(f.Speed, 1), Bearing: math.Mod(round(f.Bearing, 0), 360), Accuracy: round(f.Accuracy, 0),
			Has: history.HasSpeed | history.HasBearing | history.HasAccuracy})
	}
	return pts
}

// BenchmarkBytesPerPoint fills a history file with a day of 100 cars from
// firmware-sim, sealed in rounds of 10 minutes as the sealer would (the
// open blocks rewritten each round), and reports the file's size per
// point: bbolt's pages, branch pages and free pages included (on disk:
// the disk blocks the file takes; in file: bbolt's high-water mark), and
// the encoded blocks alone.
func BenchmarkBytesPerPoint(b *testing.B) {
	for _, jitter := range []float64{0, 0.2} {
		b.Run(fmt.Sprintf("jitter=%g", jitter), func(b *testing.B) {
			const cars = 100
			start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			full := make([][]history.Point, cars)
			encoded := 0
			for i := range full {
				full[i] = drivingDay(uint64(i), start, jitter)
				for j := 0; j < len(full[i]); j += 512 {
					encoded += len(history.AppendBlock(nil, full[i][j:min(j+512, len(full[i]))]))
				}
			}
			for range b.N {
				days := slices.Clone(full)
				s, err := history.Open(filepath.Join(b.TempDir(), history.File), history.Options{})
				if err != nil {
					b.Fatal(err)
				}
				total := 0
				for end := start.Add(10 * time.Minute); ; end = end.Add(10 * time.Minute) {
					batch := map[string][]history.Point{}
					for i, day := range days {
						n, _ := slices.BinarySearchFunc(day, end.UnixMilli(), func(p history.Point, t int64) int { return int(p.Time - t) })
						if n > 0 {
							batch[fmt.Sprintf("car%d@localhost", i)] = day[:n]
							total += n
							days[i] = day[n:]
						}
					}
					if len(batch) == 0 {
						break
					}
					if err := s.Seal(batch, nil); err != nil {
						b.Fatal(err)
					}
				}
				used, onDisk, err := s.Size()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(onDisk)/float64(total), "B/point-on-disk")
				b.ReportMetric(float64(used)/float64(total), "B/point-in-file")
				b.ReportMetric(float64(encoded)/float64(total), "B/point-encoded")
				b.ReportMetric(float64(total), "points")
				s.Close()
			}
		})
	}
}

// BenchmarkSealRound is one sealer round with 10,000 devices, each with
// an open block half full (256 points) and two new points (10 s of fixes
// every 5 s): the cost of rewriting every open block each round.
func BenchmarkSealRound(b *testing.B) {
	const devices = 10_000
	s, err := history.Open(filepath.Join(b.TempDir(), history.File), history.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	day := drivingDay(1, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), 0)
	batch := map[string][]history.Point{}
	for d := range devices {
		batch[fmt.Sprintf("car%d@localhost", d)] = day[:256]
	}
	if err := s.Seal(batch, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		at := 256 + 2*(i%100)
		for d := range devices {
			batch[fmt.Sprintf("car%d@localhost", d)] = day[at : at+2]
		}
		if err := s.Seal(batch, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/round")
}
