package history

import (
	"encoding/binary"
	"slices"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// Each calls fn with the device's points from from to to (Unix
// milliseconds, both included), oldest first, until fn returns false. fn
// runs inside a read transaction: it must not write to the store.
func (s *Store) Each(device string, from, to int64, fn func(Point) bool) error {
	return s.EachColumns(device, from, to, func(c *Columns) bool {
		for i := range c.Len() {
			if !fn(c.Point(i)) {
				return false
			}
		}
		return true
	})
}

// EachColumns is Each a block at a time: fn gets runs of points, in
// order, as columns, which it must not change and must not keep: they are
// shared with the cache, or reused for the next run.
func (s *Store) EachColumns(device string, from, to int64, fn func(*Columns) bool) error {
	gen := s.cache.generation()
	var scratch Columns // for blocks the cache does not keep
	admit := cachedPerRead
	return s.db.View(func(tx *bolt.Tx) error {
		cur := trailCursor(tx, device)
		if cur == nil {
			return nil
		}
		for k, v := seekBlock(cur, from); k != nil && keyTime(k) <= to; k, v = cur.Next() {
			c, err := s.block(gen, device, keyTime(k), v, &scratch, &admit)
			if err != nil {
				return err
			}
			lo, _ := slices.BinarySearch(c.Time, from)
			hi, found := slices.BinarySearch(c.Time, to)
			if found {
				hi++
			}
			if lo < hi && !fn(c.slice(lo, hi)) {
				return nil
			}
		}
		return nil
	})
}

// MaxPoints is at least the number of the device's points from from to
// to: the points of the blocks that hold them, counted from the blocks'
// headers without decoding them. A reader sizes its result with it.
func (s *Store) MaxPoints(device string, from, to int64) int {
	n := 0
	s.db.View(func(tx *bolt.Tx) error {
		cur := trailCursor(tx, device)
		if cur == nil {
			return nil
		}
		for k, v := seekBlock(cur, from); k != nil && keyTime(k) <= to; k, v = cur.Next() {
			if m, l := binary.Uvarint(v[min(1, len(v)):]); l > 0 && m <= uint64(len(v)) {
				n += int(m)
			}
		}
		return nil
	})
	return n
}

func trailCursor(tx *bolt.Tx, device string) *bolt.Cursor {
	if b := tx.Bucket(trailsBucket).Bucket([]byte(device)); b != nil {
		return b.Cursor()
	}
	return nil
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
	for k, v := seekBlock(cur, from); k != nil && keyTime(k) <= to; k, v = cur.Next() {
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

// seekBlock positions cur at the first block that may hold points from
// from on: the one starting at from, else the one before (which may reach
// past it), else the first.
func seekBlock(cur *bolt.Cursor, from int64) (k, v []byte) {
	k, v = cur.Seek(blockKey(from))
	if k != nil && keyTime(k) == from {
		return k, v
	}
	if k == nil {
		return cur.Last()
	}
	if pk, pv := cur.Prev(); pk != nil {
		return pk, pv
	}
	return cur.First()
}

// cachedPerRead is how many blocks one read may put in the cache: a day
// is 34 blocks, and a month's thousand would push out what the live map
// reads again and again, to be read again seldom.
const cachedPerRead = 64

// block returns a trail block decoded: from the cache if it is there,
// else decoded into a new Columns that the cache keeps while admit lasts,
// or into scratch.
func (s *Store) block(gen uint64, device string, start int64, v []byte, scratch *Columns, admit *int) (*Columns, error) {
	if !s.cache.enabled() {
		return scratch, scratch.decode(v)
	}
	k := cacheKey{device, start}
	if c, ok := s.cache.get(k); ok {
		return c, nil
	}
	if *admit == 0 {
		return scratch, scratch.decode(v)
	}
	*admit--
	c := &Columns{}
	if err := c.decode(v); err != nil {
		return nil, err
	}
	c.scratch = nil
	s.cache.put(gen, k, c)
	return c, nil
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
		var scratch Columns
		admit := 1
		c, err := s.block(gen, device, keyTime(k), v, &scratch, &admit)
		if err != nil || c.Len() == 0 {
			return err
		}
		last, ok = c.Point(c.Len()-1), true
		return nil
	})
	return last, ok, err
}
