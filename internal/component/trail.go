package component

import (
	"context"
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
	parts := make([][]geoloc.TrailPoint, len(s.Peers))
	statuses := s.fanOut(longRead*s.Timeout, func(ctx context.Context, i int, peer string) shardStatus {
		var out []geoloc.TrailPoint
		st := s.pages(ctx, peer, func(b []byte, after string) []byte {
			return appendTrailRequest(b, viewer, device, from, to, after)
		}, func(answer *xmlnode.Node) string {
			p := answer.Child(NSShard, "trail")
			if p == nil {
				return ""
			}
			page := parsePoints(p)
			out = append(out, page...)
			if p.Attr("more") != "true" || len(page) == 0 {
				return ""
			}
			return page[len(page)-1].Time.UTC().Format(time.RFC3339Nano)
		})
		if st.Status == "ok" {
			parts[i] = out
		}
		return st
	})
	return tracking.MergeTrails(parts...), statuses
}

func appendTrailRequest(b []byte, viewer, device string, from, to time.Time, after string) []byte {
	b = append(b, "<trail xmlns='"+NSShard+"'"...)
	b = xmlesc.Attr(b, "for", viewer)
	b = xmlesc.Attr(b, "device", device)
	b = xmlesc.Attr(b, "from", from.UTC().Format(time.RFC3339Nano))
	b = xmlesc.Attr(b, "to", to.UTC().Format(time.RFC3339Nano))
	if after != "" {
		b = xmlesc.Attr(b, "after", after)
	}
	return append(b, "/>"...)
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

// pageRange reads a page's question about a device: the range left
// after the previous page's last item, or what is wrong with it.
func pageRange(p *xmlnode.Node) (start, end time.Time, bad string) {
	start, err1 := time.Parse(time.RFC3339Nano, p.Attr("from"))
	end, err2 := time.Parse(time.RFC3339Nano, p.Attr("to"))
	if p.Attr("device") == "" || err1 != nil || err2 != nil {
		return start, end, "device, from and to are needed"
	}
	if a := p.Attr("after"); a != "" {
		after, err := time.Parse(time.RFC3339Nano, a)
		if err != nil {
			return start, end, "bad after"
		}
		if next := after.Add(time.Nanosecond); next.After(start) {
			start = next
		}
	}
	return start, end, ""
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
