package component

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/geohub/geohub/tracking"
	"github.com/paulmach/orb/geojson"
)

// NSShard is the namespace of the fleet-wide queries: an operator asks the
// component's domain, the instance that gets it asks its peers the same
// with for='the operator' and merges (shard.go):
//
//	<nearby xmlns='urn:geohub:shard:0' lat='52.5' lon='13.4' radius='5000' max='50'/>
//	<within xmlns='urn:geohub:shard:0' minlat='..' minlon='..' maxlat='..' maxlon='..'/>
//
// The answer holds a <device jid lat lon time [distance]/> per device and a
// <shard domain status='ok|missing' [reason]/> per instance asked.
//
// Between instances (from a peer only, always with for) besides:
//
//	<within lat lon radius/> or <within>GeoJSON geometry</within>: other areas
//	<latest device='car-17@example.com'/>: one device's latest fix
//	<who from to [fence='ID' | an area as within's]/>: who was inside,
//	  each <device jid time/> with the time it was first inside
//	<watch/> (set): send me your devices' new positions for a while (live.go)
//	<trail device from to/>: one device's trail, paged by time (trail.go)
//
// A peer's <device/> also carries speed, bearing, accuracy, battery and
// online. The lists of within and who come sorted by JID, a page of
// pageSize at a time (a stanza stays far below ejabberd's limits): the
// answer says more='true' and the next request after='the last JID'.
const NSShard = "urn:geohub:shard:0"

// maxHits bounds a nearby answer; pageSize a page of within or who.
const (
	maxHits  = 500
	pageSize = 500
)

// batterySensor is the reading a peer's answer carries with a position.
const batterySensor = "battery"

// query is one fleet-wide question.
type query struct {
	kind             string  // nearby, within, latest or who
	lat, lon, radius float64 // nearby
	max              int     // nearby
	area             geoloc.Area
	fence            string // who: a fence's ID instead of an area
	device           string // latest
	from, to         time.Time
	after            string // within, who: the page after this JID
}

func parseQuery(p *xmlnode.Node) (query, error) {
	q := query{kind: p.Local, after: p.Attr("after")}
	bad := false
	num := func(name string) float64 {
		v, err := strconv.ParseFloat(p.Attr(name), 64)
		bad = bad || err != nil
		return v
	}
	switch p.Local {
	case "nearby":
		q.lat, q.lon, q.radius = num("lat"), num("lon"), num("radius")
		q.max = maxHits
		if m, err := strconv.Atoi(p.Attr("max")); err == nil && m > 0 && m < maxHits {
			q.max = m
		}
		bad = bad || q.lat < -90 || q.lat > 90 || q.lon < -180 || q.lon > 180 || q.radius < 0
	case "within", "who":
		if q.fence = p.Attr("fence"); q.kind == "who" && q.fence != "" {
			// The instances share their fences: each uses its own copy.
		} else {
			var badArea bool
			if q.area, badArea = parseArea(p, num); q.area == nil {
				return q, errors.New("bad or missing area")
			}
			bad = bad || badArea
		}
		if q.kind == "who" {
			var err1, err2 error
			q.from, err1 = time.Parse(time.RFC3339Nano, p.Attr("from"))
			q.to, err2 = time.Parse(time.RFC3339Nano, p.Attr("to"))
			bad = bad || err1 != nil || err2 != nil
		}
	case "latest":
		q.device = p.Attr("device")
		bad = q.device == ""
	default:
		return q, errors.New("ask nearby or within")
	}
	if bad {
		return q, errors.New("bad or missing coordinates")
	}
	return q, nil
}

// parseArea reads a box (minlat minlon maxlat maxlon), a circle (lat lon
// radius) or a GeoJSON geometry (the element's text); bad reports bad
// numbers, a nil area no area.
func parseArea(p *xmlnode.Node, num func(string) float64) (area geoloc.Area, bad bool) {
	switch {
	case p.Attr("minlat") != "":
		box := geoloc.Box{MinLat: num("minlat"), MinLon: num("minlon"), MaxLat: num("maxlat"), MaxLon: num("maxlon")}
		return box, box.MinLat > box.MaxLat || box.MinLat < -90 || box.MaxLat > 90
	case p.Attr("radius") != "":
		c := geoloc.Circle{Lat: num("lat"), Lon: num("lon"), Radius: num("radius")}
		return c, c.Lat < -90 || c.Lat > 90 || c.Radius <= 0
	case p.HasText():
		g, err := geojson.UnmarshalGeometry([]byte(p.Text))
		if err != nil || g.Geometry() == nil {
			return nil, true
		}
		return geoloc.Shape{Geometry: g.Geometry()}, false
	}
	return nil, true
}

