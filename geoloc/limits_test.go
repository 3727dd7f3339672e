package geoloc

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/buntdb"
)

// polygonFence is a fence named name whose rings are regular n-gons (no
// self-intersections, so every edge pair gets checked) around (lon, lat).
func polygonFence(name string, rings, n int) string {
	var rs []string
	for r := range rings {
		var pts []string
		radius := 1 / float64(r+1) // holes nest inside the outer ring
		for i := range n {
			a := 2 * math.Pi * float64(i) / float64(n)
			pts = append(pts, fmt.Sprintf("[%.7f,%.7f]", 10+radius*math.Cos(a), 50+radius*math.Sin(a)))
		}
		pts = append(pts, pts[0])
		rs = append(rs, "["+strings.Join(pts, ",")+"]")
	}
	return `{"type":"Feature","properties":{"name":"` + name + `"},"geometry":{"type":"Polygon","coordinates":[` + strings.Join(rs, ",") + `]}}`
}

func collection(features ...string) []byte {
	return []byte(`{"type":"FeatureCollection","features":[` + strings.Join(features, ",") + `]}`)
}

// A fence document that would cost seconds of CPU to check (one ring of
// 5,000 vertices, 60 rings of 1,000), or a fence that reaches past the
// planet, is refused before its shapes are checked, with an error naming
// the limit.
func TestFenceLimitsRefuseCostlyFences(t *testing.T) {
	var sixty []string
	for i := range 60 {
		sixty = append(sixty, polygonFence(fmt.Sprint("f", i), 1, 999))
	}
	var elevenK []string
	for i := range 11 {
		elevenK = append(elevenK, polygonFence(fmt.Sprint("g", i), 1, 999))
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"one fence of 5,000 vertices", []byte(polygonFence("big", 1, 5000)), "5001 vertices: a fence has at most 1000"},
		{"60 fences of 1,000 vertices", collection(sixty...), "60000 vertices in 60 fences: send at most 10000 at once"},
		{"11 fences of 1,000 vertices", collection(elevenK...), "11000 vertices in 11 fences: send at most 10000 at once"},
		{"101 rings", []byte(polygonFence("holes", 101, 4)), "101 rings: a fence has at most 100"},
		{"a radius of 1e308", []byte(`{"type":"Feature","properties":{"name":"C","radius":1e308},"geometry":{"type":"Point","coordinates":[1,2]}}`),
			"radius 1e+308 metres: a circle's is at most 1000000"},
		{"a corridor 2,000 km wide", []byte(`{"type":"Feature","properties":{"name":"L","width":2e6},"geometry":{"type":"LineString","coordinates":[[1,2],[2,3]]}}`),
			"width 2e+06 metres: a corridor's is at most 1000000"},
	} {
		if _, err := ParseFences(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// The largest fences allowed are accepted: a ring of 1,000 vertices, 100
// rings, a circle of 1,000 km, and ten fences of 1,000 vertices at once.
func TestFenceLimitsAcceptTheLargestAllowed(t *testing.T) {
	var ten []string
	for i := range 10 {
		ten = append(ten, polygonFence(fmt.Sprint("f", i), 1, 999))
	}
	for name, in := range map[string][]byte{
		"1,000 vertices":                []byte(polygonFence("big", 1, 999)),
		"100 rings":                     []byte(polygonFence("holes", 100, 9)),
		"10,000 vertices in ten fences": collection(ten...),
		"a circle of 1,000 km":          []byte(`{"type":"Feature","properties":{"name":"C","radius":1e6},"geometry":{"type":"Point","coordinates":[1,2]}}`),
	} {
		start := time.Now()
		if _, err := ParseFences(in); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		t.Logf("%s: checked in %v", name, time.Since(start))
	}
}

// A fence stored before the limits (here 2,000 vertices) still loads, so
// that an upgrade does not stop the hub.
func TestFenceStoredBeforeTheLimitsLoads(t *testing.T) {
	db, _ := buntdb.Open(":memory:")
	defer db.Close()
	s, err := OpenStore(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	old, err := parseFences([]byte(polygonFence("old", 1, 1999)), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddFences(old, nil); err != nil {
		t.Fatal(err)
	}
	again, err := OpenStore(db, Options{})
	if err != nil {
		t.Fatalf("reopening with a fence past today's limits: %v", err)
	}
	if fs := again.Fences(); len(fs) != 1 || fs[0].Name != "old" {
		t.Errorf("fences after reopening: %v", fs)
	}
}
