package geoloc

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/history"
	"github.com/geohub/geohub/internal/store"
	"github.com/tidwall/buntdb"
)

// The large-history benchmarks share one history file of
// GEOHUB_BENCH_POINTS points (default 10 million) in GEOHUB_BENCH_DIR
// (default a temporary folder), built once and kept there when the folder
// is given: 2,000 devices with equal shares, plus month@bench with 30 days
// of one fix every 5 s (518,400 points). The points are a day of a car
// moving along a line with speed, bearing and accuracy, shifted for each
// device-day.

const monthDevice = "month@bench"

var benchStart = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

func benchDay(seed int) []history.Point {
	r := rand.New(rand.NewPCG(uint64(seed), 9))
	pts := make([]history.Point, 17_280)
	lat, lon := 52+r.Float64()/10, 13+r.Float64()/10
	for i := range pts {
		lat += (r.Float64() - 0.3) * 4e-4
		lon += (r.Float64() - 0.3) * 6e-4
		pts[i] = history.Point{Time: int64(i) * 5000, Lat: float64(int(lat*1e6)) / 1e6, Lon: float64(int(lon*1e6)) / 1e6,
			Speed: float64(r.IntN(300)) / 10, Bearing: float64(r.IntN(360)), Accuracy: float64(3 + r.IntN(10)),
			Has: history.HasSpeed | history.HasBearing | history.HasAccuracy}
	}
	return pts
}

// largeHistory returns the path of the shared file, building it if needed.
func largeHistory(b *testing.B) (path string, points int) {
	points = 10_000_000
	if v := os.Getenv("GEOHUB_BENCH_POINTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		points = n
	}
	dir := os.Getenv("GEOHUB_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	path = filepath.Join(dir, fmt.Sprintf("history-%d.db", points))
	if _, err := os.Stat(path); err == nil {
		return path, points
	}
	start := time.Now()
	h, err := history.Open(path+".tmp", history.Options{CacheBytes: -1})
	if err != nil {
		b.Fatal(err)
	}
	days := make([][]history.Point, 16)
	for i := range days {
		days[i] = benchDay(i)
	}
	shifted := func(day []history.Point, at time.Time) []history.Point {
		out := slices.Clone(day)
		for i := range out {
			out[i].Time += at.UnixMilli()
		}
		return out
	}
	month := 30 * 17_280
	var batch = map[string][]history.Point{}
	for d := range 30 {
		batch[monthDevice] = append(batch[monthDevice], shifted(days[d%len(days)], benchStart.AddDate(0, 0, d))...)
	}
	const devices = 2000
	per := max(0, points-month) / devices
	size := 0
	for dev := range devices {
		name := fmt.Sprintf("car%d@bench", dev)
		for i := 0; i < per; i += 17_280 {
			day := shifted(days[(dev+i)%len(days)], benchStart.AddDate(0, 0, i/17_280))
			batch[name] = append(batch[name], day[:min(len(day), per-i)]...)
			size += min(len(day), per-i)
		}
		if size >= 4_000_000 || dev == devices-1 {
			if err := h.Seal(batch, nil); err != nil {
				b.Fatal(err)
			}
			batch, size = map[string][]history.Point{}, 0
		}
	}
	used, onDisk, _ := h.Size()
	h.Close()
	if err := os.Rename(path+".tmp", path); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %s: %d points in %v, %.1f B/point in use, %.1f on disk", path, points, time.Since(start).Round(time.Second),
		float64(used)/float64(points), float64(onDisk)/float64(points))
	return path, points
}

// rss reads this process's resident memory, anonymous (heap, stacks) and
// file-backed (the mapped history file, which the kernel may drop), in
// bytes.
func rss() (anon, file int64) {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "RssAnon:":
			anon = kb << 10
		case "RssFile:":
			file = kb << 10
		}
	}
	return
}

