package history

import (
	"bytes"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Expire deletes the blocks whose every point is older than the cutoff for
// their device (Unix milliseconds): trails by trail(device), sensor series
// by series(device). It deletes at most maxBlocks blocks (0: no limit) and
// reports how many. It deletes whole blocks and never rewrites one: the
// points of a block that reaches past the cutoff stay until the whole
// block is older. A trail or series left without blocks loses its bucket.
func (s *Store) Expire(trail, series func(device string) int64, maxBlocks int) (int, error) {
	var touched []cacheKey
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		touched, n = touched[:0], 0
		budget := func() int {
			if maxBlocks <= 0 {
				return -1
			}
			return maxBlocks - n
		}
		dead, err := expireRoot(tx.Bucket(trailsBucket), trail, trailCodec, budget())
		if err != nil {
			return err
		}
		for name, starts := range dead {
			for _, t := range starts {
				touched = append(touched, cacheKey{name, t})
			}
			n += len(starts)
		}
		if budget() == 0 {
			return nil
		}
		seriesCutoff := func(name string) int64 {
			device, _, _ := strings.Cut(name, "\x00")
			return series(device)
		}
		dead, err = expireRoot(tx.Bucket(seriesBucket), seriesCutoff, seriesCodec, budget())
		for _, starts := range dead {
			n += len(starts)
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	if len(touched) > 0 {
		s.cache.invalidate(touched)
	}
	return n, nil
}

// expireRoot deletes the expired blocks of the buckets under root, at most
// budget (negative: no limit), and returns their start times by bucket.
func expireRoot[P any](root *bolt.Bucket, cutoff func(name string) int64, c codec[P], budget int) (map[string][]int64, error) {
	var names []string
	root.ForEachBucket(func(k []byte) error {
		names = append(names, string(k))
		return nil
	})
	out := map[string][]int64{}
	n := 0
	for _, name := range names {
		if budget >= 0 && n >= budget {
			break
		}
		limit := cutoff(name)
		b := root.Bucket([]byte(name))
		var dead [][]byte
		cur := b.Cursor()
		for k, v := cur.First(); k != nil && (budget < 0 || n+len(dead) < budget); {
			nk, nv := cur.Next()
			var end int64 // the block's last time, or a bound: blocks do not overlap
			if nk != nil {
				end = keyTime(nk) - 1
			} else {
				var err error
				if end, err = c.lastTime(v); err != nil {
					return nil, err
				}
			}
			if end >= limit {
				break
			}
			dead = append(dead, bytes.Clone(k))
			k, v = nk, nv
		}
		for _, k := range dead {
			out[name] = append(out[name], keyTime(k))
			if err := b.Delete(k); err != nil {
				return nil, err
			}
		}
		n += len(dead)
		if k, _ := b.Cursor().First(); k == nil {
			if err := root.DeleteBucket([]byte(name)); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// DeleteDevice deletes every point of a device: its trail and its series.
func (s *Store) DeleteDevice(device string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(trailsBucket).DeleteBucket([]byte(device)); err != nil && err != bolt.ErrBucketNotFound {
			return err
		}
		root := tx.Bucket(seriesBucket)
		prefix := []byte(device + "\x00")
		var names [][]byte
		cur := root.Cursor()
		for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
			names = append(names, bytes.Clone(k))
		}
		for _, name := range names {
			if err := root.DeleteBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.cache.invalidateDevice(device)
	}
	return err
}
