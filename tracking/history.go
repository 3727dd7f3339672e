package tracking

import (
	"time"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub"
)

// trailHistory is the past of every geoloc PEP node: the publisher's trail,
// each point an XEP-0080 <geoloc/> with its time, so that a MAM query on a
// device's geoloc node (XEP-0313) returns what the API's trail returns.
type trailHistory struct{ geo *geoloc.Store }

// Bounds: a trail starts no earlier than the retention allows and ends no
// later than the device's latest fix.
func (t trailHistory) Bounds(owner string) (from, to time.Time, ok bool) {
	p, ok := t.geo.Latest(owner)
	if !ok {
		return time.Time{}, time.Time{}, false
	}
	return time.Now().Add(-t.geo.TrailRetention(owner)), p.Time, true
}

func (t trailHistory) Between(owner string, from, to time.Time) []hub.HistoryItem {
	pts := t.geo.TrailPoints(owner, from, to)
	out := make([]hub.HistoryItem, len(pts))
	for i, pt := range pts {
		g := geoloc.Geoloc{Lat: &pt.Lat, Lon: &pt.Lon, Speed: pt.Speed, Bearing: pt.Bearing,
			Accuracy: pt.Accuracy, Alt: pt.Alt, Timestamp: &pt.Time}
		out[i] = hub.HistoryItem{Time: pt.Time, Payload: g.Encode()}
	}
	return out
}
