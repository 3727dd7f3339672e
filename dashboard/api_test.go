package dashboard_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/geohub/geohub/dashboard"
	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
)

func f64(v float64) *float64 { return &v }

func TestHealthConfigAndTheUI(t *testing.T) {
	e := newEnv(t)
	anon := e.anon()
	if r := anon.must(200, "GET", "/healthz", nil); string(r.body) != "ok\n" {
		t.Errorf("healthz: %s", r)
	}
	anon.must(200, "GET", "/readyz", nil)
	var cfg map[string]string
	anon.must(200, "GET", "/api/config", nil).json(t, &cfg)
	if cfg["tile_url"] != "https://tiles.example/{z}/{x}/{y}.png" || cfg["tile_attribution"] != "© example" || cfg["domain"] != "localhost" {
		t.Errorf("config: %v", cfg)
	}
	// Without a built UI: a page that says how to build it, at any path.
	for _, p := range []string{"/", "/map/car1"} {
		if r := anon.must(200, "GET", p, nil); !strings.Contains(string(r.body), "make ui") {
			t.Errorf("%s without a UI: %s", p, r)
		}
	}
	// Unknown API routes are JSON 404s, not the UI; wrong methods 405.
	if msg := anon.status(t, 404, "GET", "/api/nope", nil).errorMessage(t); !strings.Contains(msg, "/api/nope") {
		t.Errorf("unknown route: %s", msg)
	}
	if msg := e.login("root").status(t, 405, "PUT", "/api/devices", nil).errorMessage(t); !strings.Contains(msg, "PUT") {
		t.Errorf("wrong method: %s", msg)
	}

	ui := fstest.MapFS{
		"index.html":      {Data: []byte("<html>the app</html>")},
		"assets/app.js":   {Data: []byte("console.log(1)")},
		"world-110m.json": {Data: []byte("{}")},
	}
	withUI := newEnv(t, func(c *dashboard.Config) { c.UI = ui })
	a := withUI.anon()
	for path, want := range map[string]string{"/": "the app", "/fences": "the app", "/assets/app.js": "console.log(1)"} {
		if r := a.must(200, "GET", path, nil); !strings.Contains(string(r.body), want) {
			t.Errorf("%s: %s", path, r)
		}
	}
	a.status(t, 404, "GET", "/assets/missing.js", nil)
	if r := a.must(200, "GET", "/", nil); r.header.Get("X-Frame-Options") != "DENY" || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("security headers: %v", r.header)
	}
}

type deviceJSON struct {
	Name     string                    `json:"name"`
	JID      string                    `json:"jid"`
	Role     string                    `json:"role"`
	Groups   []string                  `json:"groups"`
	Online   bool                      `json:"online"`
	LastSeen *time.Time                `json:"last_seen"`
	Demo     bool                      `json:"demo"`
	MQTT     bool                      `json:"mqtt"`
	Position *map[string]any           `json:"position"`
	Readings map[string]map[string]any `json:"readings"`
	Password string                    `json:"password"`
}

func names(ds []deviceJSON) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

