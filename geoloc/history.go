package geoloc

import (
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

// trailPointOfHistory allocates the optional measures of a point in one
// piece.
func trailPointOfHistory(p history.Point) TrailPoint {
	pt := TrailPoint{Time: time.UnixMilli(p.Time).UTC(), Lat: p.Lat, Lon: p.Lon}
	if p.Has == 0 {
		return pt
	}
	vals := []float64{p.Speed, p.Bearing, p.Accuracy, p.Alt}
	for i, dst := range []**float64{&pt.Speed, &pt.Bearing, &pt.Accuracy, &pt.Alt} {
		if p.Has&(1<<i) != 0 {
			*dst = &vals[i]
		}
	}
	return pt
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
// and to, oldest first, quantised, the last of each millisecond kept.
func (s *Store) unsealed(device string, from, to time.Time) []history.Point {
	var out []history.Point
	lo, hi := trailKey(device, from), trailKey(device, to)
	s.db.View(func(tx *buntdb.Tx) error {
		return tx.AscendRange("", lo, hi+"\x00", func(_, v string) bool {
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

// eachTrailPoint calls fn with the device's trail points between from and
// to, sealed and unsealed merged, oldest first, until fn returns false. An
// unsealed point replaces a sealed one of the same millisecond: after a
// crash between the history commit and the BuntDB delete a point is in
// both, and a point rewritten since it was sealed is newer in BuntDB.
func (s *Store) eachTrailPoint(device string, from, to time.Time, fn func(history.Point) bool) error {
	recent := s.unsealed(device, from, to)
	// Milliseconds that hold all of [from, to].
	lo, hi := from.UnixMilli(), to.UnixMilli()
	if from.After(time.UnixMilli(lo)) {
		lo++
	}
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
