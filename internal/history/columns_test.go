package history

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// Reads cut a range out of several blocks, with the cache and without,
// and give the points that were sealed, as columns and as points.
func TestEachColumnsAcrossBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pts := make([]Point, 200)
	tm := int64(1_700_000_000_000)
	for i := range pts {
		tm += 1 + r.Int64N(5000)
		pts[i] = Point{Time: tm, Lat: r.Float64()*180 - 90, Lon: r.Float64()*360 - 180, Has: uint8(r.IntN(16))}
		for f := range optionalFields {
			if pts[i].Has&(1<<f) != 0 {
				*pts[i].optional(f) = r.Float64() * 1000
			}
		}
		pts[i] = pts[i].Quantised()
	}
	for _, cache := range []int{0, -1} {
		s := openTest(t, Options{BlockPoints: 16, CacheBytes: cache})
		if err := s.Seal(map[string][]Point{"car": pts}, nil); err != nil {
			t.Fatal(err)
		}
		for range 50 {
			i := r.IntN(len(pts))
			j := i + r.IntN(len(pts)-i)
			from, to := pts[i].Time-r.Int64N(2), pts[j].Time+r.Int64N(2)
			var want []Point
			for _, p := range pts {
				if p.Time >= from && p.Time <= to {
					want = append(want, p)
				}
			}
			var got []Point
			runs := 0
			err := s.EachColumns("car", from, to, func(c *Columns) bool {
				runs++
				for k := range c.Len() {
					got = append(got, c.Point(k))
				}
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(mustPoints(t, s, "car", from, to), want) {
				t.Fatalf("cache %d, [%d, %d]: %d points in %d runs, want %d", cache, from, to, len(got), runs, len(want))
			}
			if max := s.MaxPoints("car", from, to); max < len(got) {
				t.Fatalf("MaxPoints %d < %d points", max, len(got))
			}
		}
		if got := mustPoints(t, s, "car", 0, 1<<62); !reflect.DeepEqual(got, pts) {
			t.Fatalf("cache %d: the whole trail differs", cache)
		}
	}
}

// A block decodes into columns that were longer before, and the values
// of the optional measures land on the points that have them.
func TestColumnsReuseAndSpread(t *testing.T) {
	var c Columns
	long := track(0, 40, 1000)
	if err := c.decode(appendBlock(nil, long)); err != nil || c.Len() != 40 {
		t.Fatalf("%d points: %v", c.Len(), err)
	}
	short := []Point{
		{Time: 1, Lat: 1, Lon: 1, Alt: 3, Has: HasAlt},
		{Time: 2, Lat: 2, Lon: 2},
		{Time: 3, Lat: 3, Lon: 3, Speed: 4, Alt: 5, Has: HasSpeed | HasAlt},
	}
	if err := c.decode(appendBlock(nil, short)); err != nil {
		t.Fatal(err)
	}
	for i, p := range short {
		if got := c.Point(i); got != p {
			t.Errorf("point %d: %+v, want %+v", i, got, p)
		}
	}
	if !reflect.DeepEqual(ColumnsOf(short).Point(2), short[2]) {
		t.Errorf("ColumnsOf: %+v", ColumnsOf(short).Point(2))
	}
}

// A long read puts at most cachedPerRead blocks in the cache, and reads
// the same with them.
func TestLongReadsCacheFewBlocks(t *testing.T) {
	s := openTest(t, Options{BlockPoints: 4})
	pts := track(0, 4*(cachedPerRead+20), 1000)
	if err := s.Seal(map[string][]Point{"car": pts}, nil); err != nil {
		t.Fatal(err)
	}
	// The second read finds the first blocks cached and admits the rest.
	for _, want := range []int{cachedPerRead, cachedPerRead + 20} {
		if got := mustPoints(t, s, "car", 0, 1<<62); !reflect.DeepEqual(got, pts) {
			t.Fatalf("%d points, want %d", len(got), len(pts))
		}
		if n := s.cache.order.Len(); n != want {
			t.Fatalf("%d blocks cached, want %d", n, want)
		}
	}
}