func TestDevicesListFiltersAndVisibility(t *testing.T) {
	e := newEnv(t)
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	e.fix("car1", 52.5, 13.4, at, func(p *geoloc.Position) { p.Geoloc.Speed = f64(12.5) })
	e.reading("car1", geoloc.Reading{Sensor: "battery", Value: 87, Unit: "%", Time: at})
	e.accounts.SetOnline("car1", true)
	root, alice := e.login("root"), e.login("alice")

	var all []deviceJSON
	root.must(200, "GET", "/api/devices", nil).json(t, &all)
	if got := names(all); !slices.Equal(got, []string{"alice", "bob", "car1", "car2", "root", "van"}) {
		t.Errorf("admin sees %v", got)
	}
	var mine []deviceJSON
	alice.must(200, "GET", "/api/devices", nil).json(t, &mine)
	if got := names(mine); !slices.Equal(got, []string{"car1", "van"}) {
		t.Errorf("alice sees %v, want her group's devices", got)
	}
	car1 := mine[0]
	if car1.JID != "car1@localhost" || car1.Role != "device" || !car1.Online || car1.Position == nil ||
		(*car1.Position)["lat"] != 52.5 || (*car1.Position)["speed"] != 12.5 || (*car1.Position)["bearing"] != nil ||
		car1.Readings["battery"]["value"] != 87.0 || car1.Readings["battery"]["unit"] != "%" {
		t.Errorf("car1: %+v", car1)
	}
	if van := mine[1]; van.Position != nil || van.Online || len(van.Readings) != 0 || van.LastSeen != nil {
		t.Errorf("van: %+v", van)
	}
	for q, want := range map[string][]string{
		"?group=south":                 {"bob", "car2", "van"},
		"?online=true":                 {"car1"},
		"?q=car":                       {"car1", "car2"},
		"?role=operator":               {"alice", "bob"},
		"?group=north&online=false":    {"alice", "van"},
		"?q=zz":                        nil,
		"?group=north&role=device&q=a": {"car1", "van"},
	} {
		var got []deviceJSON
		root.must(200, "GET", "/api/devices"+q, nil).json(t, &got)
		if !slices.Equal(names(got), want) {
			t.Errorf("%s: %v, want %v", q, names(got), want)
		}
	}
	root.status(t, 400, "GET", "/api/devices?online=maybe", nil)
	root.status(t, 400, "GET", "/api/devices?role=king", nil)

	alice.status(t, 200, "GET", "/api/devices/car1", nil)
	// Another group's device and an unknown one answer the same.
	other := alice.status(t, 404, "GET", "/api/devices/car2", nil)
	unknown := alice.status(t, 404, "GET", "/api/devices/nope", nil)
	if strings.Replace(string(other.body), "car2", "X", 1) != strings.Replace(string(unknown.body), "nope", "X", 1) {
		t.Errorf("invisible and unknown differ: %s / %s", other.body, unknown.body)
	}
	alice.status(t, 404, "GET", "/api/devices/root", nil)
}

func TestAdminsCreateChangeAndDeleteAccounts(t *testing.T) {
	e := newEnv(t)
	root := e.login("root")
	var made deviceJSON
	root.must(201, "POST", "/api/devices", map[string]any{"name": "Truck-7", "groups": []string{"north", "fleet"}}).json(t, &made)
	if made.Name != "truck-7" || made.Role != "device" || !slices.Equal(made.Groups, []string{"fleet", "north"}) || len(made.Password) < 20 {
		t.Errorf("created: %+v", made)
	}
	if !e.accounts.Authenticate("truck-7", made.Password) {
		t.Error("the password shown does not log in")
	}
	root.status(t, 201, "POST", "/api/devices", map[string]any{"name": "ops2", "role": "operator"})
	// A chosen password is taken and not repeated; one too short is refused, naming the field.
	var chosen deviceJSON
	root.must(201, "POST", "/api/devices", map[string]any{"name": "ops3", "role": "operator", "password": "correct horse"}).json(t, &chosen)
	if chosen.Password != "" || chosen.Role != "operator" || chosen.MQTT {
		t.Errorf("created with a password: %+v", chosen)
	}
	if !e.accounts.Authenticate("ops3", "correct horse") {
		t.Error("the chosen password does not log in")
	}
	if msg := root.status(t, 400, "POST", "/api/devices", map[string]any{"name": "ops4", "password": "short"}).errorMessage(t); !strings.Contains(msg, "password") {
		t.Errorf("short password: %s", msg)
	}
	root.status(t, 404, "GET", "/api/devices/ops4", nil)
	if r := root.status(t, 409, "POST", "/api/devices", map[string]any{"name": "truck-7"}); !strings.Contains(r.errorMessage(t), "exists") {
		t.Errorf("duplicate: %s", r)
	}
	if r := root.status(t, 409, "POST", "/api/devices", map[string]any{"name": "geohub", "role": "operator"}); !strings.Contains(r.errorMessage(t), "reserved") {
		t.Errorf("the hub's own name: %s", r)
	}
	for _, body := range []any{
		map[string]any{"name": "a b/c"}, map[string]any{"name": ""}, map[string]any{"groups": []string{"x"}},
		map[string]any{"name": "x", "role": "king"}, map[string]any{"name": "x", "colour": "red"},
		map[string]any{"name": "x", "groups": "north"}, "not json", `{"name":"x"} {"name":"y"}`,
	} {
		if r := root.do("POST", "/api/devices", body); r.code != 400 {
			t.Errorf("create %v: %s", body, r)
		} else if msg := r.errorMessage(t); msg == "" {
			t.Errorf("create %v: no message", body)
		}
	}
	if msg := root.status(t, 400, "POST", "/api/devices", map[string]any{"name": "x", "groups": "north"}).errorMessage(t); !strings.Contains(msg, `"groups"`) {
		t.Errorf("a type error should name the field: %s", msg)
	}

	var changed deviceJSON
	root.must(200, "PATCH", "/api/devices/truck-7", map[string]any{"groups": []string{"south"}}).json(t, &changed)
	if changed.Role != "device" || !slices.Equal(changed.Groups, []string{"south"}) {
		t.Errorf("patched groups: %+v", changed)
	}
	root.must(200, "PATCH", "/api/devices/truck-7", map[string]any{"role": "operator"}).json(t, &changed)
	if changed.Role != "operator" || !slices.Equal(changed.Groups, []string{"south"}) {
		t.Errorf("patched role: %+v", changed)
	}
	root.status(t, 400, "PATCH", "/api/devices/truck-7", map[string]any{"role": "king"})
	root.status(t, 400, "PATCH", "/api/devices/truck-7", map[string]any{"name": "other"})
	root.status(t, 400, "PATCH", "/api/devices/truck-7", map[string]any{"password": "correct horse"})
	root.status(t, 404, "PATCH", "/api/devices/nope", map[string]any{"groups": []string{}})
	root.status(t, 400, "PATCH", "/api/devices/root", map[string]any{"role": "operator"})
	root.status(t, 200, "PATCH", "/api/devices/root", map[string]any{"role": "admin", "groups": []string{"ops", "hq"}})

	var pw struct{ Password string }
	root.must(200, "POST", "/api/devices/car1/password", nil).json(t, &pw)
	if !e.accounts.Authenticate("car1", pw.Password) || e.accounts.Authenticate("car1", "pw-car1") {
		t.Error("password reset did not replace the password")
	}
	root.status(t, 404, "POST", "/api/devices/nope/password", nil)

	root.must(204, "DELETE", "/api/devices/truck-7", nil)
	root.status(t, 404, "GET", "/api/devices/truck-7", nil)
	root.status(t, 404, "DELETE", "/api/devices/truck-7", nil)
	root.status(t, 400, "DELETE", "/api/devices/root", nil)
}

