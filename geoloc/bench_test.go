package geoloc

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/history"
	"github.com/geohub/geohub/internal/store"
	"github.com/tidwall/buntdb"
)

// BenchmarkIngest measures fixes through the whole store path, durable:
// staged, committed in group-commit batches by the one writer (fsync per
// batch), trail point and latest fix written, the index moved, fences
// evaluated. 10,000 devices report in turn over a 1° square; producers
// submit from several goroutines as sessions would. The fences are
// squares of about 300 m scattered over the same area.
func BenchmarkIngest(b *testing.B) {
	for _, n := range []int{0, 1000, 10_000} {
		b.Run(fmt.Sprintf("fences=%d", n), func(b *testing.B) { benchIngest(b, n, false) })
	}
}

// BenchmarkIngestHistory is BenchmarkIngest/fences=0 with the trails in a
// history store, its sealer moving them out of BuntDB at the default
// interval while the fixes come in (with a seal delay of a second: the
// fixes' times are an hour old, so each round moves everything committed
// up to a second before). Run it for several seal intervals (-benchtime
// 30s): it reports the share of the fixes sealed by the end.
func BenchmarkIngestHistory(b *testing.B) { benchIngest(b, 0, true) }

func benchIngest(b *testing.B, fences int, withHistory bool) {
	opt := Options{}
	if withHistory {
		h, err := history.Open(filepath.Join(b.TempDir(), history.File), history.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { h.Close() })
		opt = Options{History: h, SealDelay: time.Second}
	}
	s, _ := openDurable(b, opt)
	defer s.Close()
	r := rand.New(rand.NewPCG(5, 6))
	var fs []*Fence
	for i := range fences {
		lat, lon := 52+r.Float64(), 13+r.Float64()
		f, err := ParseFences(fmt.Appendf(nil, `{"type":"Feature","properties":{"name":"f%d","events":["enter","exit","cross"]},`+
			`"geometry":{"type":"Polygon","coordinates":[[[%v,%v],[%v,%v],[%v,%v],[%v,%v],[%v,%v]]]}}`,
			i, lon, lat, lon+0.004, lat, lon+0.004, lat+0.003, lon, lat+0.003, lon, lat))
		if err != nil {
			b.Fatal(err)
		}
		fs = append(fs, f...)
	}
	if _, err := s.AddFences(fs, nil); err != nil {
		b.Fatal(err)
	}
	var events atomic.Int64
	s.AddSink(func(es []Event) { events.Add(int64(len(es))) })
	commit := s.commit
	const devices = 10_000
	start := time.Now().Add(-time.Hour)
	// Each device drives: about 20 m between fixes, bouncing off the
	// edges of the square.
	type car struct{ lat, lon, dlat, dlon float64 }
	produce(b, commit, 1, func(r *rand.Rand) stageFunc {
		cars := map[int]*car{}
		return func(i int) (store.Write, func(error), error) {
			c := cars[i%devices]
			if c == nil {
				c = &car{52 + r.Float64(), 13 + r.Float64(), (r.Float64() - 0.5) * 0.0004, (r.Float64() - 0.5) * 0.0006}
				cars[i%devices] = c
			}
			c.lat, c.lon = c.lat+c.dlat, c.lon+c.dlon
			if c.lat < 52 || c.lat > 53 {
				c.dlat = -c.dlat
			}
			if c.lon < 13 || c.lon > 14 {
				c.dlon = -c.dlon
			}
			return s.Stage(Position{Device: fmt.Sprintf("dev%d@localhost", i%devices), Lat: c.lat, Lon: c.lon,
				Time: start.Add(time.Duration(i) * time.Millisecond), Received: start})
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fixes/s")
	b.ReportMetric(float64(events.Load())/float64(b.N), "events/fix")
	if withHistory {
		b.ReportMetric(1-float64(s.trailCount())/float64(b.N), "sealed/fix")
	}

}

func fill(b *testing.B, n int) *Store {
	b.Helper()
	s, err := OpenStore(openMem(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for i := range n {
		lat, lon := r.Float64()*140-70, r.Float64()*360-180
		dev := fmt.Sprintf("dev%d", i)
		s.latest[dev] = Position{Device: dev, Lat: lat, Lon: lon}
		s.index.Insert([2]float64{lon, lat}, [2]float64{lon, lat}, dev)
	}
	return s
}

// BenchmarkNearby is k=10 nearest devices to random points, great-circle.
func BenchmarkNearby(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			s := fill(b, n)
			r := rand.New(rand.NewPCG(9, 10))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if len(s.Nearby(r.Float64()*140-70, r.Float64()*360-180, 10, 0, nil)) != 10 {
					b.Fatal("fewer than 10 hits")
				}
			}
		})
	}
}

// BenchmarkWithinBox is the devices inside a 1° x 1° box.
func BenchmarkWithinBox(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			s := fill(b, n)
			r := rand.New(rand.NewPCG(11, 12))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				lat, lon := r.Float64()*138-69, r.Float64()*358-179
				s.Within(Box{lat, lon, lat + 1, lon + 1}, nil)
			}
		})
	}
}

