package geoloc

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/jsonw"
)

// The position's hand-written JSON is json.Marshal's, byte for byte,
// whatever its strings and numbers hold.
func TestPositionJSONIsMarshals(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	ts := time.Date(2026, 12, 7, 13, 30, 1, 123456789, time.FixedZone("x", 3600))
	full := Geoloc{Accuracy: f(3.5), Alt: f(-12.25), AltAccuracy: f(1e-7), Area: "a", Bearing: f(359.99), Building: "b",
		Country: "c", CountryCode: "DE", Datum: "WGS84", Description: "d", Floor: "2", Lat: f(52.5), Locality: "Berlin",
		Lon: f(13.4), PostalCode: "10115", Region: "r", Room: "5", Speed: f(1e22), Street: "s", Text: "t", Timestamp: &ts,
		TZO: "+01:00", URI: "http://example.com/?a=1&b=<2>", Lang: "de"}
	for _, p := range []Position{
		{Device: "car-1@localhost", Lat: 52.5, Lon: 13.4, Time: ts, Received: ts.UTC(), Source: "pep", Geoloc: full},
		{Device: "car-2@localhost", Lat: -0.0000001, Lon: 180, Source: "mqtt"},
		{Device: "odd\"\\\n\t\x01@localhost", Source: "é ü 漢字 \u2028 \u2029 \xff\xfe", Geoloc: Geoloc{Text: "</script>", Lat: f(0)}},
	} {
		got, err := jsonw.Record(p.jsonMembers)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := json.Marshal(p); got != string(want) {
			t.Errorf("wrote\n%s\nwant\n%s", got, want)
		}
	}
	for _, p := range []Position{{Lat: math.NaN()}, {Lon: math.Inf(1)}, {Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}} {
		if _, err := jsonw.Record(p.jsonMembers); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
}

func BenchmarkPositionJSON(b *testing.B) {
	f := func(v float64) *float64 { return &v }
	ts := time.Now()
	p := Position{Device: "car-17@localhost", Lat: 52.5, Lon: 13.4, Time: ts, Received: ts, Source: "pep",
		Geoloc: Geoloc{Lat: f(52.5), Lon: f(13.4), Speed: f(13.9), Bearing: f(90), Accuracy: f(5), Timestamp: &ts}}
	b.Run("Record", func(b *testing.B) {
		for b.Loop() {
			jsonw.Record(p.jsonMembers)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(p)
		}
	})
}

func FuzzPositionJSON(f *testing.F) {
	f.Add("car@localhost", "pep", "text", 52.5, 1e-9, int64(0))
	f.Add("a\"b", "\xff", "\u2028<&>", -1e21, 123456.789, int64(1<<62))
	f.Fuzz(func(t *testing.T, device, source, text string, lat, speed float64, nanos int64) {
		ts := time.Unix(0, nanos)
		p := Position{Device: device, Source: source, Lat: lat, Time: ts, Received: ts, Geoloc: Geoloc{Text: text, Speed: &speed}}
		got, err := jsonw.Record(p.jsonMembers)
		want, werr := json.Marshal(p)
		if (err != nil) != (werr != nil) {
			t.Fatalf("error %v, json.Marshal's %v", err, werr)
		}
		if err == nil && got != string(want) {
			t.Fatalf("wrote\n%s\nwant\n%s", got, want)
		}
	})
}

// Trail and series keys are as %020d wrote them (series clamped at 0),
// so that keys already on disk keep their order among new ones.
func TestTrailKeyIsPadded(t *testing.T) {
	for _, ns := range []int64{0, 1, 1_765_000_000_123_456_789, math.MaxInt64, -1, math.MinInt64} {
		tm := time.Unix(0, ns)
		if got, want := trailKey("car@localhost", tm), fmt.Sprintf("%scar@localhost:%020d", trailPrefix, ns); got != want {
			t.Errorf("trailKey(%d) = %q, want %q", ns, got, want)
		}
		if want := fmt.Sprintf("%020d", max(ns, 0)); nsKey(tm) != want {
			t.Errorf("nsKey(%d) = %q, want %q", ns, nsKey(tm), want)
		}
	}
}

// A trail point's key and value are what trailKey and appendJSON write,
// in one allocation (BuntDB holds both until the point is sealed).
func TestTrailRecordIsKeyAndValue(t *testing.T) {
	speed := 12.5
	pt := TrailPoint{Time: time.Unix(0, 1_765_000_000_123_456_789), Lat: 52.1, Lon: 4.3, Speed: &speed}
	key, val := trailRecord("car@localhost", pt)
	if want := trailKey("car@localhost", pt.Time); key != want {
		t.Errorf("key %q, want %q", key, want)
	}
	if want := string(pt.appendJSON(nil)); val != want {
		t.Errorf("value %q, want %q", val, want)
	}
	if n := testing.AllocsPerRun(100, func() { trailRecord("car@localhost", pt) }); n != 1 {
		t.Errorf("%v allocations for a trail record, want 1", n)
	}
}