func TestPositionsAreGeoJSONOfVisibleDevices(t *testing.T) {
	e := newEnv(t)
	at := time.Date(2025, 6, 1, 12, 0, 0, 500, time.UTC)
	e.fix("car1", 52.5, 13.4, at, func(p *geoloc.Position) {
		p.Geoloc.Speed, p.Geoloc.Bearing, p.Geoloc.Accuracy = f64(10), f64(90), f64(5)
	})
	e.fix("car2", 48.1, 11.6, at)
	e.fix("van", 53.5, 10.0, at)
	e.reading("car1", geoloc.Reading{Sensor: "battery", Value: 55.5, Unit: "%", Time: at})
	e.accounts.SetOnline("car1", true)

	var fc featureCollection
	r := e.login("root").must(200, "GET", "/api/positions", nil)
	if ct := r.header.Get("Content-Type"); ct != "application/geo+json" {
		t.Errorf("content type %q", ct)
	}
	r.json(t, &fc)
	fc.sortByID() // the API promises no order
	if fc.Type != "FeatureCollection" || !slices.Equal(fc.ids(), []string{"car1@localhost", "car2@localhost", "van@localhost"}) {
		t.Fatalf("admin positions: %s", r.body)
	}
	f := fc.Features[0]
	coords := f.Geometry["coordinates"].([]any)
	if f.Type != "Feature" || f.Geometry["type"] != "Point" || coords[0] != 13.4 || coords[1] != 52.5 {
		t.Errorf("geometry: %+v", f)
	}
	want := map[string]any{"device": "car1@localhost", "name": "car1", "time": "2025-06-01T12:00:00.0000005Z",
		"speed": 10.0, "bearing": 90.0, "accuracy": 5.0, "online": true, "battery": 55.5}
	if fmt.Sprint(f.Props) != fmt.Sprint(want) {
		t.Errorf("properties\n got %v\nwant %v", f.Props, want)
	}
	if p := fc.Features[1].Props; p["speed"] != nil || p["online"] != false || p["battery"] != nil {
		t.Errorf("car2: %v", p)
	}
	if _, has := fc.Features[1].Props["battery"]; has {
		t.Error("battery present without a reading")
	}
	fc = featureCollection{}
	e.login("bob").must(200, "GET", "/api/positions", nil).json(t, &fc)
	fc.sortByID()
	if !slices.Equal(fc.ids(), []string{"car2@localhost", "van@localhost"}) {
		t.Errorf("bob sees %v", fc.ids())
	}
	// An operator without devices gets an empty collection, not null.
	e.accounts.Add(devices.NewAccount{Name: "loner", Role: devices.RoleOperator, Password: "pw-loner"})
	if r := e.login("loner").must(200, "GET", "/api/positions", nil); string(r.body) != `{"type":"FeatureCollection","features":[]}` {
		t.Errorf("no devices: %s", r.body)
	}
}