// BenchmarkMemory measures what the store holds in memory per device (the
// latest fix, indexed) and per trail point.
func BenchmarkMemory(b *testing.B) {
	const devices, points = 20_000, 200_000
	for range b.N {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		db := openMem(b)
		s, err := OpenStore(db, Options{})
		if err != nil {
			b.Fatal(err)
		}
		commit := store.NewCommitter(db)
		ingest := func(n int, dev func(i int) string) {
			var wg sync.WaitGroup
			now := time.Now().Add(-time.Hour)
			for i := range n {
				wg.Add(1)
				speed := 10.0
				p := Position{Device: dev(i), Lat: 52 + float64(i%1000)/1000, Lon: 13 + float64(i%777)/1000,
					Time: now.Add(time.Duration(i) * time.Millisecond), Received: now, Geoloc: Geoloc{Speed: &speed}}
				w, then, _ := s.Stage(p)
				commit.Submit(w, func(err error) { then(err); wg.Done() })
			}
			wg.Wait()
		}
		ingest(devices, func(i int) string { return fmt.Sprintf("device-%d@fleet.example.com", i) })
		runtime.GC()
		var mid runtime.MemStats
		runtime.ReadMemStats(&mid)
		ingest(points, func(i int) string { return fmt.Sprintf("device-%d@fleet.example.com", i%devices) })
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(mid.HeapInuse-before.HeapInuse)/devices, "B/device")
		b.ReportMetric(float64(after.HeapInuse-mid.HeapInuse)/points, "B/trail-point")
		commit.Close()
		db.Close()
	}
}

// stageFunc stages the i-th write of a benchmark.
type stageFunc func(i int) (store.Write, func(error), error)

// produce stages writes 0 to b.N-1 from four producers, as sessions would,
// each keeping up to 512 in flight, and submits them to commit; it returns
// once all are durable. Each producer gets its own stageFunc from newStage,
// with its own random source (seeded by seed and the producer).
func produce(b *testing.B, commit *store.Committer, seed uint64, newStage func(*rand.Rand) stageFunc) {
	const producers, window = 4, 2048
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range producers {
		wg.Go(func() {
			stage := newStage(rand.New(rand.NewPCG(uint64(w), seed)))
			sem := make(chan struct{}, window/producers)
			var done sync.WaitGroup
			for i := w; i < b.N; i += producers {
				sem <- struct{}{}
				done.Add(1)
				write, then, err := stage(i)
				if err != nil {
					b.Error(err)
					return
				}
				commit.Submit(write, func(err error) {
					then(err)
					<-sem
					done.Done()
				})
			}
			done.Wait()
		})
	}
	wg.Wait()
}

// openDurable opens a store in a data folder as geohub serve does (the
// folder's lock, the hub's BuntDB settings), closed when the benchmark ends.
func openDurable(b *testing.B, opt Options) (*Store, *buntdb.DB) {
	b.Helper()
	d, err := store.Lock(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Unlock() })
	db, err := d.Open()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	commit := store.NewCommitter(db)
	b.Cleanup(commit.Close)
	opt.Commit = commit
	s, err := OpenStore(db, opt)
	if err != nil {
		b.Fatal(err)
	}
	return s, db
}

func openMem(b testing.TB) *buntdb.DB {
	b.Helper()
	db, err := buntdb.Open(":memory:")
	if err != nil {
		b.Fatal(err)
	}
	return db
}