// openLarge opens a store as geohub serve does (a data folder's BuntDB,
// the history file, the sealer running) and returns it with the time the
// opening took and the function that closes it.
func openLarge(b *testing.B, path string, cache int) (*Store, time.Duration, func()) {
	start := time.Now()
	d, err := store.Lock(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	db, err := d.Open()
	if err != nil {
		b.Fatal(err)
	}
	h, err := history.Open(path, history.Options{CacheBytes: cache})
	if err != nil {
		b.Fatal(err)
	}
	commit := store.NewCommitter(db)
	s, err := OpenStore(db, Options{Commit: commit, History: h, Retention: 10 * 365 * 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	return s, time.Since(start), func() {
		s.Close()
		commit.Close()
		h.Close()
		db.Close()
		d.Unlock()
	}
}

// BenchmarkLargeHistoryOpen is a restart: opening the store with the
// large history file, and the memory it takes then and after a thousand
// reads of device-days, next to an empty store in the same process.
func BenchmarkLargeHistoryOpen(b *testing.B) {
	path, points := largeHistory(b)
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapInuse)
	}
	for range b.N {
		h0 := heap()
		a0, _ := rss()
		_, _, closeEmpty := openLarge(b, filepath.Join(b.TempDir(), history.File), 0)
		emptyHeap := heap() - h0
		aEmpty, _ := rss()
		h1 := heap()
		s, took, closeLarge := openLarge(b, path, 0)
		openHeap := heap() - h1
		aOpen, _ := rss()
		r := rand.New(rand.NewPCG(1, 2))
		for range 1000 {
			dev := fmt.Sprintf("car%d@bench", r.IntN(2000))
			from := benchStart.AddDate(0, 0, r.IntN(max(1, points/2000/17_280)))
			s.TrailPoints(dev, from, from.Add(24*time.Hour))
		}
		readHeap := heap() - h1
		aRead, fRead := rss()
		b.ReportMetric(float64(took.Microseconds())/1000, "open-ms")
		b.ReportMetric(float64(emptyHeap)/(1<<20), "heap-MiB-empty")
		b.ReportMetric(float64(openHeap)/(1<<20), "heap-MiB-opened")
		b.ReportMetric(float64(readHeap)/(1<<20), "heap-MiB-after-reads")
		b.ReportMetric(float64(aEmpty-a0)/(1<<20), "rss-anon-MiB-empty")
		b.ReportMetric(float64(aOpen-aEmpty)/(1<<20), "rss-anon-MiB-opened")
		b.ReportMetric(float64(aRead-aEmpty)/(1<<20), "rss-anon-MiB-after-reads")
		b.ReportMetric(float64(fRead)/(1<<20), "rss-file-MiB-after-reads")
		b.ReportMetric(float64(points), "points")
		closeLarge()
		closeEmpty()
	}
}

// BenchmarkTrailRead reads month@bench from the large history: a day
// (17,280 points) at random, and the whole month (518,400 points), as
// TrailPoints gives them, with the decoded-block cache (default size) and
// without; it reports the 99th percentile.
func BenchmarkTrailRead(b *testing.B) {
	path, _ := largeHistory(b)
	for _, c := range []struct {
		name  string
		cache int
	}{{"cache", 0}, {"nocache", -1}} {
		s, _, closeStore := openLarge(b, path, c.cache)
		for _, span := range []struct {
			name string
			days int
		}{{"day", 1}, {"month", 30}} {
			b.Run(span.name+"/"+c.name, func(b *testing.B) {
				r := rand.New(rand.NewPCG(3, 4))
				var took []time.Duration
				for range b.N {
					from := benchStart.AddDate(0, 0, r.IntN(31-span.days))
					t0 := time.Now()
					pts := s.TrailPoints(monthDevice, from, from.Add(time.Duration(span.days)*24*time.Hour-time.Millisecond))
					took = append(took, time.Since(t0))
					if len(pts) != span.days*17_280 {
						b.Fatalf("%d points", len(pts))
					}
				}
				slices.Sort(took)
				b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
				b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			})
		}
		closeStore()
	}
}

// BenchmarkMigration moves a data folder's trail from BuntDB into a new
// history store, as the first start after an upgrade does: 1,000 devices
// with 1,000 points each written as trk: keys, then the sealer's rounds
// (SealRound, back to back) until none is left. It reports points/s.
func BenchmarkMigration(b *testing.B) {
	const devices, per = 1000, 1000
	for range b.N {
		b.StopTimer()
		d, err := store.Lock(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		db, err := d.Open()
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now().Add(-24 * time.Hour)
		speed := 12.5
		for dev := range devices {
			db.Update(func(tx *buntdb.Tx) error {
				for i := range per {
					pt := TrailPoint{Time: start.Add(time.Duration(i) * 5 * time.Second), Lat: 52 + float64(i)*1e-4, Lon: 13 + float64(dev)*1e-3, Speed: &speed}
					tx.Set(trailKey(fmt.Sprintf("dev%d@bench", dev), pt.Time), string(pt.appendJSON(nil)), nil)
				}
				return nil
			})
		}
		h, err := history.Open(filepath.Join(b.TempDir(), history.File), history.Options{})
		if err != nil {
			b.Fatal(err)
		}
		commit := store.NewCommitter(db)
		s, err := OpenStore(db, Options{Commit: commit, History: h, SealEvery: -1, SealDelay: -1})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		for more := true; more; {
			if _, more, err = s.SealRound(time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		took := time.Since(t0)
		b.StopTimer()
		if n := s.unsealedCount(); n != 0 {
			b.Fatalf("%d points left", n)
		}
		b.ReportMetric(devices*per/took.Seconds(), "points/s")
		commit.Close()
		h.Close()
		db.Close()
		d.Unlock()
	}
}