func TestTrailNearbyAndWithin(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC().Truncate(time.Second)
	for i := range 5 {
		e.fix("car1", 52.50+float64(i)*0.001, 13.40, now.Add(time.Duration(i-5)*time.Minute), func(p *geoloc.Position) { p.Geoloc.Speed = f64(float64(i)) })
	}
	e.fix("car2", 52.51, 13.41, now)
	e.fix("van", 48.0, 11.0, now)
	alice, root := e.login("alice"), e.login("root")

	var trail struct {
		Type     string
		Geometry struct {
			Type        string
			Coordinates [][2]float64
		}
		Properties struct {
			Device    string
			Times     []time.Time
			Speeds    []*float64
			Truncated bool
		}
	}
	alice.must(200, "GET", "/api/devices/car1/trail", nil).json(t, &trail)
	if trail.Geometry.Type != "LineString" || len(trail.Geometry.Coordinates) != 5 || len(trail.Properties.Times) != 5 ||
		trail.Geometry.Coordinates[4] != [2]float64{13.40, 52.504} || !trail.Properties.Times[0].Equal(now.Add(-5*time.Minute)) ||
		*trail.Properties.Speeds[3] != 3 || trail.Properties.Device != "car1@localhost" {
		t.Errorf("trail: %+v", trail)
	}
	q := url.Values{"from": {now.Add(-3 * time.Minute).Format(time.RFC3339)}, "to": {now.Add(-2 * time.Minute).Format(time.RFC3339)}}
	alice.must(200, "GET", "/api/devices/car1/trail?"+q.Encode(), nil).json(t, &trail)
	if len(trail.Properties.Times) != 2 {
		t.Errorf("trail from..to: %d points", len(trail.Properties.Times))
	}
	alice.must(200, "GET", "/api/devices/car1/trail?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z", nil).json(t, &trail)
	if trail.Geometry.Type != "LineString" || len(trail.Geometry.Coordinates) != 0 {
		t.Errorf("an empty trail: %+v", trail)
	}
	alice.status(t, 400, "GET", "/api/devices/car1/trail?from=yesterday", nil)
	alice.status(t, 400, "GET", "/api/devices/car1/trail?from=2025-01-02T00:00:00Z&to=2025-01-01T00:00:00Z", nil)
	alice.status(t, 404, "GET", "/api/devices/car2/trail", nil)

	var fc featureCollection
	root.must(200, "GET", "/api/nearby?lat=52.5&lon=13.4&k=2", nil).json(t, &fc)
	if !slices.Equal(fc.ids(), []string{"car1@localhost", "car2@localhost"}) {
		t.Errorf("nearby: %v", fc.ids())
	}
	if d := fc.Features[0].Props["distance"].(float64); d < 440 || d > 450 {
		t.Errorf("distance %v m, want about 445", d)
	}
	fc = featureCollection{}
	alice.must(200, "GET", "/api/nearby?lat=52.5&lon=13.4&k=10", nil).json(t, &fc)
	if !slices.Equal(fc.ids(), []string{"car1@localhost", "van@localhost"}) {
		t.Errorf("alice nearby: %v", fc.ids())
	}
	fc = featureCollection{}
	root.must(200, "GET", "/api/nearby?lat=52.5&lon=13.4&radius=2000", nil).json(t, &fc)
	if len(fc.Features) != 2 {
		t.Errorf("nearby within 2 km: %v", fc.ids())
	}
	for _, bad := range []string{"", "?lat=52.5", "?lat=91&lon=0", "?lat=x&lon=0", "?lat=0&lon=0&k=0", "?lat=0&lon=0&k=5000", "?lat=0&lon=0&radius=-1"} {
		if msg := root.status(t, 400, "GET", "/api/nearby"+bad, nil).errorMessage(t); !strings.ContainsAny(msg, "latkr") {
			t.Errorf("nearby%s: %s", bad, msg)
		}
	}

	fc = featureCollection{}
	root.must(200, "GET", "/api/within?bbox=13,52,14,53", nil).json(t, &fc)
	if !slices.Equal(fc.ids(), []string{"car1@localhost", "car2@localhost"}) && !slices.Equal(fc.ids(), []string{"car2@localhost", "car1@localhost"}) {
		t.Errorf("within bbox: %v", fc.ids())
	}
	fc = featureCollection{}
	alice.must(200, "GET", "/api/within?lat=52.5&lon=13.4&radius=5000", nil).json(t, &fc)
	if !slices.Equal(fc.ids(), []string{"car1@localhost"}) {
		t.Errorf("alice within circle: %v", fc.ids())
	}
	for _, bad := range []string{"", "?bbox=1,2,3", "?bbox=1,2,3,x", "?bbox=200,0,1,1", "?bbox=0,50,1,40", "?lat=1&lon=1", "?lat=1&lon=1&radius=0", "?bbox=1,2,3,4&lat=1"} {
		root.status(t, 400, "GET", "/api/within"+bad, nil).errorMessage(t)
	}
	poly := `{"type":"Polygon","coordinates":[[[13.3,52.4],[13.45,52.4],[13.45,52.6],[13.3,52.6],[13.3,52.4]]]}`
	fc = featureCollection{}
	root.must(200, "POST", "/api/within", poly).json(t, &fc)
	if !slices.Equal(fc.ids(), []string{"car1@localhost", "car2@localhost"}) && !slices.Equal(fc.ids(), []string{"car2@localhost", "car1@localhost"}) {
		t.Errorf("within polygon: %v", fc.ids())
	}
	fc = featureCollection{}
	alice.must(200, "POST", "/api/within", `{"type":"Feature","properties":{},"geometry":`+poly+`}`).json(t, &fc)
	if !slices.Equal(fc.ids(), []string{"car1@localhost"}) {
		t.Errorf("alice within a Feature: %v", fc.ids())
	}
	for _, bad := range []string{`{}`, `nope`, `{"type":"Point","coordinates":[1,2]}`, `{"type":"Polygon","coordinates":[[[1,2],[3,4]]]}`,
		`{"type":"Polygon","coordinates":[[[1,2],[300,4],[5,6],[1,2]]]}`, `{"type":"Feature","properties":{},"geometry":null}`} {
		root.status(t, 400, "POST", "/api/within", bad).errorMessage(t)
	}
}

