package component

import (
	"strconv"
	"time"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/geohub/geohub/tracking"
)

// A device's sensor series lives on the instance that owns the device;
// any instance answers for it by asking its peers (from a peer only), as
// for a trail:
//
//	<series xmlns='urn:geohub:shard:0' for device sensor from to [after]/>
//
// answered <series [more='true']><reading time value [unit]/>…</series>,
// oldest first; the next page asks after='the last reading's time'.

// seriesPage bounds the readings of one answer, and seriesBytes its
// size: a reading takes about 90 bytes but its unit is the device's to
// choose, so a page ends early rather than pass ejabberd's 64 KiB.
const (
	seriesPage  = 400
	seriesBytes = 44 << 10
)

// Series implements tracking.Fleet.
func (s *Shard) Series(viewer, device, sensor string, from, to time.Time, limit int) ([]geoloc.Reading, []tracking.ShardStatus) {
	q := rangeQuestion{kind: "series", viewer: viewer, device: device, extra: []string{"sensor", sensor}, from: from, to: to}
	parts, statuses := readByTime(s, q, func(p *xmlnode.Node) []geoloc.Reading { return parseReadings(p, sensor) },
		func(r geoloc.Reading) time.Time { return r.Time }, limit)
	return tracking.MergeSeries(parts...), statuses
}

// answerSeries answers a peer with a page of the series of one of this
// instance's devices, empty unless the viewer sees the device.
func (s *Shard) answerSeries(el, p *xmlnode.Node, from string) {
	device, sensor := p.Attr("device"), p.Attr("sensor")
	start, end, bad := pageRange(p)
	if bad == "" && sensor == "" {
		bad = "sensor is needed"
	}
	if bad != "" {
		s.Link.Send(iqError(el, "modify", "bad-request", bad))
		return
	}
	var rs []geoloc.Reading
	if sees, ok := seer(s.Accounts, p.Attr("for")); ok && (sees == nil || sees(device)) {
		rs = s.Geo.Series(device, sensor, start, end, seriesPage+1)
	}
	b := appendSeriesPage(iqHead("result", s.Link.Domain(), from, el.Attr("id")), rs)
	s.Link.Send(append(b, "</iq>"...))
}

// appendSeriesPage closes the IQ's head and writes as many of rs as fit
// a page, saying whether more are left.
func appendSeriesPage(b []byte, rs []geoloc.Reading) []byte {
	var items []byte
	written := 0
	for _, r := range rs {
		if written == seriesPage || len(items) > seriesBytes {
			break
		}
		items = append(items, "<reading"...)
		items = xmlesc.Attr(items, "time", r.Time.UTC().Format(time.RFC3339Nano))
		items = xmlesc.Attr(items, "value", strconv.FormatFloat(r.Value, 'g', -1, 64))
		if r.Unit != "" {
			items = xmlesc.Attr(items, "unit", r.Unit)
		}
		items = append(items, "/>"...)
		written++
	}
	b = append(b, "><series xmlns='"+NSShard+"'"...)
	if written < len(rs) {
		b = append(b, " more='true'"...)
	}
	b = append(append(append(b, '>'), items...), "</series>"...)
	return b
}

// parseReadings reads a page of readings; one that makes no sense is
// skipped.
func parseReadings(p *xmlnode.Node, sensor string) []geoloc.Reading {
	var out []geoloc.Reading
	for _, d := range p.Children {
		t, err1 := time.Parse(time.RFC3339Nano, d.Attr("time"))
		v, err2 := strconv.ParseFloat(d.Attr("value"), 64)
		if d.Local != "reading" || err1 != nil || err2 != nil {
			continue
		}
		out = append(out, geoloc.Reading{Sensor: sensor, Value: v, Unit: d.Attr("unit"), Time: t})
	}
	return out
}
