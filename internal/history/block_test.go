package history

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestBlockRoundTripQuantises(t *testing.T) {
	f := func(v float64) float64 { return v }
	cases := map[string][]Point{
		"empty":     {},
		"one point": {{Time: 1764000000123, Lat: 52.52, Lon: 13.405, Speed: 12.3, Has: HasSpeed}},
		"negative, date line and poles": {
			{Time: -5000, Lat: -33.8688197, Lon: 179.9999999, Has: 0},
			{Time: -4000, Lat: -33.8688, Lon: -179.9999999, Bearing: 359.99, Has: HasBearing},
			{Time: 0, Lat: 90, Lon: -180, Alt: -412.5, Has: HasAlt},
			{Time: 1, Lat: -90, Lon: 180, Accuracy: 0.01, Has: HasAccuracy},
		},
		"optional fields come and go": {
			{Time: 1000, Lat: 1, Lon: 2, Speed: 1, Bearing: 2, Accuracy: 3, Alt: 4, Has: HasSpeed | HasBearing | HasAccuracy | HasAlt},
			{Time: 2000, Lat: 1.0000001, Lon: 2.0000001},
			{Time: 3000, Lat: 1.0000002, Lon: 2.0000002, Alt: 5.55, Has: HasAlt},
			{Time: 3001, Lat: 1.0000002, Lon: 2.0000002, Speed: f(0), Has: HasSpeed},
		},
	}
	for name, pts := range cases {
		got, err := decodeBlock(nil, appendBlock(nil, pts))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(pts) == 0 && len(got) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, pts) {
			t.Errorf("%s: got\n%+v\nwant\n%+v", name, got, pts)
		}
	}
	// More decimals than the quantum are rounded to it.
	in := []Point{{Time: 1, Lat: 52.123456789, Lon: -0.000000049, Speed: 3.14159, Has: HasSpeed}}
	got, _ := decodeBlock(nil, appendBlock(nil, in))
	if got[0].Lat != 52.1234568 || got[0].Lon != 0 || got[0].Speed != 3.14 || !reflect.DeepEqual(got[0], in[0].Quantised()) {
		t.Errorf("quantised: %+v", got[0])
	}
}

func TestBlockRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		pts := make([]Point, r.IntN(600))
		tm := r.Int64N(1 << 42)
		for i := range pts {
			tm += 1 + r.Int64N(10_000)
			p := Point{Time: tm, Lat: r.Float64()*180 - 90, Lon: r.Float64()*360 - 180, Has: uint8(r.IntN(16))}
			for f := range optionalFields {
				if p.Has&(1<<f) != 0 {
					*p.optional(f) = (r.Float64() - 0.5) * 1e4
				}
			}
			pts[i] = p.Quantised()
		}
		got, err := decodeBlock(nil, appendBlock(nil, pts))
		if err != nil || len(got) != len(pts) || len(pts) > 0 && !reflect.DeepEqual(got, pts) {
			t.Fatalf("round trip of %d points: %v", len(pts), err)
		}
	}
}

func TestBlockRefusesGarbage(t *testing.T) {
	b := appendBlock(nil, []Point{{Time: 1, Lat: 1, Lon: 1}, {Time: 2, Lat: 2, Lon: 2, Speed: 1, Has: HasSpeed}})
	for i := range b {
		if _, err := decodeBlock(nil, b[:i]); err == nil {
			t.Errorf("a block cut at %d of %d decoded", i, len(b))
		}
	}
	if _, err := decodeBlock(nil, append(b, 0)); err == nil {
		t.Error("a block with a trailing byte decoded")
	}
}

func TestQuantiseClampsAbsurdValues(t *testing.T) {
	p := Point{Time: 1, Speed: math.Inf(1), Alt: math.NaN(), Has: HasSpeed | HasAlt}
	got, err := decodeBlock(nil, appendBlock(nil, []Point{p, {Time: 2, Speed: math.Inf(-1), Has: HasSpeed}}))
	if err != nil || got[0].Alt != 0 || got[0].Speed <= 1e10 || got[1].Speed >= -1e10 {
		t.Errorf("%v %+v", err, got)
	}
}