const depot = `{"type":"Feature","properties":{"name":"Depot","groups":["north"],"notify":["alice"]},
 "geometry":{"type":"Polygon","coordinates":[[[13,52],[13.1,52],[13.1,52.1],[13,52.1],[13,52]]]}}`

func TestFencesCRUDAndChecks(t *testing.T) {
	e := newEnv(t)
	root := e.login("root")
	var fc featureCollection
	root.must(201, "POST", "/api/fences", depot).json(t, &fc)
	if len(fc.Features) != 1 || fc.Features[0].Props["name"] != "Depot" || fc.Features[0].ID == "" {
		t.Fatalf("created: %+v", fc)
	}
	id := fc.Features[0].ID.(string)
	if notify := fc.Features[0].Props["notify"].([]any); notify[0] != "alice@localhost" {
		t.Errorf("notify names are not resolved to JIDs: %v", notify)
	}
	two := `{"type":"FeatureCollection","features":[
	 {"type":"Feature","id":"yard","properties":{"name":"Yard","radius":200,"devices":["car2"]},"geometry":{"type":"Point","coordinates":[11.6,48.1]}},
	 {"type":"Feature","properties":{"name":"Road","width":50},"geometry":{"type":"LineString","coordinates":[[13,52],[13.2,52.2]]}}]}`
	fc = featureCollection{}
	root.must(201, "POST", "/api/fences", two).json(t, &fc)
	if len(fc.Features) != 2 || fc.Features[0].ID != "yard" {
		t.Errorf("created two: %+v", fc)
	}
	fc = featureCollection{}
	root.must(200, "GET", "/api/fences", nil).json(t, &fc)
	if len(fc.Features) != 3 {
		t.Errorf("list: %v", fc.ids())
	}
	var one struct {
		ID         string
		Properties map[string]any
	}
	root.must(200, "GET", "/api/fences/yard", nil).json(t, &one)
	if one.ID != "yard" || one.Properties["radius"] != 200.0 {
		t.Errorf("get: %+v", one)
	}
	root.status(t, 404, "GET", "/api/fences/nope", nil)

	for body, want := range map[string]string{
		`{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[1,1]}}`:                                                        "name",
		`{"type":"Feature","properties":{"name":"X","devices":["nobody"],"radius":5},"geometry":{"type":"Point","coordinates":[1,1]}}`:              "nobody",
		`{"type":"Feature","properties":{"name":"X","groups":["nogroup"],"radius":5},"geometry":{"type":"Point","coordinates":[1,1]}}`:              "nogroup",
		`{"type":"Feature","properties":{"name":"X","notify":["car1"],"radius":5},"geometry":{"type":"Point","coordinates":[1,1]}}`:                 "device",
		`{"type":"Feature","properties":{"name":"X","events":["explode"]},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}`: "explode",
		`{"type":"Feature","id":"a:b","properties":{"name":"X","radius":5},"geometry":{"type":"Point","coordinates":[1,1]}}`:                        "ID",
		`{"type":"Point"}`: "Feature", `nope`: "JSON",
	} {
		if msg := root.status(t, 400, "POST", "/api/fences", body).errorMessage(t); !strings.Contains(msg, want) {
			t.Errorf("POST %s: %q does not name %q", body, msg, want)
		}
	}
	if msg := root.status(t, 409, "POST", "/api/fences", strings.Replace(two, `"id":"yard"`, `"id":"yard"`, 1)).errorMessage(t); !strings.Contains(msg, "PUT") {
		t.Errorf("an existing id: %s", msg)
	}

	replaced := `{"type":"Feature","properties":{"name":"Yard 2","radius":300,"devices":["car2"]},"geometry":{"type":"Point","coordinates":[11.6,48.1]}}`
	root.must(200, "PUT", "/api/fences/yard", replaced).json(t, &one)
	if one.ID != "yard" || one.Properties["name"] != "Yard 2" || one.Properties["radius"] != 300.0 {
		t.Errorf("replaced: %+v", one)
	}
	root.status(t, 400, "PUT", "/api/fences/yard", strings.Replace(replaced, `"type":"Feature",`, `"type":"Feature","id":"other",`, 1))
	root.status(t, 400, "PUT", "/api/fences/yard", two)
	root.status(t, 404, "PUT", "/api/fences/nope", replaced)
	root.must(204, "DELETE", "/api/fences/yard", nil)
	root.status(t, 404, "DELETE", "/api/fences/yard", nil)
	root.status(t, 404, "GET", "/api/fences/yard", nil)
	if _, ok := e.geo.Fence(id); !ok {
		t.Error("the other fences went too")
	}
}

