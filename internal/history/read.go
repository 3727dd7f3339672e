package history

import (
	"sort"

	bolt "go.etcd.io/bbolt"
)

// Each calls fn with the device's points from from to to (Unix
// milliseconds, both included), oldest first, until fn returns false. fn
// runs inside a read transaction: it must not write to the store.
func (s *Store) Each(device string, from, to int64, fn func(Point) bool) error {
	return s.EachRun(device, from, to, func(run []Point) bool {
		for _, p := range run {
			if !fn(p) {
				return false
			}
		}
		return true
	})
}

// EachRun is Each a block at a time: fn gets runs of points, in order,
// which it must not change: they may be shared with the cache.
func (s *Store) EachRun(device string, from, to int64, fn func(run []Point) bool) error {
	gen := s.cache.generation()
	return s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(trailsBucket).Bucket([]byte(device))
		block := func(start int64, v []byte) ([]Point, error) { return s.block(gen, device, start, v) }
		return eachRun(b, from, to, trailCodec, block, fn)
	})
}

// Points returns the device's points from from to to (Unix milliseconds,
// both included), oldest first.
func (s *Store) Points(device string, from, to int64) ([]Point, error) {
	var out []Point
	err := s.EachRun(device, from, to, func(run []Point) bool {
		out = append(out, run...)
		return true
	})
	return out, err
}

// Readings returns a series' readings from from to to (Unix milliseconds,
// both included), oldest first, at most limit of them (0: all).
func (s *Store) Readings(sr Series, from, to int64, limit int) ([]Reading, error) {
	var out []Reading
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(seriesBucket).Bucket(seriesName(sr))
		block := func(_ int64, v []byte) ([]Reading, error) { return decodeSeriesBlock(nil, v) }
		return eachRun(b, from, to, seriesCodec, block, func(run []Reading) bool {
			if limit > 0 && len(out)+len(run) >= limit {
				out = append(out, run[:limit-len(out)]...)
				return false
			}
			out = append(out, run...)
			return true
		})
	})
	return out, err
}

// eachRun calls fn with the points of bucket b (nil: none) from from to
// to, a block at a time, until fn returns false.
func eachRun[P any](b *bolt.Bucket, from, to int64, c codec[P], block func(start int64, v []byte) ([]P, error), fn func([]P) bool) error {
	if b == nil {
		return nil
	}
	cur := b.Cursor()
	k, v := cur.Seek(blockKey(from))
	if k == nil || keyTime(k) > from {
		// The block before may hold points from from on.
		if k == nil {
			k, v = cur.Last()
		} else if pk, pv := cur.Prev(); pk != nil {
			k, v = pk, pv
		} else {
			k, v = cur.First()
		}
	}
	for ; k != nil && keyTime(k) <= to; k, v = cur.Next() {
		pts, err := block(keyTime(k), v)
		if err != nil {
			return err
		}
		lo := sort.Search(len(pts), func(i int) bool { return c.time(&pts[i]) >= from })
		hi := sort.Search(len(pts), func(i int) bool { return c.time(&pts[i]) > to })
		if lo < hi && !fn(pts[lo:hi]) {
			return nil
		}
	}
	return nil
}

// block returns a trail block decoded, from the cache if it is there.
func (s *Store) block(gen uint64, device string, start int64, v []byte) ([]Point, error) {
	k := cacheKey{device, start}
	if pts, ok := s.cache.get(k); ok {
		return pts, nil
	}
	pts, err := decodeBlock(nil, v)
	if err != nil {
		return nil, err
	}
	s.cache.put(gen, k, pts)
	return pts, nil
}

// Last returns the device's newest stored point.
func (s *Store) Last(device string) (Point, bool, error) {
	var last Point
	var ok bool
	gen := s.cache.generation()
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(trailsBucket).Bucket([]byte(device))
		if b == nil {
			return nil
		}
		k, v := b.Cursor().Last()
		if k == nil {
			return nil
		}
		pts, err := s.block(gen, device, keyTime(k), v)
		if err != nil || len(pts) == 0 {
			return err
		}
		last, ok = pts[len(pts)-1], true
		return nil
	})
	return last, ok, err
}