// appendRequest writes the question, for a peer when viewer is set.
func (q query) appendRequest(b []byte, viewer string) []byte {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	b = append(b, "<"+q.kind+" xmlns='"+NSShard+"'"...)
	if viewer != "" {
		b = xmlesc.Attr(b, "for", viewer)
	}
	if q.after != "" {
		b = xmlesc.Attr(b, "after", q.after)
	}
	switch q.kind {
	case "nearby":
		b = xmlesc.Attr(b, "lat", f(q.lat))
		b = xmlesc.Attr(b, "lon", f(q.lon))
		b = xmlesc.Attr(b, "radius", f(q.radius))
		b = xmlesc.Attr(b, "max", strconv.Itoa(q.max))
	case "latest":
		b = xmlesc.Attr(b, "device", q.device)
	case "who":
		b = xmlesc.Attr(b, "from", q.from.UTC().Format(time.RFC3339Nano))
		b = xmlesc.Attr(b, "to", q.to.UTC().Format(time.RFC3339Nano))
		if q.fence != "" {
			b = xmlesc.Attr(b, "fence", q.fence)
			break
		}
		fallthrough
	case "within":
		switch a := q.area.(type) {
		case geoloc.Box:
			b = xmlesc.Attr(b, "minlat", f(a.MinLat))
			b = xmlesc.Attr(b, "minlon", f(a.MinLon))
			b = xmlesc.Attr(b, "maxlat", f(a.MaxLat))
			b = xmlesc.Attr(b, "maxlon", f(a.MaxLon))
		case geoloc.Circle:
			b = xmlesc.Attr(b, "lat", f(a.Lat))
			b = xmlesc.Attr(b, "lon", f(a.Lon))
			b = xmlesc.Attr(b, "radius", f(a.Radius))
		case geoloc.Shape:
			js, _ := geojson.NewGeometry(a.Geometry).MarshalJSON()
			b = append(b, '>')
			b = xmlesc.Text(b, string(js))
			return append(b, "</"+q.kind+">"...)
		}
	}
	return append(b, "/>"...)
}

// hit is one device in an answer; for who, Time is when it was first
// inside.
type hit = tracking.Remote

// run answers q from this instance's own devices that viewer sees.
func (q query) run(geo *geoloc.Store, sees func(device string) bool) []hit {
	var out []hit
	switch q.kind {
	case "nearby":
		for _, h := range geo.Nearby(q.lat, q.lon, q.max, q.radius, sees) {
			out = append(out, hit{Position: h.Position, Distance: h.Distance})
		}
	case "within":
		for _, p := range geo.Within(q.area, sees) {
			out = append(out, hit{Position: p})
		}
	case "latest":
		if p, ok := geo.Latest(q.device); ok && (sees == nil || sees(q.device)) {
			out = append(out, hit{Position: p})
		}
	case "who":
		area := q.area
		if q.fence != "" {
			f, ok := geo.Fence(q.fence)
			if !ok {
				return nil
			}
			var err error
			if area, err = f.Area(); err != nil {
				return nil
			}
		}
		for d, at := range geo.InsideBetween(area, q.from, q.to, sees) {
			out = append(out, hit{Position: geoloc.Position{Device: d, Time: at}})
		}
	}
	return out
}

// page cuts a list answer to the page after q.after, sorted by JID, and
// says whether more follow.
func (q query) page(hits []hit) ([]hit, bool) {
	if q.kind != "within" && q.kind != "who" {
		return hits, false
	}
	slices.SortFunc(hits, func(a, b hit) int { return strings.Compare(a.Device, b.Device) })
	if q.after != "" {
		i, found := slices.BinarySearchFunc(hits, q.after, func(h hit, d string) int { return strings.Compare(h.Device, d) })
		if found {
			i++
		}
		hits = hits[i:]
	}
	if len(hits) > pageSize {
		return hits[:pageSize], true
	}
	return hits, false
}

// merge joins the shards' answers: a device counted once (its newest
// fix: an instance that owned it before a rebalancing may still know an
// older one), nearest first for nearby.
func (q query) merge(parts ...[]hit) []hit {
	if q.kind == "who" {
		return mergeFirst(parts...)
	}
	out := tracking.Merge(nil, slices.Concat(parts...))
	if q.kind == "nearby" {
		return tracking.SortNearest(out, q.max)
	}
	slices.SortFunc(out, func(a, b hit) int { return strings.Compare(a.Device, b.Device) })
	return out
}

