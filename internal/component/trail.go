package component

import (
	"strconv"
	"time"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/geohub/geohub/tracking"
)

// A device's trail lives on the instance that owns the device; any
// instance answers for it by asking its peers (from a peer only):
//
//	<trail xmlns='urn:geohub:shard:0' for='op@example.com' device='car-17@example.com' from to [after]/>
//
// answered <trail [more='true']><point time lat lon [speed bearing accuracy
// alt]/>…</trail>, oldest first, trailPage points at a time; the next page
// asks after='the last point's time'.

// trailPage bounds the points of one answer: a point takes up to about
// 210 bytes (every field, 17 digits each), so a page stays under 42 KiB,
// well below ejabberd's 64 KiB for a component's stanza.
const trailPage = 200

// Trail implements tracking.Fleet.
func (s *Shard) Trail(viewer, device string, from, to time.Time) ([]geoloc.TrailPoint, []tracking.ShardStatus) {
	parts, statuses := readByTime(s, rangeQuestion{kind: "trail", viewer: viewer, device: device, from: from, to: to},
		parsePoints, func(p geoloc.TrailPoint) time.Time { return p.Time }, 0)
	return tracking.MergeTrails(parts...), statuses
}

// answerTrail answers a peer with a page of the trail of one of this
// instance's devices, empty unless the viewer sees the device.
func (s *Shard) answerTrail(el, p *xmlnode.Node, from string) {
	device := p.Attr("device")
	start, end, bad := pageRange(p)
	if bad != "" {
		s.Link.Send(iqError(el, "modify", "bad-request", bad))
		return
	}
	var pts []geoloc.TrailPoint
	var more bool
	if sees, ok := seer(s.Accounts, p.Attr("for")); ok && (sees == nil || sees(device)) {
		pts, more = trailPageFrom(s.Geo, device, start, end)
	}
	b := appendTrailPage(iqHead("result", s.Link.Domain(), from, el.Attr("id")), pts, more)
	s.Link.Send(append(b, "</iq>"...))
}

// trailPageFrom reads a page of the device's trail from start on, in
// windows that grow until the page is full, so that a page of a long
// trail costs about the page, not the rest of the trail.
func trailPageFrom(geo *geoloc.Store, device string, start, end time.Time) ([]geoloc.TrailPoint, bool) {
	span := end.Sub(start)
	for w := time.Minute; ; {
		if w >= span {
			pts := geo.TrailPoints(device, start, end)
			return pts[:min(len(pts), trailPage)], len(pts) > trailPage
		}
		if pts := geo.TrailPoints(device, start, start.Add(w)); len(pts) > trailPage {
			return pts[:trailPage], true
		}
		if w > span/4 {
			w = span
		} else {
			w *= 4
		}
	}
}

// appendTrailPage closes the IQ's head and writes a page of points.
func appendTrailPage(b []byte, pts []geoloc.TrailPoint, more bool) []byte {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	b = append(b, "><trail xmlns='"+NSShard+"'"...)
	if more {
		b = append(b, " more='true'"...)
	}
	b = append(b, '>')
	for _, pt := range pts {
		b = append(b, "<point"...)
		b = xmlesc.Attr(b, "time", pt.Time.UTC().Format(time.RFC3339Nano))
		b = xmlesc.Attr(b, "lat", f(pt.Lat))
		b = xmlesc.Attr(b, "lon", f(pt.Lon))
		for _, o := range []struct {
			name string
			v    *float64
		}{{"speed", pt.Speed}, {"bearing", pt.Bearing}, {"accuracy", pt.Accuracy}, {"alt", pt.Alt}} {
			if o.v != nil {
				b = xmlesc.Attr(b, o.name, f(*o.v))
			}
		}
		b = append(b, "/>"...)
	}
	return append(b, "</trail>"...)
}

// parsePoints reads a page of points; one that makes no sense is skipped.
func parsePoints(p *xmlnode.Node) []geoloc.TrailPoint {
	var out []geoloc.TrailPoint
	for _, d := range p.Children {
		opt := func(name string) *float64 {
			v, err := strconv.ParseFloat(d.Attr(name), 64)
			if err != nil {
				return nil
			}
			return &v
		}
		t, err := time.Parse(time.RFC3339Nano, d.Attr("time"))
		lat, lon := opt("lat"), opt("lon")
		if d.Local != "point" || err != nil || lat == nil || lon == nil {
			continue
		}
		out = append(out, geoloc.TrailPoint{Time: t, Lat: *lat, Lon: *lon,
			Speed: opt("speed"), Bearing: opt("bearing"), Accuracy: opt("accuracy"), Alt: opt("alt")})
	}
	return out
}
