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
	return trailPointsOfHistory([][]history.Point{{p}})[0]
}

// trailPointsOfHistory converts runs of points with two allocations in
// all: one for the points, one for their optional measures.
func trailPointsOfHistory(runs [][]history.Point) []TrailPoint {
	n, m := 0, 0
	for _, run := range runs {
		n += len(run)
		for _, p := range run {
			m += bits.OnesCount8(p.Has)
		}
	}
	vals := make([]float64, 0, m)
	out := make([]TrailPoint, 0, n)
	for _, run := range runs {
		for _, p := range run {
			out = append(out, TrailPoint{Time: time.UnixMilli(p.Time).UTC(), Lat: p.Lat, Lon: p.Lon})
			pt := &out[len(out)-1]
			for j, f := range [...]struct {
				dst **float64
				v   float64
			}{{&pt.Speed, p.Speed}, {&pt.Bearing, p.Bearing}, {&pt.Accuracy, p.Accuracy}, {&pt.Alt, p.Alt}} {
				if p.Has&(1<<j) != 0 {
					vals = append(vals, f.v)
					*f.dst = &vals[len(vals)-1]
				}
			}
		}
	}
	if n == 0 {
		return nil
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
// sealed and unsealed merged as eachTrailPoint does, as runs in order: the
// sealed blocks as they are (a month is half a million points, not to be
// copied), those that unsealed points fall into merged with them.
func (s *Store) historyTrail(device string, from, to time.Time) [][]history.Point {
	recent := s.unsealed(device, from, to)
	lo, hi := msRange(from, to)
	var runs [][]history.Point
	s.opt.History.EachRun(device, lo, hi, func(run []history.Point) bool {
		if len(recent) == 0 || recent[0].Time > run[len(run)-1].Time {
			runs = append(runs, run)
			return true
		}
		merged := make([]history.Point, 0, len(run)+len(recent))
		for _, p := range run {
			for len(recent) > 0 && recent[0].Time < p.Time {
				merged = append(merged, recent[0])
				recent = recent[1:]
			}
			if len(recent) > 0 && recent[0].Time == p.Time {
				continue // the unsealed copy comes next
			}
			merged = append(merged, p)
		}
		runs = append(runs, merged)
		return true
	})
	return append(runs, recent)
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
