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
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, v := c.Seek(blockKey(from))
		if k == nil || keyTime(k) > from {
			// The block before may hold points from from on.
			if k == nil {
				k, v = c.Last()
			} else if pk, pv := c.Prev(); pk != nil {
				k, v = pk, pv
			} else {
				k, v = c.First()
			}
		}
		for ; k != nil && keyTime(k) <= to; k, v = c.Next() {
			pts, err := s.block(gen, device, keyTime(k), v)
			if err != nil {
				return err
			}
			lo := sort.Search(len(pts), func(i int) bool { return pts[i].Time >= from })
			hi := sort.Search(len(pts), func(i int) bool { return pts[i].Time > to })
			if lo < hi && !fn(pts[lo:hi]) {
				return nil
			}
		}
		return nil
	})
}

// Points returns the device's points from from to to (Unix milliseconds,
// both included), oldest first.
func (s *Store) Points(device string, from, to int64) ([]Point, error) {
	var out []Point
	err := s.Each(device, from, to, func(p Point) bool {
		out = append(out, p)
		return true
	})
	return out, err
}

// block returns a block decoded, from the cache if it is there.
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