// mergeFirst joins who answers: each device with when it was first
// inside on any instance.
func mergeFirst(parts ...[]hit) []hit {
	first := map[string]time.Time{}
	for _, h := range slices.Concat(parts...) {
		if t, ok := first[h.Device]; !ok || h.Time.Before(t) {
			first[h.Device] = h.Time
		}
	}
	out := make([]hit, 0, len(first))
	for d, t := range first {
		out = append(out, hit{Position: geoloc.Position{Device: d, Time: t}})
	}
	slices.SortFunc(out, func(a, b hit) int { return strings.Compare(a.Device, b.Device) })
	return out
}

// appendHits writes the hits; with info (to a peer) what a map shows of
// each, looked up here.
func (q query) appendHits(b []byte, hits []hit, info *devices.Store, geo *geoloc.Store) []byte {
	for _, h := range hits {
		b = appendHit(b, q.kind, &h, info, geo)
	}
	return b
}

func appendHit(b []byte, kind string, h *hit, info *devices.Store, geo *geoloc.Store) []byte {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	b = append(b, "<device"...)
	b = xmlesc.Attr(b, "jid", h.Device)
	b = xmlesc.Attr(b, "time", h.Time.UTC().Format(time.RFC3339Nano))
	if kind == "who" {
		return append(b, "/>"...)
	}
	b = xmlesc.Attr(b, "lat", f(h.Lat))
	b = xmlesc.Attr(b, "lon", f(h.Lon))
	if kind == "nearby" {
		b = xmlesc.Attr(b, "distance", strconv.FormatFloat(h.Distance, 'f', 1, 64))
	}
	for _, o := range []struct {
		name string
		v    *float64
	}{{"speed", h.Geoloc.Speed}, {"bearing", h.Geoloc.Bearing}, {"accuracy", h.Geoloc.Accuracy}} {
		if o.v != nil {
			b = xmlesc.Attr(b, o.name, f(*o.v))
		}
	}
	if info != nil {
		if r, ok := geo.Reading(h.Device, batterySensor); ok {
			b = xmlesc.Attr(b, "battery", f(r.Value))
		}
		if local, _, _ := strings.Cut(h.Device, "@"); info.Online(local) {
			b = append(b, " online='true'"...)
		}
	}
	return append(b, "/>"...)
}

// parseHits reads a peer's answer.
func parseHits(answer *xmlnode.Node) []hit {
	var out []hit
	for _, p := range answer.Children {
		if p.Space == NSShard {
			out = append(out, parseHitsOf(p)...)
		}
	}
	return out
}

// parseHitsOf reads the devices of one element: an answer's payload, or
// the <positions/> a peer sends (live.go).
func parseHitsOf(p *xmlnode.Node) []hit {
	var out []hit
	for _, d := range p.Children {
		if h, ok := parseHit(d); ok {
			out = append(out, h)
		}
	}
	return out
}

func parseHit(d *xmlnode.Node) (hit, bool) {
	t, err := time.Parse(time.RFC3339Nano, d.Attr("time"))
	if d.Local != "device" || d.Attr("jid") == "" || err != nil {
		return hit{}, false
	}
	h := hit{Position: geoloc.Position{Device: d.Attr("jid"), Time: t, Received: t, Source: "shard"}, Online: d.Attr("online") == "true"}
	opt := func(name string) *float64 {
		v, err := strconv.ParseFloat(d.Attr(name), 64)
		if err != nil {
			return nil
		}
		return &v
	}
	if lat, lon := opt("lat"), opt("lon"); lat != nil && lon != nil {
		h.Lat, h.Lon = *lat, *lon
		h.Geoloc.Lat, h.Geoloc.Lon = lat, lon
	}
	h.Geoloc.Speed, h.Geoloc.Bearing, h.Geoloc.Accuracy, h.Battery = opt("speed"), opt("bearing"), opt("accuracy"), opt("battery")
	if dist := opt("distance"); dist != nil {
		h.Distance = *dist
	}
	return h, true
}

// seer returns which devices the account with bare JID viewer sees, by
// the same rule as the chat commands and the API: admins every device,
// operators those sharing a group with them, nobody else any.
func seer(accounts *devices.Store, viewer string) (func(device string) bool, bool) {
	local, domain, _ := strings.Cut(viewer, "@")
	a, ok := accounts.Get(local)
	if !ok || domain != accounts.Domain() || !a.Role.Watches() {
		return nil, false
	}
	if a.Role == devices.RoleAdmin {
		return nil, true
	}
	return func(device string) bool {
		dl, dd, _ := strings.Cut(device, "@")
		return dd == accounts.Domain() && accounts.Peers(a.Name, dl)
	}, true
}
