package history

import (
	"math"
	"reflect"
	"testing"
)

func TestSeriesBlockRoundTripIsExact(t *testing.T) {
	cases := map[string][]Reading{
		"decimal": {{Time: 1000, Value: 21.5, Unit: "°C"}, {Time: 31000, Value: 21.25, Unit: "°C"}, {Time: 61000, Value: -3, Unit: "°C"}},
		"raw": {{Time: 1, Value: 1.0 / 3}, {Time: 2, Value: math.Pi, Unit: "rad", Node: "imu"}, {Time: 3, Value: -1e300},
			{Time: 4, Value: math.SmallestNonzeroFloat64}},
		"labels come and go": {{Time: -5, Value: 87, Unit: "%"}, {Time: 0, Value: 86, Unit: "%", Node: "bms"}, {Time: 9, Value: 85}},
		"large integers":     {{Time: 1, Value: 1 << 52}, {Time: 2, Value: -(1 << 52)}},
		"one":                {{Time: 1764000000000, Value: 0.1}},
	}
	for name, rs := range cases {
		got, err := decodeSeriesBlock(nil, appendSeriesBlock(nil, rs))
		if err != nil || !reflect.DeepEqual(got, rs) {
			t.Errorf("%s: %v\n got %+v\nwant %+v", name, err, got, rs)
		}
	}
	if got, err := decodeSeriesBlock(nil, appendSeriesBlock(nil, nil)); err != nil || len(got) != 0 {
		t.Errorf("empty: %v %v", got, err)
	}
	b := appendSeriesBlock(nil, cases["labels come and go"])
	for i := range b {
		if _, err := decodeSeriesBlock(nil, b[:i]); err == nil {
			t.Errorf("a series block cut at %d of %d decoded", i, len(b))
		}
	}
}

func TestSeriesSealReadExpireDelete(t *testing.T) {
	s := openTest(t, Options{BlockPoints: 10})
	bat := Series{"van", "battery"}
	tmp := Series{"van", "temp:inside"} // a ':' in the name
	var rs []Reading
	for i := range 35 {
		rs = append(rs, Reading{Time: int64(i) * 1000, Value: float64(100 - i), Unit: "%"})
	}
	for range 2 { // sealing twice stores once
		if err := s.Seal(nil, map[Series][]Reading{bat: rs[:20], tmp: {{Time: 5, Value: 4.5}}}); err != nil {
			t.Fatal(err)
		}
	}
	late := Reading{Time: 2500, Value: 1, Unit: "%"}
	s.Seal(map[string][]Point{"van": {{Time: 1, Lat: 1, Lon: 1}}}, map[Series][]Reading{bat: append(rs[15:], late)})
	want := append(append(append([]Reading{}, rs[:3]...), late), rs[3:]...)
	got, err := s.Readings(bat, 0, 1<<62, 0)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("%v: got %d readings, want %d", err, len(got), len(want))
	}
	if got, _ := s.Readings(bat, 10_000, 20_000, 4); !reflect.DeepEqual(got, rs[10:14]) {
		t.Errorf("a range with a limit: %+v", got)
	}
	if got, _ := s.Readings(tmp, 0, 10, 0); len(got) != 1 || got[0].Value != 4.5 {
		t.Errorf("the other series: %+v", got)
	}
	n, err := s.Expire(never, func(d string) int64 {
		if d != "van" {
			t.Errorf("series cutoff asked for %q", d)
		}
		return 30_000
	}, 0)
	// The battery's blocks start at 0, 9000 (the late reading split the
	// first), 10000, 20000 and 30000: four go, and the temperature's one.
	if err != nil || n != 5 {
		t.Errorf("expired %d: %v", n, err)
	}
	if got, _ := s.Readings(bat, 0, 1<<62, 0); len(got) != 5 || got[0].Time != 30_000 {
		t.Errorf("after expiry: %+v", got)
	}
	if err := s.DeleteDevice("van"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Readings(bat, 0, 1<<62, 0); len(got) != 0 {
		t.Errorf("after DeleteDevice: %+v", got)
	}
	if pts, _ := s.Points("van", 0, 1<<62); len(pts) != 0 {
		t.Errorf("trail after DeleteDevice: %+v", pts)
	}
}
