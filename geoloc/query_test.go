package geoloc

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestNearbyMatchesBruteForceEverywhere checks Nearby against a scan of
// every device, with points crowded at the poles and on both sides of the
// antimeridian, for several k, cut-offs and a filter.
func TestNearbyMatchesBruteForceEverywhere(t *testing.T) {
	s, err := OpenStore(openMem(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(13, 14))
	var ps []Position
	add := func(lat, lon float64) {
		p := Position{Device: fmt.Sprintf("d%d", len(ps)), Lat: lat, Lon: lon}
		ps = append(ps, p)
		s.latest[p.Device] = p
		s.index.Insert([2]float64{lon, lat}, [2]float64{lon, lat}, p.Device)
	}
	for _, p := range [][2]float64{{90, 0}, {-90, 45}, {0, 180}, {0, -180}, {89.999, 180}, {-89.999, -180}} {
		add(p[0], p[1])
	}
	for i := range 20000 {
		lon := r.Float64()*360 - 180
		switch i % 4 {
		case 0: // near a pole
			add(math.Copysign(85+r.Float64()*5, r.Float64()-0.5), lon)
		case 1: // a band either side of the antimeridian
			lon = 175 + r.Float64()*10
			if lon > 180 {
				lon -= 360
			}
			add(r.Float64()*180-90, lon)
		default:
			add(r.Float64()*180-90, lon)
		}
	}
	queries := [][2]float64{{90, 0}, {-90, 0}, {89.99, -179.99}, {-89.5, 180}, {0, 180}, {0, -180},
		{12, 179.999}, {-40, -179.999}, {52.5, 13.4}, {0, 190}, {10, -540}}
	for range 100 {
		queries = append(queries, [2]float64{r.Float64()*180 - 90, r.Float64()*360 - 180})
	}
	even := func(d string) bool { return (d[len(d)-1]-'0')%2 == 0 }
	type near struct {
		d float64
		p *Position
	}
	all := make([]near, len(ps))
	for _, q := range queries {
		for i := range ps {
			all[i] = near{Distance(q[0], q[1], ps[i].Lat, ps[i].Lon), &ps[i]}
		}
		slices.SortStableFunc(all, func(a, b near) int { return cmp.Compare(a.d, b.d) })
		// Longitudes outside ±180 are taken round first, so the haversine
		// may differ in the last bits there.
		tol := 0.0
		if math.Abs(q[1]) > 180 {
			tol = 1e-6
		}
		for _, k := range []int{1, 10, 100} {
			for _, max := range []float64{0, 1000, 100_000, 2_000_000} {
				for _, filter := range []func(string) bool{nil, even} {
					var want []near
					for _, n := range all {
						if len(want) == k || max > 0 && n.d > max {
							break
						}
						if filter == nil || filter(n.p.Device) {
							want = append(want, n)
						}
					}
					got := s.Nearby(q[0], q[1], k, max, filter)
					name := fmt.Sprintf("near %v, k=%d, max=%v, filtered=%v", q, k, max, filter != nil)
					if len(got) != len(want) {
						t.Fatalf("%s: %d hits, want %d", name, len(got), len(want))
					}
					// Ties may come in either order, so check each hit is
					// itself at the distance the scan has in its place.
					seen := map[string]bool{}
					for i, h := range got {
						if math.Abs(h.Distance-want[i].d) > tol || math.Abs(h.Distance-Distance(q[0], q[1], h.Lat, h.Lon)) > tol ||
							seen[h.Device] || h.Position != s.latest[h.Device] || filter != nil && !filter(h.Device) {
							t.Fatalf("%s, hit %d: %s at %v m, want %s at %v m", name, i, h.Device, h.Distance, want[i].p.Device, want[i].d)
						}
						seen[h.Device] = true
					}
				}
			}
		}
	}
}

// TestToBoxIsALowerBound checks the search's box bound against points of
// random boxes, big and small, at the poles and by the antimeridian.
func TestToBoxIsALowerBound(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	lat := func() float64 {
		if r.IntN(4) == 0 {
			return math.Copysign(80+r.Float64()*10, r.Float64()-0.5)
		}
		return r.Float64()*180 - 90
	}
	lon := func() float64 {
		if r.IntN(4) == 0 {
			return math.Copysign(170+r.Float64()*10, r.Float64()-0.5)
		}
		return r.Float64()*360 - 180
	}
	for i := range 50000 {
		q := newNearPoint(lat(), lon())
		minLat, minLon := lat(), lon()
		maxLat, maxLon := minLat+r.Float64()*(90-minLat), minLon+r.Float64()*(180-minLon)
		if i%2 == 0 { // small boxes, as at the index's leaves
			maxLat, maxLon = math.Min(90, minLat+r.Float64()*0.5), math.Min(180, minLon+r.Float64()*0.5)
		}
		bound := q.toBox(minLat, minLon, maxLat, maxLon)
		for j := range 9 {
			plat, plon := minLat+r.Float64()*(maxLat-minLat), minLon+r.Float64()*(maxLon-minLon)
			if j < 4 { // the corners
				plat, plon = []float64{minLat, maxLat}[j%2], []float64{minLon, maxLon}[j/2]
			}
			if h := q.to(plat, plon); h < bound {
				t.Fatalf("(%v,%v) to box [%v,%v]-[%v,%v]: bound %v exceeds %v to (%v,%v)",
					q.lat, q.lon, minLat, minLon, maxLat, maxLon, bound, h, plat, plon)
			}
		}
	}
}

func TestSinCosBelow(t *testing.T) {
	for i := range 100001 {
		x := float64(i) / 100000 * math.Pi / 2
		if s := sinBelow(x); s > math.Sin(x)*(1+1e-15) || s < math.Sin(x)-3e-4 {
			t.Fatalf("sinBelow(%v) = %v, sin %v", x, s, math.Sin(x))
		}
		if c := cosBelow(x); c > math.Cos(x)+1e-15 || c < math.Cos(x)-1e-3 {
			t.Fatalf("cosBelow(%v) = %v, cos %v", x, c, math.Cos(x))
		}
	}
}
