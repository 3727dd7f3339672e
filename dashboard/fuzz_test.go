package dashboard

import (
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/geohub/geohub/geoloc"
)

// FuzzParseArea: any body either is refused or gives a polygon whose
// coordinates are longitudes and latitudes; it never panics.
func FuzzParseArea(f *testing.F) {
	for _, s := range []string{
		`{"type":"Polygon","coordinates":[[[13,52],[13.1,52],[13.1,52.1],[13,52]]]}`,
		`{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],[[[5,5],[6,5],[6,6],[5,5]]]]}`,
		`{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}`,
		`{"type":"Feature","geometry":null}`, `{"type":"Polygon","coordinates":[]}`, `{"type":"Polygon","coordinates":[[]]}`,
		`{"type":"Point","coordinates":[1,2]}`, `[]`, `null`, `{"type":"Polygon","coordinates":[[[1e999,0]]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := parseArea(b)
		if err != nil {
			return
		}
		area := geoloc.Shape{Geometry: g}
		for _, r := range area.Rects() {
			if !(r.MinLon >= -180 && r.MaxLon <= 180 && r.MinLat >= -90 && r.MaxLat <= 90) {
				t.Fatalf("accepted an area outside the globe: %+v from %q", r, b)
			}
		}
		area.Contains(0, 0)
	})
}

// FuzzParseBBox: an accepted box has its coordinates in range and its
// latitudes in order.
func FuzzParseBBox(f *testing.F) {
	for _, s := range []string{"13,52,14,53", "170,-10,-170,10", "1,2,3", "a,b,c,d", "0,50,1,40", "NaN,0,1,1", " 1 , 2 , 3 , 4 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := parseBBox(s)
		if err != nil {
			return
		}
		if !(b.MinLat <= b.MaxLat && b.MinLat >= -90 && b.MaxLat <= 90 && b.MinLon >= -180 && b.MinLon <= 180 && b.MaxLon >= -180 && b.MaxLon <= 180) {
			t.Fatalf("accepted %q as %+v", s, b)
		}
	})
}

// FuzzPositionFeature: whatever a device's name and numbers, the written
// feature is valid JSON that reads back the same.
func FuzzPositionFeature(f *testing.F) {
	f.Add("car-17@localhost", 52.5, 13.4, 12.5, true)
	f.Add("\"quote\\back\u2028@x", -90.0, 180.0, 0.0, false)
	f.Add("ünïcode@localhost", 1e-300, -1e-10, 1e300, true)
	f.Fuzz(func(t *testing.T, device string, lat, lon, speed float64, online bool) {
		if !utf8.ValidString(device) {
			return // JIDs are UTF-8
		}
		p := geoloc.Position{Device: device, Lat: lat, Lon: lon, Time: time.Unix(1700000000, 5).UTC(), Geoloc: geoloc.Geoloc{Speed: &speed}}
		b := appendPositionFeature(nil, &p, positionInfo{name: device, online: online})
		var back struct {
			ID       string
			Geometry struct{ Coordinates [2]float64 }
			Props    map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(b, &back); err != nil {
			if lat != lat || lon != lon || speed != speed || isInf(lat) || isInf(lon) || isInf(speed) {
				return // not finite: the geo engine refuses these before
			}
			t.Fatalf("invalid JSON %s: %v", b, err)
		}
		if back.ID != device || back.Geometry.Coordinates != [2]float64{lon, lat} || back.Props["speed"] != speed || back.Props["online"] != online {
			t.Fatalf("read back %+v from %s", back, b)
		}
	})
}

func isInf(f float64) bool { return f > 1.7976931348623157e308 || f < -1.7976931348623157e308 }