func TestOperatorsAndFences(t *testing.T) {
	e := newEnv(t)
	root, alice, bob := e.login("root"), e.login("alice"), e.login("bob")
	fence := func(id, props string) string {
		return `{"type":"Feature","id":"` + id + `","properties":{"name":"` + id + `","radius":100` + props + `},"geometry":{"type":"Point","coordinates":[13,52]}}`
	}
	// Alice may create fences that watch her devices and groups only.
	alice.must(201, "POST", "/api/fences", fence("n1", `,"groups":["north"]`))
	alice.must(201, "POST", "/api/fences", fence("n2", `,"devices":["car1","van"],"notify":["alice"]`))
	for body, why := range map[string]string{
		fence("x1", ``):                                     "every device",
		fence("x2", `,"groups":["south"]`):                  "south",
		fence("x3", `,"devices":["car2"]`):                  "car2",
		fence("x4", `,"groups":["north"],"notify":["bob"]`): "bob",
		fence("x5", `,"devices":["van"],"notify":["bob"]`):  "",
		fence("x6", `,"groups":["north","south"]`):          "south",
	} {
		r := alice.do("POST", "/api/fences", body)
		if why == "" { // van is bob's device too: notifying bob is fine
			if r.code != 201 {
				t.Errorf("alice POST %s: %s", body, r)
			}
			continue
		}
		if r.code != 403 || !strings.Contains(r.errorMessage(t), why) {
			t.Errorf("alice POST %s: %s, want 403 naming %s", body, r, why)
		}
	}
	root.must(201, "POST", "/api/fences", fence("all", ``))
	root.must(201, "POST", "/api/fences", fence("s1", `,"groups":["south"]`))
	root.must(201, "POST", "/api/fences", fence("s2", `,"devices":["car2"],"notify":["alice"]`))

	var fc featureCollection
	alice.must(200, "GET", "/api/fences", nil).json(t, &fc)
	got := fc.ids()
	slices.Sort(got)
	// all: watches every device; s2: notifies her; x5: watches van.
	if !slices.Equal(got, []string{"all", "n1", "n2", "s2", "x5"}) {
		t.Errorf("alice reads %v", got)
	}
	alice.status(t, 404, "GET", "/api/fences/s1", nil)
	alice.status(t, 200, "GET", "/api/fences/all", nil)
	// She reads all, s2 and x5 but they are not wholly hers to change.
	alice.status(t, 403, "DELETE", "/api/fences/all", nil)
	alice.status(t, 403, "PUT", "/api/fences/s2", fence("s2", `,"groups":["north"]`))
	alice.status(t, 404, "DELETE", "/api/fences/s1", nil)
	// Her own: she changes and deletes them, but not into someone else's.
	alice.status(t, 403, "PUT", "/api/fences/n1", fence("n1", `,"groups":["south"]`))
	alice.must(200, "PUT", "/api/fences/n1", fence("n1", `,"devices":["car1"]`))
	alice.must(204, "DELETE", "/api/fences/n1", nil)
	// Bob shares van: x5 is his to change as well.
	bob.must(200, "PUT", "/api/fences/x5", fence("x5", `,"devices":["van","car2"]`))
	alice.status(t, 403, "DELETE", "/api/fences/x5", nil)
}

