package hub_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/geohub/geohub/dashboard"
	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/operations"
)

// trailFix is one point of a trail as a MAM result carries it.
type trailFix struct {
	id                string
	at                time.Time
	lat, lon, speed   float64
	bearing, acc, alt float64
	hasSpeed, hasAlt  bool
	publisher, itemID string
}

func trailFixes(t *testing.T, p *mamPage) []trailFix {
	t.Helper()
	var out []trailFix
	for i, m := range p.results {
		item := m.Find("event/items/item")
		g := item.Child(nsGeoloc, "geoloc")
		if g == nil {
			t.Fatalf("result %d is no geoloc item: %s", i, m)
		}
		num := func(name string) (float64, bool) {
			n := g.Child(nsGeoloc, name)
			if n == nil {
				return 0, false
			}
			v, err := strconv.ParseFloat(n.Text, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return v, true
		}
		f := trailFix{id: p.ids[i], publisher: item.Attr("publisher"), itemID: item.Attr("id")}
		f.lat, _ = num("lat")
		f.lon, _ = num("lon")
		f.speed, f.hasSpeed = num("speed")
		f.bearing, _ = num("bearing")
		f.acc, _ = num("accuracy")
		f.alt, f.hasAlt = num("alt")
		ts, err := time.Parse(time.RFC3339Nano, g.Child(nsGeoloc, "timestamp").Text)
		if err != nil {
			t.Fatal(err)
		}
		f.at = ts
		out = append(out, f)
	}
	return out
}

func TestMAMOnADeviceGeolocNodeIsItsTrail(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator, "fleet")
	stranger := h.Login(t, "stranger", devices.RoleOperator, "elsewhere")
	car := h.Login(t, "car", devices.RoleDevice, "fleet")
	start := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	const n = 25
	for i := range n {
		at := start.Add(time.Duration(i) * time.Minute)
		ok(t, "publish", car.IQ(fmt.Sprintf("<iq type='set' id='ID'><pubsub xmlns='%s'><publish node='%s'><item id='f%d'>"+
			"<geoloc xmlns='%s'><accuracy>%d</accuracy><alt>%d</alt><bearing>%d</bearing><lat>%v</lat><lon>13.4</lon><speed>%d.5</speed><timestamp>%s</timestamp></geoloc>"+
			"</item></publish></pubsub></iq>", nsPubSub, nsGeoloc, i, nsGeoloc, 3+i%4, 30+i, i*10, 52.5+float64(i)/1000, i, at.Format(time.RFC3339))))
	}

	// Forward paging through the whole trail, 10 at a time.
	var got []trailFix
	after := ""
	for pages := 0; ; pages++ {
		rsm := "<max>10</max>"
		if after != "" {
			rsm += "<after>" + after + "</after>"
		}
		p := mustMAM(t, op, "car@localhost", nsGeoloc, "", rsm)
		got = append(got, trailFixes(t, p)...)
		if p.complete {
			if pages != 2 || len(p.results) != 5 {
				t.Errorf("last page %d has %d points", pages, len(p.results))
			}
			break
		}
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		after = p.last
	}
	if len(got) != n {
		t.Fatalf("%d points, want %d", len(got), n)
	}
	for i, f := range got {
		if !f.at.Equal(start.Add(time.Duration(i)*time.Minute)) || f.lat != 52.5+float64(i)/1000 || f.lon != 13.4 ||
			f.speed != float64(i)+0.5 || f.bearing != float64(i*10) || f.acc != float64(3+i%4) || f.alt != float64(30+i) ||
			f.publisher != "car@localhost" || f.itemID != f.id {
			t.Errorf("point %d: %+v", i, f)
		}
	}

	// The same points as the dashboard API's trail of the device.
	api := trailFromAPI(t, h, "op", "car", start.Add(-time.Second), start.Add(time.Hour))
	if len(api.Properties.Times) != n {
		t.Fatalf("API trail has %d points", len(api.Properties.Times))
	}
	for i, f := range got {
		c := api.Geometry.Coordinates[i]
		if !api.Properties.Times[i].Equal(f.at) || c[0] != f.lon || c[1] != f.lat || *api.Properties.Speeds[i] != f.speed {
			t.Errorf("point %d: MAM %+v, API %v %v", i, f, api.Properties.Times[i], c)
		}
	}

	// The last page, then the one before it, and a time window.
	last := mustMAM(t, op, "car@localhost", nsGeoloc, "", "<max>4</max><before/>")
	if fs := trailFixes(t, last); len(fs) != 4 || fs[3].id != got[n-1].id || fs[0].id != got[n-4].id || last.complete {
		t.Errorf("last page: %+v complete=%v", fs, last.complete)
	}
	before := mustMAM(t, op, "car@localhost", nsGeoloc, "", "<max>30</max><before>"+last.first+"</before>")
	if fs := trailFixes(t, before); len(fs) != n-4 || fs[0].id != got[0].id || !before.complete {
		t.Errorf("page before: %d points complete=%v", len(fs), before.complete)
	}
	window := mustMAM(t, op, "car@localhost", nsGeoloc, mamForm("start", start.Add(5*time.Minute).Format(time.RFC3339), "end", start.Add(7*time.Minute).Format(time.RFC3339)), "")
	if fs := trailFixes(t, window); len(fs) != 3 || !fs[0].at.Equal(start.Add(5*time.Minute)) || !window.complete {
		t.Errorf("window: %+v", fs)
	}
	// The device reads its own trail, with or without a to.
	if p := mustMAM(t, car, "", nsGeoloc, "", "<max>100</max>"); len(p.results) != n {
		t.Errorf("own trail: %d points", len(p.results))
	}

	// Whoever may not retrieve the node's items may not read its past,
	// and gets the same error.
	itemsErr := stranger.IQ("<iq type='get' to='car@localhost' id='ID'><pubsub xmlns='" + nsPubSub + "'><items node='" + nsGeoloc + "'/></pubsub></iq>")
	_, e := queryMAM(t, stranger, "car@localhost", nsGeoloc, "", "")
	if itemsErr.Attr("type") != "error" || e == nil || e.ErrorCondition() != itemsErr.ErrorCondition() || appCondition(e) != appCondition(itemsErr) {
		t.Errorf("stranger: MAM %v, items %s", e, itemsErr)
	}
	_, e = queryMAM(t, op, "nobody@localhost", nsGeoloc, "", "")
	wantError(t, "an account that does not exist", e, "item-not-found", "")
	_, e = queryMAM(t, op, "car@localhost", "urn:xmpp:avatar:data", "", "")
	wantError(t, "a node that does not exist", e, "item-not-found", "")
	_, e = queryMAM(t, op, "car@localhost", nsGeoloc, "", "<after>not-an-id</after>")
	wantError(t, "a bad id", e, "item-not-found", "")
	_, e = queryMAM(t, op, "car@localhost", nsGeoloc, "", "<max>x</max>")
	wantError(t, "a bad max", e, "bad-request", "")
	_, e = queryMAM(t, op, "pubsub.localhost", "alerts", "", "")
	if e == nil {
		t.Error("a service node answered from no history")
	}
}

// apiTrail is the dashboard API's trail of a device.
type apiTrail struct {
	Geometry struct {
		Coordinates [][2]float64 `json:"coordinates"`
	} `json:"geometry"`
	Properties struct {
		Times  []time.Time `json:"times"`
		Speeds []*float64  `json:"speeds"`
	} `json:"properties"`
}

// trailFromAPI asks a dashboard on h's stores for a device's trail, as
// the account viewer.
func trailFromAPI(t *testing.T, h *hubtest.Hub, viewer, device string, from, to time.Time) apiTrail {
	t.Helper()
	tokens, err := operations.OpenTokens(h.DB, h.Accounts)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dashboard.New(dashboard.Config{Accounts: h.Accounts, Geo: h.Geo, Tokens: tokens, DB: h.DB})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	defer srv.Close()
	_, secret, err := tokens.Add("test", viewer)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/api/devices/"+device+"/trail?from="+from.Format(time.RFC3339)+"&to="+to.Format(time.RFC3339), nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out apiTrail
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("API trail: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}
