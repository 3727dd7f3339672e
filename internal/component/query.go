package component

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
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
const NSShard = "urn:geohub:shard:0"

// maxHits bounds a nearby answer.
const maxHits = 500

// query is one fleet-wide question.
type query struct {
	kind             string // nearby or within
	lat, lon, radius float64
	max              int
	box              geoloc.Box
}

func parseQuery(p *xmlnode.Node) (query, error) {
	q := query{kind: p.Local}
	num := func(name string) float64 {
		v, err := strconv.ParseFloat(p.Attr(name), 64)
		if err != nil {
			q.kind = ""
		}
		return v
	}
	switch p.Local {
	case "nearby":
		q.lat, q.lon, q.radius = num("lat"), num("lon"), num("radius")
		q.max = maxHits
		if m, err := strconv.Atoi(p.Attr("max")); err == nil && m > 0 && m < maxHits {
			q.max = m
		}
		if q.kind != "" && (q.lat < -90 || q.lat > 90 || q.lon < -180 || q.lon > 180 || q.radius <= 0) {
			q.kind = ""
		}
	case "within":
		q.box = geoloc.Box{MinLat: num("minlat"), MinLon: num("minlon"), MaxLat: num("maxlat"), MaxLon: num("maxlon")}
		if q.kind != "" && (q.box.MinLat > q.box.MaxLat || q.box.MinLat < -90 || q.box.MaxLat > 90) {
			q.kind = ""
		}
	default:
		return q, errors.New("ask nearby or within")
	}
	if q.kind == "" {
		return q, errors.New("bad or missing coordinates")
	}
	return q, nil
}

// appendRequest writes the question, for a peer when viewer is set.
func (q query) appendRequest(b []byte, viewer string) []byte {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	b = append(b, "<"+q.kind+" xmlns='"+NSShard+"'"...)
	switch q.kind {
	case "nearby":
		b = xmlesc.Attr(b, "lat", f(q.lat))
		b = xmlesc.Attr(b, "lon", f(q.lon))
		b = xmlesc.Attr(b, "radius", f(q.radius))
		b = xmlesc.Attr(b, "max", strconv.Itoa(q.max))
	case "within":
		b = xmlesc.Attr(b, "minlat", f(q.box.MinLat))
		b = xmlesc.Attr(b, "minlon", f(q.box.MinLon))
		b = xmlesc.Attr(b, "maxlat", f(q.box.MaxLat))
		b = xmlesc.Attr(b, "maxlon", f(q.box.MaxLon))
	}
	if viewer != "" {
		b = xmlesc.Attr(b, "for", viewer)
	}
	return append(b, "/>"...)
}

// hit is one device in an answer.
type hit struct {
	device   string
	lat, lon float64
	time     time.Time
	distance float64 // nearby only
}

// run answers q from this instance's own devices that viewer sees.
func (q query) run(geo *geoloc.Store, sees func(device string) bool) []hit {
	var out []hit
	switch q.kind {
	case "nearby":
		for _, h := range geo.Nearby(q.lat, q.lon, q.max, q.radius, sees) {
			out = append(out, hit{h.Device, h.Lat, h.Lon, h.Time, h.Distance})
		}
	case "within":
		for _, p := range geo.Within(q.box, sees) {
			out = append(out, hit{device: p.Device, lat: p.Lat, lon: p.Lon, time: p.Time})
		}
	}
	return out
}

// merge joins the shards' answers: a device counted once (its newest
// fix: an instance that owned it before a rebalancing may still know an
// older one), nearest first for nearby.
func (q query) merge(parts ...[]hit) []hit {
	best := map[string]hit{}
	for _, part := range parts {
		for _, h := range part {
			if b, ok := best[h.device]; !ok || h.time.After(b.time) {
				best[h.device] = h
			}
		}
	}
	out := make([]hit, 0, len(best))
	for _, h := range best {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b hit) int {
		if q.kind == "nearby" {
			if c := cmp.Compare(a.distance, b.distance); c != 0 {
				return c
			}
		}
		return strings.Compare(a.device, b.device)
	})
	if q.kind == "nearby" && len(out) > q.max {
		out = out[:q.max]
	}
	return out
}

func (q query) appendHits(b []byte, hits []hit) []byte {
	for _, h := range hits {
		b = append(b, "<device"...)
		b = xmlesc.Attr(b, "jid", h.device)
		b = xmlesc.Attr(b, "lat", strconv.FormatFloat(h.lat, 'f', -1, 64))
		b = xmlesc.Attr(b, "lon", strconv.FormatFloat(h.lon, 'f', -1, 64))
		b = xmlesc.Attr(b, "time", h.time.UTC().Format(time.RFC3339Nano))
		if q.kind == "nearby" {
			b = xmlesc.Attr(b, "distance", strconv.FormatFloat(h.distance, 'f', 1, 64))
		}
		b = append(b, "/>"...)
	}
	return b
}

// parseHits reads a peer's answer.
func parseHits(answer *xmlnode.Node) []hit {
	var out []hit
	for _, p := range answer.Children {
		if p.Space != NSShard {
			continue
		}
		for _, d := range p.Children {
			if d.Local != "device" {
				continue
			}
			lat, err1 := strconv.ParseFloat(d.Attr("lat"), 64)
			lon, err2 := strconv.ParseFloat(d.Attr("lon"), 64)
			t, err3 := time.Parse(time.RFC3339Nano, d.Attr("time"))
			dist, _ := strconv.ParseFloat(d.Attr("distance"), 64)
			if errors.Join(err1, err2, err3) == nil && d.Attr("jid") != "" {
				out = append(out, hit{d.Attr("jid"), lat, lon, t, dist})
			}
		}
	}
	return out
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