func TestAlertsPageFilterAndAck(t *testing.T) {
	e := newEnv(t)
	root := e.login("root")
	root.must(201, "POST", "/api/fences",
		`{"type":"Feature","id":"depot","properties":{"name":"Depot"},"geometry":{"type":"Polygon","coordinates":[[[13,52],[13.1,52],[13.1,52.1],[13,52.1],[13,52]]]}}`)
	start := time.Now().Add(-time.Hour)
	for i, name := range []string{"car1", "car2", "van"} {
		at := start.Add(time.Duration(i) * time.Minute)
		e.fix(name, 52.05, 12.9, at)
		e.fix(name, 52.05, 13.05, at.Add(time.Second))
		e.fix(name, 52.05, 12.9, at.Add(2*time.Second))
	}
	type page struct {
		Alerts []struct {
			ID, Event, Fence, Device string
			AckedBy                  *string    `json:"acked_by"`
			AckedAt                  *time.Time `json:"acked_at"`
		}
		Next string
	}
	var p page
	r := root.must(200, "GET", "/api/alerts", nil)
	r.json(t, &p)
	if len(p.Alerts) != 6 || p.Next != "" || p.Alerts[0].Device != "van@localhost" || p.Alerts[0].Event != "exit" ||
		p.Alerts[0].Fence != "depot" || p.Alerts[0].AckedBy != nil || !strings.Contains(string(r.body), `"acked_by":null`) {
		t.Fatalf("all alerts: %s", r.body)
	}
	var alice page
	e.login("alice").must(200, "GET", "/api/alerts", nil).json(t, &alice)
	if len(alice.Alerts) != 4 {
		t.Errorf("alice sees %d alerts, want car1's and van's 4", len(alice.Alerts))
	}
	for _, a := range alice.Alerts {
		if a.Device == "car2@localhost" {
			t.Errorf("alice sees car2's alert %s", a.ID)
		}
	}
	var paged []string
	before := ""
	for range 10 {
		var pg page
		root.must(200, "GET", "/api/alerts?limit=4&before="+before, nil).json(t, &pg)
		for _, a := range pg.Alerts {
			paged = append(paged, a.ID)
		}
		if before = pg.Next; before == "" {
			break
		}
	}
	if len(paged) != 6 || paged[0] != p.Alerts[0].ID || paged[5] != p.Alerts[5].ID {
		t.Errorf("paged: %v", paged)
	}
	for q, want := range map[string]int{"?device=car1": 2, "?device=car2@localhost": 2, "?type=enter": 3, "?fence=depot&type=exit": 3,
		"?fence=other": 0, "?from=" + url.QueryEscape(time.Now().Add(time.Minute).Format(time.RFC3339)): 0,
		"?to=" + url.QueryEscape(time.Now().Format(time.RFC3339Nano)): 6} {
		var pg page
		root.must(200, "GET", "/api/alerts"+q, nil).json(t, &pg)
		if len(pg.Alerts) != want {
			t.Errorf("%s: %d alerts, want %d", q, len(pg.Alerts), want)
		}
	}
	for _, bad := range []string{"?type=boom", "?limit=0", "?limit=5000", "?before=xyz", "?from=x", "?from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z"} {
		root.status(t, 400, "GET", "/api/alerts"+bad, nil).errorMessage(t)
	}

	car2Alert := p.Alerts[2].ID
	if p.Alerts[2].Device != "car2@localhost" {
		t.Fatalf("fixture: %+v", p.Alerts[2])
	}
	alicec := e.login("alice")
	alicec.status(t, 404, "POST", "/api/alerts/"+car2Alert+"/ack", nil)
	alicec.must(204, "POST", "/api/alerts/"+p.Alerts[0].ID+"/ack", nil)
	root.must(204, "POST", "/api/alerts/"+p.Alerts[0].ID+"/ack", nil) // the first ack stands
	root.status(t, 404, "POST", "/api/alerts/00000000000000000000000000/ack", nil)
	root.status(t, 404, "POST", "/api/alerts/nope/ack", nil)
	p = page{}
	root.must(200, "GET", "/api/alerts?limit=1", nil).json(t, &p)
	if a := p.Alerts[0]; a.AckedBy == nil || *a.AckedBy != "alice@localhost" || a.AckedAt == nil || time.Since(*a.AckedAt) > time.Minute {
		t.Errorf("acked: %+v", a)
	}
}

