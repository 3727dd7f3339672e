package geoloc

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const full = `<geoloc xmlns='http://jabber.org/protocol/geoloc' xml:lang='en'>
  <accuracy>20</accuracy><alt>1609</alt><altaccuracy>5.5</altaccuracy><area>Central Park</area>
  <bearing>270.5</bearing><building>The Dakota</building><country>United States</country>
  <countrycode>US</countrycode><datum>WGS84</datum><description>Bill's house</description>
  <floor>5</floor><lat>39.75</lat><locality>New York City</locality><lon>-104.99</lon>
  <postalcode>10023</postalcode><region>New York</region><room>Observatory</room>
  <speed>52.69</speed><street>West 72nd Street</street><text>Near the fountain</text>
  <timestamp>2026-11-25T11:58:30.5+01:00</timestamp><tzo>-07:00</tzo>
  <uri>http://www.dakota.example/</uri></geoloc>`

func TestDecodeEveryElement(t *testing.T) {
	g, err := Decode([]byte(full), now)
	if err != nil {
		t.Fatal(err)
	}
	f := func(v float64) *float64 { return &v }
	ts := time.Date(2026, 11, 25, 10, 58, 30, 500_000_000, time.UTC)
	want := Geoloc{
		Accuracy: f(20), Alt: f(1609), AltAccuracy: f(5.5), Area: "Central Park", Bearing: f(270.5),
		Building: "The Dakota", Country: "United States", CountryCode: "US", Datum: "WGS84",
		Description: "Bill's house", Floor: "5", Lat: f(39.75), Locality: "New York City", Lon: f(-104.99),
		PostalCode: "10023", Region: "New York", Room: "Observatory", Speed: f(52.69),
		Street: "West 72nd Street", Text: "Near the fountain", Timestamp: &ts, TZO: "-07:00",
		URI: "http://www.dakota.example/", Lang: "en",
	}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", g, want)
	}
	// Round trip through Encode.
	again, err := Decode(g.Encode(), now)
	if err != nil || !reflect.DeepEqual(again, g) {
		t.Errorf("round trip: %v\n%s", err, g.Encode())
	}
}

func TestDeprecatedErrorIsAccuracy(t *testing.T) {
	g, err := Decode([]byte(`<geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>1</lat><lon>2</lon><error>0.5</error></geoloc>`), now)
	if err != nil || g.Accuracy == nil || *g.Accuracy != 926 {
		t.Errorf("error 0.5 arc minutes: %v %v", g.Accuracy, err)
	}
	g, _ = Decode([]byte(`<geoloc xmlns='http://jabber.org/protocol/geoloc'><accuracy>3</accuracy><error>10</error></geoloc>`), now)
	if *g.Accuracy != 3 {
		t.Errorf("accuracy wins over error: %v", *g.Accuracy)
	}
}

func TestValidationNamesTheField(t *testing.T) {
	for _, tc := range []struct{ body, field string }{
		{"<lat>95</lat><lon>0</lon>", "lat"},
		{"<lat>10</lat><lon>-180.5</lon>", "lon"},
		{"<lat>NaN</lat><lon>0</lon>", "lat"},
		{"<lat>1</lat><lon>Inf</lon>", "lon"},
		{"<lat>north</lat><lon>0</lon>", "lat"},
		{"<lat>1</lat>", "lon"},
		{"<lon>1</lon>", "lat"},
		{"<lat>1</lat><lon>1</lon><accuracy>-1</accuracy>", "accuracy"},
		{"<lat>1</lat><lon>1</lon><speed>-3</speed>", "speed"},
		{"<lat>1</lat><lon>1</lon><speed>4000</speed>", "speed"},
		{"<lat>1</lat><lon>1</lon><bearing>361</bearing>", "bearing"},
		{"<lat>1</lat><lon>1</lon><alt>99999999</alt>", "alt"},
		{"<lat>1</lat><lon>1</lon><altaccuracy>-2</altaccuracy>", "altaccuracy"},
		{"<lat>1</lat><lon>1</lon><timestamp>yesterday</timestamp>", "timestamp"},
		{"<lat>1</lat><lon>1</lon><timestamp>2030-01-01T00:00:00Z</timestamp>", "timestamp"},
		{"<lat>1</lat><lon>1</lon><timestamp>1970-01-01T00:00:00Z</timestamp>", "timestamp"},
		{"<lat>1</lat><lon>1</lon><text>" + strings.Repeat("x", 1025) + "</text>", "text"},
		{"<lat>95</lat><lat>10</lat><lon>20</lon>", "lat"},
		{"<lat>1<x/>0</lat><lon>20</lon>", "lat"},
		{"<lat xmlns=''>95</lat><lat>10</lat><lon>20</lon>", "lat"},
	} {
		_, err := Decode([]byte("<geoloc xmlns='http://jabber.org/protocol/geoloc'>"+tc.body+"</geoloc>"), now)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: got %v, want an error about %s", tc.body, err, tc.field)
		}
	}
	for _, bad := range []string{"<geoloc/>", "<geoloc xmlns='urn:other'/>", "<geoloc xmlns='http://jabber.org/protocol/geoloc'>"} {
		if _, err := Decode([]byte(bad), now); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestPositionOf(t *testing.T) {
	g, _ := Decode([]byte(`<geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>52.52</lat><lon>13.405</lon></geoloc>`), now)
	p, ok := PositionOf("car@localhost", g, now, "pep")
	if !ok || p.Lat != 52.52 || p.Lon != 13.405 || !p.Time.Equal(now) || p.Device != "car@localhost" {
		t.Errorf("position without timestamp: %+v", p)
	}
	empty, err := Decode([]byte(`<geoloc xmlns='http://jabber.org/protocol/geoloc'/>`), now)
	if err != nil || !empty.IsEmpty() {
		t.Fatalf("empty geoloc: %v", err)
	}
	if _, ok := PositionOf("car@localhost", empty, now, "pep"); ok {
		t.Error("an empty geoloc made a position")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte(`<geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>-90</lat><lon>180</lon><bearing>360</bearing></geoloc>`))
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := Decode(in, now)
		if err != nil {
			return
		}
		again, err := Decode(g.Encode(), now)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", g.Encode(), err)
		}
		if !reflect.DeepEqual(again, g) {
			t.Fatalf("round trip changed\n%+v\n%+v", g, again)
		}
	})
}

// A text element over maxText characters is refused by name; one at the
// limit is kept.
func TestTextElementsAreBounded(t *testing.T) {
	doc := func(street string) []byte {
		return []byte(`<geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>1</lat><lon>2</lon><street>` + street + `</street></geoloc>`)
	}
	var fe *FieldError
	if _, err := Decode(doc(strings.Repeat("ü", maxText+1)), now); !errors.As(err, &fe) || fe.Field != "street" {
		t.Errorf("a street of %d characters: %v", maxText+1, err)
	}
	if g, err := Decode(doc(strings.Repeat("ü", maxText)), now); err != nil || len([]rune(g.Street)) != maxText {
		t.Errorf("a street of %d characters: %v", maxText, err)
	}
}
