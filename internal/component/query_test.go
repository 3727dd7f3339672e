package component

import (
	"testing"
	"time"

	"github.com/geohub/geohub/internal/xmlnode"
)

// Merging shards' answers: a device once, with its newest fix (an
// instance that owned it before a rebalancing may know an older one),
// nearest first, cut to max.
func TestMerge(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	q := query{kind: "nearby", max: 2}
	got := q.merge(
		[]hit{{"a@x", 1, 1, t0, 300}, {"b@x", 2, 2, t0, 100}},
		[]hit{{"a@x", 3, 3, t0.Add(time.Minute), 50}, {"c@x", 4, 4, t0, 200}},
	)
	if len(got) != 2 || got[0].device != "a@x" || got[0].lat != 3 || got[1].device != "b@x" {
		t.Errorf("merged %+v", got)
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
	hits := []hit{{"a@x", 52.5, 13.4, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 12.5}}
	b := append([]byte("<iq xmlns='"+NS+"' type='result'><nearby xmlns='"+NSShard+"'>"), q.appendHits(nil, hits)...)
	answer, err := xmlnode.Parse(append(b, "</nearby></iq>"...), "")
	if err != nil {
		t.Fatal(err)
	}
	if back := parseHits(answer); len(back) != 1 || back[0] != hits[0] {
		t.Errorf("round trip %+v", back)
	}
	for _, bad := range []string{"<nearby xmlns='" + NSShard + "' lat='91' lon='0' radius='1'/>", "<within xmlns='" + NSShard + "' minlat='2' minlon='0' maxlat='1' maxlon='1'/>",
		"<everything xmlns='" + NSShard + "'/>"} {
		el, _ := xmlnode.Parse([]byte(bad), "")
		if _, err := parseQuery(el); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