func TestTelemetryLatestAndSeries(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC().Truncate(time.Second)
	for i := range 5 {
		e.reading("car1", geoloc.Reading{Sensor: "battery", Value: 90 - float64(i), Unit: "%", Time: now.Add(time.Duration(i-5) * time.Minute)},
			geoloc.Reading{Sensor: "temperature", Value: 4 + float64(i)/10, Unit: "°C", Time: now.Add(time.Duration(i-5) * time.Minute)})
	}
	alice := e.login("alice")
	var latest []struct {
		Sensor, Unit string
		Value        float64
		Time         time.Time
	}
	alice.must(200, "GET", "/api/devices/car1/telemetry", nil).json(t, &latest)
	if len(latest) != 2 || latest[0].Sensor != "battery" || latest[0].Value != 86 || latest[0].Unit != "%" ||
		latest[1].Sensor != "temperature" || !latest[1].Time.Equal(now.Add(-time.Minute)) {
		t.Errorf("latest: %+v", latest)
	}
	var series struct {
		Sensor, Unit string
		Points       []struct {
			Time  time.Time
			Value float64
		}
	}
	alice.must(200, "GET", "/api/devices/car1/telemetry?sensor=battery", nil).json(t, &series)
	if series.Sensor != "battery" || series.Unit != "%" || len(series.Points) != 5 || series.Points[0].Value != 90 {
		t.Errorf("series: %+v", series)
	}
	q := url.Values{"sensor": {"temperature"}, "from": {now.Add(-3 * time.Minute).Format(time.RFC3339)}, "to": {now.Add(-2 * time.Minute).Format(time.RFC3339)}}
	alice.must(200, "GET", "/api/devices/car1/telemetry?"+q.Encode(), nil).json(t, &series)
	if len(series.Points) != 2 || series.Points[0].Value != 4.2 {
		t.Errorf("series from..to: %+v", series)
	}
	var empty []any
	alice.must(200, "GET", "/api/devices/van/telemetry", nil).json(t, &empty)
	if empty == nil || len(empty) != 0 {
		t.Errorf("no readings: %v", empty)
	}
	alice.status(t, 400, "GET", "/api/devices/car1/telemetry?from=2025-01-01T00:00:00Z", nil)
	alice.status(t, 400, "GET", "/api/devices/car1/telemetry?sensor=battery&to=soon", nil)
	alice.status(t, 404, "GET", "/api/devices/car2/telemetry", nil)
}
