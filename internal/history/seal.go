package history

import (
	"bytes"
	"slices"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// Seal merges points into their devices' blocks, all in one transaction
// (one sync). A point goes into the block that covers its time: the last
// block starting at or before it, else the first; a late point joins an
// old block like any other. Points are merged by their millisecond: one
// given here replaces a stored one of the same millisecond, so sealing
// the same points twice (after a crash between this commit and the
// deletion from the write-ahead log) stores them once. A block that grows
// past the block size is cut into full blocks and a rest.
func (s *Store) Seal(batch map[string][]Point) error {
	devices := make([]string, 0, len(batch))
	for d, pts := range batch {
		if len(pts) > 0 {
			devices = append(devices, d)
		}
	}
	slices.Sort(devices) // the order of the buckets in the file
	var touched []cacheKey
	err := s.db.Update(func(tx *bolt.Tx) error {
		touched = touched[:0]
		root := tx.Bucket(trailsBucket)
		for _, d := range devices {
			b, err := root.CreateBucketIfNotExists([]byte(d))
			if err != nil {
				return err
			}
			// Blocks are appended in time order: full pages waste nothing.
			b.FillPercent = 0.95
			keys, err := s.sealDevice(b, normalise(batch[d]))
			if err != nil {
				return err
			}
			for _, k := range keys {
				touched = append(touched, cacheKey{d, k})
			}
		}
		return nil
	})
	if err == nil {
		s.cache.invalidate(touched)
	}
	return err
}

// normalise sorts points by time, quantised, the last of a millisecond
// winning.
func normalise(pts []Point) []Point {
	out := make([]Point, len(pts))
	for i, p := range pts {
		out[i] = p.Quantised()
	}
	slices.SortStableFunc(out, func(a, b Point) int { return cmpInt(a.Time, b.Time) })
	return dedupe(out)
}

// dedupe keeps the last point of each millisecond of sorted points.
func dedupe(pts []Point) []Point {
	out := pts[:0]
	for i, p := range pts {
		if i+1 < len(pts) && pts[i+1].Time == p.Time {
			continue
		}
		out = append(out, p)
	}
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sealDevice merges sorted points into the blocks of bucket b and returns
// the start times of the blocks it wrote or deleted.
func (s *Store) sealDevice(b *bolt.Bucket, pts []Point) ([]int64, error) {
	var touched []int64
	for len(pts) > 0 {
		c := b.Cursor()
		k, v := c.Seek(blockKey(pts[0].Time))
		if k == nil || keyTime(k) > pts[0].Time {
			// Not a block starting at this time: the one before covers it.
			if k == nil {
				k, v = c.Last()
			} else if pk, pv := c.Prev(); pk != nil {
				k, v = pk, pv
			}
		}
		var old []Point
		next := int64(1<<63 - 1) // the start of the block after, which takes later points
		if k != nil {
			k = bytes.Clone(k)
			var err error
			if old, err = decodeBlock(nil, v); err != nil {
				return nil, err
			}
			if nk, _ := c.Seek(k); nk != nil {
				if nk, _ = c.Next(); nk != nil {
					next = keyTime(nk)
				}
			}
		}
		n := sort.Search(len(pts), func(i int) bool { return pts[i].Time >= next })
		merged := merge(old, pts[:n])
		pts = pts[n:]
		if k != nil {
			touched = append(touched, keyTime(k))
			if err := b.Delete(k); err != nil {
				return nil, err
			}
		}
		for len(merged) > 0 {
			chunk := merged[:min(len(merged), s.opt.BlockPoints)]
			merged = merged[len(chunk):]
			touched = append(touched, chunk[0].Time)
			if err := b.Put(blockKey(chunk[0].Time), appendBlock(nil, chunk)); err != nil {
				return nil, err
			}
		}
	}
	return touched, nil
}

// merge merges two sorted runs of points, a point of add replacing one of
// old at the same millisecond.
func merge(old, add []Point) []Point {
	out := make([]Point, 0, len(old)+len(add))
	i, j := 0, 0
	for i < len(old) || j < len(add) {
		switch {
		case j == len(add) || i < len(old) && old[i].Time < add[j].Time:
			out = append(out, old[i])
			i++
		case i == len(old) || add[j].Time < old[i].Time:
			out = append(out, add[j])
			j++
		default: // the same millisecond
			out = append(out, add[j])
			i++
			j++
		}
	}
	return out
}
