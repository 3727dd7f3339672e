package geoloc

import (
	"fmt"
	"strconv"
	"time"

	"github.com/geohub/geohub/internal/history"
	"github.com/geohub/geohub/internal/jsonw"
	"github.com/geohub/geohub/internal/store"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/tidwall/buntdb"
	"github.com/tidwall/gjson"
)

// TrailPoint is one fix in a device's trail: the few numbers that describe
// movement, kept small because trails are most of what the store holds.
type TrailPoint struct {
	Time     time.Time
	Lat, Lon float64
	Speed    *float64 // m/s
	Bearing  *float64 // degrees
	Accuracy *float64 // metres
	Alt      *float64 // metres
}

func trailPointOf(p Position) TrailPoint {
	g := p.Geoloc
	return TrailPoint{Time: p.Time, Lat: p.Lat, Lon: p.Lon, Speed: g.Speed, Bearing: g.Bearing, Accuracy: g.Accuracy, Alt: g.Alt}
}

// trailKey orders a device's points by time.
func trailKey(device string, t time.Time) string { return string(appendTrailKey(nil, device, t)) }

func appendTrailKey(b []byte, device string, t time.Time) []byte {
	if ns := t.UnixNano(); ns >= 0 {
		return store.AppendPadded(append(append(append(b, trailPrefix...), device...), ':'), uint64(ns), 20)
	}
	return fmt.Appendf(b, "%s%s:%020d", trailPrefix, device, t.UnixNano()) // before 1970: as it always was
}

// trailRecord is a point's key and value in one allocation: BuntDB holds
// both until the point is sealed, hundreds of thousands at a few thousand
// fixes a second, and the garbage collector then marks one object for
// each, not two.
func trailRecord(device string, pt TrailPoint) (key, value string) {
	var k int
	rec := jsonw.String(func(b []byte) []byte {
		b = appendTrailKey(b, device, pt.Time)
		k = len(b)
		return pt.appendJSON(b)
	})
	return rec[:k], rec[k:]
}

// appendJSON writes the point as a small JSON object; the time is in the key
// too, but kept here so that a value stands alone.
func (pt TrailPoint) appendJSON(b []byte) []byte {
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, pt.Time.UnixNano(), 10)
	b = append(b, `,"lat":`...)
	b = strconv.AppendFloat(b, pt.Lat, 'f', -1, 64)
	b = append(b, `,"lon":`...)
	b = strconv.AppendFloat(b, pt.Lon, 'f', -1, 64)
	for _, f := range []struct {
		name string
		v    *float64
	}{{"spd", pt.Speed}, {"brg", pt.Bearing}, {"acc", pt.Accuracy}, {"alt", pt.Alt}} {
		if f.v != nil {
			b = append(b, `,"`+f.name+`":`...)
			b = strconv.AppendFloat(b, *f.v, 'f', -1, 64)
		}
	}
	return append(b, '}')
}

func parseTrailPoint(v string) TrailPoint {
	r := gjson.GetMany(v, "t", "lat", "lon", "spd", "brg", "acc", "alt")
	pt := TrailPoint{Time: time.Unix(0, r[0].Int()).UTC(), Lat: r[1].Float(), Lon: r[2].Float()}
	opt := func(x gjson.Result) *float64 {
		if !x.Exists() {
			return nil
		}
		f := x.Float()
		return &f
	}
	pt.Speed, pt.Bearing, pt.Accuracy, pt.Alt = opt(r[3]), opt(r[4]), opt(r[5]), opt(r[6])
	return pt
}

// TrailPoints returns a device's trail between from and to (inclusive),
// oldest first.
func (s *Store) TrailPoints(device string, from, to time.Time) []TrailPoint {
	var out []TrailPoint
	if s.opt.History != nil {
		return s.historyTrail(device, from, to)
	}
	lo, hi := trailKey(device, from), trailKey(device, to)
	s.db.View(func(tx *buntdb.Tx) error {
		return tx.AscendRange("", lo, hi+"\x00", func(_, v string) bool {
			out = append(out, parseTrailPoint(v))
			return true
		})
	})
	return out
}

// Trail returns a device's trail between from and to as a GeoJSON Feature:
// a LineString (a Point when there is one fix) whose properties hold the
// device, the time of each vertex (RFC 3339) and the speeds where known.
func (s *Store) Trail(device string, from, to time.Time) *geojson.Feature {
	pts := s.TrailPoints(device, from, to)
	line := make(orb.LineString, len(pts))
	times := make([]string, len(pts))
	speeds := make([]any, len(pts))
	for i, pt := range pts {
		line[i] = orb.Point{pt.Lon, pt.Lat}
		times[i] = pt.Time.Format(time.RFC3339Nano)
		if pt.Speed != nil {
			speeds[i] = *pt.Speed
		}
	}
	var f *geojson.Feature
	if len(line) == 1 {
		f = geojson.NewFeature(line[0])
	} else {
		f = geojson.NewFeature(line)
	}
	f.Properties["device"] = device
	f.Properties["times"] = times
	f.Properties["speeds"] = speeds
	return f
}

// InsideBetween returns the devices whose trail has a point inside area
// between from and to, with the time of the first such point. Only devices
// accepted by filter (nil accepts all) are looked at.
func (s *Store) InsideBetween(area Area, from, to time.Time, filter func(device string) bool) map[string]time.Time {
	out := map[string]time.Time{}
	s.mu.RLock()
	devices := make([]string, 0, len(s.latest))
	for d := range s.latest {
		if filter == nil || filter(d) {
			devices = append(devices, d)
		}
	}
	s.mu.RUnlock()
	rects := area.Rects()
	inRects := func(lat, lon float64) bool {
		for _, r := range rects {
			if lat >= r.MinLat && lat <= r.MaxLat && lon >= r.MinLon && lon <= r.MaxLon {
				return true
			}
		}
		return false
	}
	if s.opt.History != nil {
		for _, d := range devices {
			s.eachTrailPoint(d, from, to, func(p history.Point) bool {
				if !inRects(p.Lat, p.Lon) || !area.Contains(p.Lat, p.Lon) {
					return true
				}
				out[d] = time.UnixMilli(p.Time).UTC()
				return false
			})
		}
		return out
	}
	s.db.View(func(tx *buntdb.Tx) error {
		for _, d := range devices {
			lo, hi := trailKey(d, from), trailKey(d, to)
			tx.AscendRange("", lo, hi+"\x00", func(_, v string) bool {
				r := gjson.GetMany(v, "lat", "lon")
				lat, lon := r[0].Float(), r[1].Float()
				if !inRects(lat, lon) || !area.Contains(lat, lon) {
					return true
				}
				out[d] = time.Unix(0, gjson.Get(v, "t").Int()).UTC()
				return false
			})
		}
		return nil
	})
	return out
}

// trailCount counts stored trail points, for tests and measurements.
func (s *Store) trailCount() int {
	n := 0
	s.db.View(func(tx *buntdb.Tx) error {
		return store.AscendPrefix(tx, trailPrefix, func(string, string) bool { n++; return true })
	})
	return n
}
