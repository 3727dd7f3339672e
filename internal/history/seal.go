package history

import (
	"bytes"
	"slices"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// Seal merges trail points and sensor readings into their blocks, all in
// one transaction (one sync). A point goes into the block that covers its
// time: the last block starting at or before it, else the first; a late
// point joins an old block like any other. Points are merged by their
// millisecond: one given here replaces a stored one of the same
// millisecond, so sealing the same points twice (after a crash between
// this commit and the deletion from the write-ahead log) stores them
// once. A block that grows past the block size is cut into full blocks
// and a rest.
func (s *Store) Seal(trails map[string][]Point, series map[Series][]Reading) error {
	var touched []cacheKey
	err := s.db.Update(func(tx *bolt.Tx) error {
		touched = touched[:0]
		root := tx.Bucket(trailsBucket)
		for _, d := range sortedKeys(trails, func(d string) string { return d }) {
			keys, err := sealInto(root, []byte(d), trails[d], trailCodec, s.opt.BlockPoints)
			if err != nil {
				return err
			}
			for _, k := range keys {
				touched = append(touched, cacheKey{d, k})
			}
		}
		root = tx.Bucket(seriesBucket)
		for _, sr := range sortedKeys(series, func(s Series) string { return string(seriesName(s)) }) {
			if _, err := sealInto(root, seriesName(sr), series[sr], seriesCodec, s.opt.BlockPoints); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.cache.invalidate(touched)
	}
	return err
}

// sortedKeys returns the keys of m with points, in the order of their
// buckets in the file.
func sortedKeys[K comparable, P any](m map[K][]P, name func(K) string) []K {
	out := make([]K, 0, len(m))
	for k, pts := range m {
		if len(pts) > 0 {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b K) int { return bytes.Compare([]byte(name(a)), []byte(name(b))) })
	return out
}

// sealInto merges points into the blocks of the bucket name under root and
// returns the start times of the blocks it wrote or deleted.
func sealInto[P any](root *bolt.Bucket, name []byte, pts []P, c codec[P], blockPoints int) ([]int64, error) {
	b, err := root.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, err
	}
	// Blocks are appended in time order: full pages waste nothing.
	b.FillPercent = 0.95
	pts = normalise(pts, c)
	var touched []int64
	for len(pts) > 0 {
		t := c.time(&pts[0])
		cur := b.Cursor()
		k, v := cur.Seek(blockKey(t))
		if k == nil || keyTime(k) > t {
			// Not a block starting at this time: the one before covers it.
			if k == nil {
				k, v = cur.Last()
			} else if pk, pv := cur.Prev(); pk != nil {
				k, v = pk, pv
			}
		}
		var old []P
		next := int64(1<<63 - 1) // the start of the block after, which takes later points
		if k != nil {
			k = bytes.Clone(k)
			if old, err = c.decode(nil, v); err != nil {
				return nil, err
			}
			if nk, _ := cur.Seek(k); nk != nil {
				if nk, _ = cur.Next(); nk != nil {
					next = keyTime(nk)
				}
			}
		}
		n := sort.Search(len(pts), func(i int) bool { return c.time(&pts[i]) >= next })
		merged := merge(old, pts[:n], c.time)
		pts = pts[n:]
		if k != nil {
			touched = append(touched, keyTime(k))
			if err := b.Delete(k); err != nil {
				return nil, err
			}
		}
		for len(merged) > 0 {
			chunk := merged[:min(len(merged), blockPoints)]
			merged = merged[len(chunk):]
			start := c.time(&chunk[0])
			touched = append(touched, start)
			if err := b.Put(blockKey(start), c.encode(nil, chunk)); err != nil {
				return nil, err
			}
		}
	}
	return touched, nil
}

// normalise sorts points by time, quantised, the last of a millisecond
// winning.
func normalise[P any](pts []P, c codec[P]) []P {
	out := make([]P, len(pts))
	for i, p := range pts {
		out[i] = c.quantise(p)
	}
	byTime := func(a, b P) int { return cmpInt(c.time(&a), c.time(&b)) }
	if !slices.IsSortedFunc(out, byTime) { // as the write-ahead log's keys are
		slices.SortStableFunc(out, byTime)
	}
	keep := out[:0]
	for i := range out {
		if i+1 < len(out) && c.time(&out[i+1]) == c.time(&out[i]) {
			continue
		}
		keep = append(keep, out[i])
	}
	return keep
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

// merge merges two sorted runs of points, a point of add replacing one of
// old at the same millisecond.
func merge[P any](old, add []P, time func(*P) int64) []P {
	out := make([]P, 0, len(old)+len(add))
	i, j := 0, 0
	for i < len(old) || j < len(add) {
		switch {
		case j == len(add) || i < len(old) && time(&old[i]) < time(&add[j]):
			out = append(out, old[i])
			i++
		case i == len(old) || time(&add[j]) < time(&old[i]):
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
