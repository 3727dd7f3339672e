package component

import (
	"testing"
	"time"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/paulmach/orb"
)

func at(device string, lat, lon float64, t time.Time, distance float64) hit {
	return hit{Position: geoloc.Position{Device: device, Lat: lat, Lon: lon, Time: t}, Distance: distance}
}

// Merging shards' answers: a device once, with its newest fix (an
// instance that owned it before a rebalancing may know an older one),
// nearest first, cut to max; who keeps the earliest time inside.
func TestMerge(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	q := query{kind: "nearby", max: 2}
	got := q.merge(
		[]hit{at("a@x", 1, 1, t0, 300), at("b@x", 2, 2, t0, 100)},
		[]hit{at("a@x", 3, 3, t0.Add(time.Minute), 50), at("c@x", 4, 4, t0, 200)},
	)
	if len(got) != 2 || got[0].Device != "a@x" || got[0].Lat != 3 || got[1].Device != "b@x" {
		t.Errorf("merged %+v", got)
	}
	who := query{kind: "who"}.merge([]hit{at("a@x", 0, 0, t0.Add(time.Hour), 0)}, []hit{at("a@x", 0, 0, t0, 0)})
	if len(who) != 1 || !who[0].Time.Equal(t0) {
		t.Errorf("who merged %+v", who)
	}
}

// A query goes to a peer and its answer comes back as the same hits.
func TestQueryRoundTrip(t *testing.T) {
	el, _ := xmlnode.Parse([]byte("<nearby xmlns='"+NSShard+"' lat='52.5' lon='13.4' radius='1000' max='7'/>"), "")
	q, err := parseQuery(el)
	if err != nil || q.max != 7 || q.radius != 1000 {
		t.Fatalf("parsed %+v %v", q, err)
	}
	req, _ := xmlnode.Parse(q.appendRequest(nil, "op@localhost"), "")
	if req.Attr("for") != "op@localhost" || req.Attr("lat") != "52.5" {
		t.Errorf("request %s", req.Raw)
	}
	speed := 8.5
	h := at("a@x", 52.5, 13.4, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 12.5)
	h.Geoloc.Speed = &speed
	b := append([]byte("<iq xmlns='"+NS+"' type='result'><nearby xmlns='"+NSShard+"'>"), q.appendHits(nil, []hit{h}, nil, nil)...)
	answer, err := xmlnode.Parse(append(b, "</nearby></iq>"...), "")
	if err != nil {
		t.Fatal(err)
	}
	back := parseHits(answer)
	if len(back) != 1 || back[0].Device != h.Device || back[0].Lat != h.Lat || back[0].Distance != h.Distance ||
		!back[0].Time.Equal(h.Time) || back[0].Geoloc.Speed == nil || *back[0].Geoloc.Speed != speed {
		t.Errorf("round trip %+v", back)
	}
	for _, bad := range []string{"<nearby xmlns='" + NSShard + "' lat='91' lon='0' radius='1'/>", "<within xmlns='" + NSShard + "' minlat='2' minlon='0' maxlat='1' maxlon='1'/>",
		"<everything xmlns='" + NSShard + "'/>", "<who xmlns='" + NSShard + "' fence='depot' from='yesterday'/>", "<within xmlns='" + NSShard + "'>{}</within>"} {
		el, _ := xmlnode.Parse([]byte(bad), "")
		if _, err := parseQuery(el); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// Every area a peer may be asked about, and who's times and fence, go
// and come back the same.
func TestAreasRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)
	square := geoloc.Shape{Geometry: orb.Polygon{{{13, 52}, {14, 52}, {14, 53}, {13, 53}, {13, 52}}}}
	for _, q := range []query{
		{kind: "within", area: geoloc.Box{MinLat: 52, MinLon: 13, MaxLat: 53, MaxLon: 14}, after: "b@x"},
		{kind: "within", area: geoloc.Circle{Lat: 52.5, Lon: 13.4, Radius: 900}},
		{kind: "within", area: square},
		{kind: "who", fence: "depot", from: t0, to: t0.Add(time.Hour)},
		{kind: "who", area: square, from: t0, to: t0.Add(time.Hour)},
		{kind: "latest", device: "car-17@x"},
	} {
		el, err := xmlnode.Parse(q.appendRequest(nil, "op@x"), "")
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseQuery(el)
		if err != nil {
			t.Errorf("%s: %v", el.Raw, err)
			continue
		}
		if back.kind != q.kind || back.fence != q.fence || back.device != q.device || back.after != q.after ||
			!back.from.Equal(q.from) || !back.to.Equal(q.to) || (q.area != nil) != (back.area != nil) {
			t.Errorf("%s came back as %+v", el.Raw, back)
		}
		if q.area != nil && back.area.Contains(52.5, 13.4) != q.area.Contains(52.5, 13.4) {
			t.Errorf("%s: a point inside is no longer", el.Raw)
		}
	}
}

// A list answer comes a page at a time, sorted by JID, the next page
// after the last JID of the one before.
func TestPages(t *testing.T) {
	var hits []hit
	for i := range pageSize + 3 {
		hits = append(hits, at(string(rune('a'+i%26))+time.Duration(i).String()+"@x", 0, 0, time.Time{}, 0))
	}
	q := query{kind: "within"}
	first, more := q.page(hits)
	if len(first) != pageSize || !more {
		t.Fatalf("first page %d, more %v", len(first), more)
	}
	q.after = first[len(first)-1].Device
	rest, more := q.page(hits)
	if len(rest) != 3 || more || rest[0].Device <= q.after {
		t.Errorf("second page %d, more %v", len(rest), more)
	}
}
