package geoloc

import (
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/geohub/geohub/internal/history"
	"github.com/tidwall/buntdb"
)

// Trails with a history store (Options.History): the points of the last
// seconds are trk: keys in BuntDB, which stays the write-ahead log of every
// fix; the sealer (seal.go) moves older ones into the history store. A
// read merges the two, and gives points as the history store keeps them
// (quantised, history.Point), whichever side they are on, so that a
// trail does not change when it is sealed.

func historyPoint(pt TrailPoint) history.Point {
	p := history.Point{Time: pt.Time.UnixMilli(), Lat: pt.Lat, Lon: pt.Lon}
	for i, v := range []*float64{pt.Speed, pt.Bearing, pt.Accuracy, pt.Alt} {
		if v != nil {
			p.Has |= 1 << i
			*[]*float64{&p.Speed, &p.Bearing, &p.Accuracy, &p.Alt}[i] = *v
		}
	}
	return p.Quantised()
}

func trailPointOfHistory(p history.Point) TrailPoint {
	return appendTrailPoints(nil, history.ColumnsOf([]history.Point{p}))[0]
}

// appendTrailPoints appends the points of c to out, their optional
// measures in one allocation for the run.
func appendTrailPoints(out []TrailPoint, c *history.Columns) []TrailPoint {
	m := 0
	for _, h := range c.Has {
		m += bits.OnesCount8(h)
	}
	vals := make([]float64, m)
	opt := func(has, bit uint8, v float64) *float64 {
		if has&bit == 0 {
			return nil
		}
		vals[0] = v
		p := &vals[0]
		vals = vals[1:]
		return p
	}
	for i, t := range c.Time {
		pt := TrailPoint{Time: time.UnixMilli(t).UTC(), Lat: c.Lat[i], Lon: c.Lon[i]}
		if h := c.Has[i]; h != 0 {
			pt.Speed = opt(h, history.HasSpeed, c.Speed[i])
			pt.Bearing = opt(h, history.HasBearing, c.Bearing[i])
			pt.Accuracy = opt(h, history.HasAccuracy, c.Accuracy[i])
			pt.Alt = opt(h, history.HasAlt, c.Alt[i])
		}
		out = append(out, pt)
	}
	return out
}

// parseTrailKey splits trk:<device>:<ns>.
func parseTrailKey(k string) (device string, ns int64, ok bool) {
	rest := strings.TrimPrefix(k, trailPrefix)
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return "", 0, false
	}
	ns, err := strconv.ParseInt(rest[i+1:], 10, 64)
	return rest[:i], ns, err == nil
}

// unsealed returns the device's trail points still in BuntDB between from
// and to, oldest first, quantised, the last of each millisecond kept. As
// for sealed points, the quantised time decides: a point at 10.0005 s
// reads as 10.000 s, so a range from just after 10.000 s (the next page
// of a MAM query) does not hold it, and one up to 10.0003 s does.
func (s *Store) unsealed(device string, from, to time.Time) []history.Point {
	var out []history.Point
	loMs, hiMs := msRange(from, to)
	if loMs > hiMs {
		return nil
	}
	// The keys' nanoseconds that fall in those milliseconds.
	lo, hi := trailKey(device, time.UnixMilli(loMs)), trailKey(device, time.UnixMilli(hiMs).Add(time.Millisecond))
	s.db.View(func(tx *buntdb.Tx) error {
		return tx.AscendRange("", lo, hi, func(_, v string) bool {
			p := historyPoint(parseTrailPoint(v))
			if n := len(out); n > 0 && out[n-1].Time == p.Time {
				out[n-1] = p
			} else {
				out = append(out, p)
			}
			return true
		})
	})
	return out
}

// historyTrail returns the device's trail points between from and to,
// sealed and unsealed merged as eachTrailPoint does: the sealed blocks
// decoded straight into the result, those that unsealed points fall into
// merged with them first.
func (s *Store) historyTrail(device string, from, to time.Time) []TrailPoint {
	recent := s.unsealed(device, from, to)
	lo, hi := msRange(from, to)
	out := make([]TrailPoint, 0, s.opt.History.MaxPoints(device, lo, hi)+len(recent))
	s.opt.History.EachColumns(device, lo, hi, func(c *history.Columns) bool {
		if len(recent) == 0 || recent[0].Time > c.Time[c.Len()-1] {
			out = appendTrailPoints(out, c)
			return true
		}
		merged := make([]history.Point, 0, c.Len()+len(recent))
		for i := range c.Len() {
			p := c.Point(i)
			for len(recent) > 0 && recent[0].Time < p.Time {
				merged = append(merged, recent[0])
				recent = recent[1:]
			}
			if len(recent) > 0 && recent[0].Time == p.Time {
				continue // the unsealed copy comes next
			}
			merged = append(merged, p)
		}
		out = appendTrailPoints(out, history.ColumnsOf(merged))
		return true
	})
	out = appendTrailPoints(out, history.ColumnsOf(recent))
	if len(out) == 0 {
		return nil
	}
	return out
}

// msRange is the milliseconds whose every instant is in [from, to].
func msRange(from, to time.Time) (lo, hi int64) {
	lo, hi = from.UnixMilli(), to.UnixMilli()
	if from.After(time.UnixMilli(lo)) {
		lo++
	}
	return lo, hi
}

// eachTrailPoint calls fn with the device's trail points between from and
// to, sealed and unsealed merged, oldest first, until fn returns false. An
// unsealed point replaces a sealed one of the same millisecond: after a
// crash between the history commit and the BuntDB delete a point is in
// both, and a point rewritten since it was sealed is newer in BuntDB.
func (s *Store) eachTrailPoint(device string, from, to time.Time, fn func(history.Point) bool) error {
	recent := s.unsealed(device, from, to)
	lo, hi := msRange(from, to)
	stopped := false
	err := s.opt.History.Each(device, lo, hi, func(p history.Point) bool {
		for len(recent) > 0 && recent[0].Time <= p.Time {
			same := recent[0].Time == p.Time
			if !fn(recent[0]) {
				stopped = true
				return false
			}
			recent = recent[1:]
			if same {
				return true
			}
		}
		if !fn(p) {
			stopped = true
			return false
		}
		return true
	})
	if err != nil || stopped {
		return err
	}
	for _, p := range recent {
		if !fn(p) {
			break
		}
	}
	return nil
}
