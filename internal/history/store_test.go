package history

import (
	bolt "go.etcd.io/bbolt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func openTest(t *testing.T, opt Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), File), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func track(from int64, n int, step int64) []Point {
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{Time: from + int64(i)*step, Lat: 52 + float64(i)*1e-5, Lon: 13 + float64(i)*1e-5, Speed: 10, Has: HasSpeed}
	}
	return pts
}

func mustPoints(t *testing.T, s *Store, device string, from, to int64) []Point {
	t.Helper()
	pts, err := s.Points(device, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return pts
}

func TestSealTwiceStoresOnce(t *testing.T) {
	s := openTest(t, Options{BlockPoints: 100})
	pts := track(1_000_000, 250, 5000)
	for range 2 { // a crash after the first commit seals the same points again
		if err := s.Seal(map[string][]Point{"car": pts[:180]}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Seal(map[string][]Point{"car": pts[150:]}, nil); err != nil { // overlapping rounds
		t.Fatal(err)
	}
	got := mustPoints(t, s, "car", 0, 1<<62)
	if !reflect.DeepEqual(got, pts) {
		t.Fatalf("got %d points, want %d", len(got), len(pts))
	}
	if n := s.blockCount("car"); n != 3 {
		t.Errorf("%d blocks for 250 points at 100 a block", n)
	}
}

func TestLatePointsJoinTheCoveringBlock(t *testing.T) {
	s := openTest(t, Options{BlockPoints: 10})
	pts := track(1_000_000, 40, 5000)
	var even, odd []Point
	for i, p := range pts {
		if i%2 == 0 {
			even = append(even, p)
		} else {
			odd = append(odd, p)
		}
	}
	s.Seal(map[string][]Point{"car": even}, nil)
	// Late: older than what is sealed, and one before the first block.
	odd = append(odd, Point{Time: 10, Lat: -1, Lon: -1})
	if err := s.Seal(map[string][]Point{"car": odd}, nil); err != nil {
		t.Fatal(err)
	}
	want := append([]Point{{Time: 10, Lat: -1, Lon: -1}}, pts...)
	if got := mustPoints(t, s, "car", 0, 1<<62); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %d points, want %d:\n%+v", len(got), len(want), got)
	}
	// A range inside a block, and one between points.
	if got := mustPoints(t, s, "car", pts[3].Time, pts[5].Time); !reflect.DeepEqual(got, pts[3:6]) {
		t.Errorf("range: %+v", got)
	}
	if got := mustPoints(t, s, "car", pts[3].Time+1, pts[4].Time-1); len(got) != 0 {
		t.Errorf("between points: %+v", got)
	}
	// A replaced point: the same millisecond, another position.
	moved := pts[7]
	moved.Lat = 1
	s.Seal(map[string][]Point{"car": {moved}}, nil)
	if got := mustPoints(t, s, "car", pts[7].Time, pts[7].Time); len(got) != 1 || got[0].Lat != 1 {
		t.Errorf("replaced: %+v", got)
	}
}

func TestExpireDeletesWholeBlocks(t *testing.T) {
	s := openTest(t, Options{BlockPoints: 10})
	pts := track(0, 35, 1000) // blocks at 0, 10000, 20000, 30000
	s.Seal(map[string][]Point{"car": pts, "bus": pts[:5]}, nil)
	n, err := s.Expire(func(d string) int64 {
		if d == "bus" {
			return 1 << 62
		}
		return 25_000 // inside the third block: it stays whole
	}, never, 0)
	if err != nil || n != 3 {
		t.Fatalf("expired %d blocks: %v", n, err)
	}
	if got := mustPoints(t, s, "car", 0, 1<<62); !reflect.DeepEqual(got, pts[20:]) {
		t.Errorf("left %d points from %d", len(got), got[0].Time)
	}
	if d := s.Devices(); !reflect.DeepEqual(d, []string{"car"}) {
		t.Errorf("devices after expiry: %q", d)
	}
	if n, _ := s.Expire(func(string) int64 { return 1 << 62 }, never, 1); n != 1 {
		t.Errorf("a limit of 1 expired %d", n)
	}
}

func TestDeleteDeviceAndCache(t *testing.T) {
	s := openTest(t, Options{BlockPoints: 10})
	pts := track(0, 30, 1000)
	s.Seal(map[string][]Point{"car": pts, "bus": pts}, nil)
	mustPoints(t, s, "car", 0, 1<<62) // cached now
	moved := pts[25]
	moved.Lat = 7
	s.Seal(map[string][]Point{"car": {moved}}, nil)
	if got := mustPoints(t, s, "car", moved.Time, moved.Time); got[0].Lat != 7 {
		t.Errorf("a cached block survived the write that changed it: %+v", got)
	}
	if err := s.DeleteDevice("car"); err != nil {
		t.Fatal(err)
	}
	if got := mustPoints(t, s, "car", 0, 1<<62); len(got) != 0 {
		t.Errorf("%d points after DeleteDevice", len(got))
	}
	if got := mustPoints(t, s, "bus", 0, 1<<62); len(got) != 30 {
		t.Errorf("the other device has %d points", len(got))
	}
	if fi, err := os.Stat(s.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode: %v %v", fi.Mode(), err)
	}
}

// blockCount is the number of blocks of a device, for tests.
func (s *Store) blockCount(device string) int {
	n := 0
	s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(trailsBucket).Bucket([]byte(device)); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n
}

// never is a cutoff that expires nothing.
func never(string) int64 { return -1 << 62 }
