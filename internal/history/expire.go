package history

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// Expire deletes the blocks whose every point is older than the cutoff
// that cutoff returns for their device (Unix milliseconds), at most
// maxBlocks of them (0: no limit), and reports how many it deleted. It
// deletes whole blocks and never rewrites one: the points of a block that
// reaches past the cutoff stay until the whole block is older. A device
// left without blocks loses its bucket.
func (s *Store) Expire(cutoff func(device string) int64, maxBlocks int) (int, error) {
	var touched []cacheKey
	err := s.db.Update(func(tx *bolt.Tx) error {
		touched = touched[:0]
		root := tx.Bucket(trailsBucket)
		var devices []string
		root.ForEachBucket(func(k []byte) error {
			devices = append(devices, string(k))
			return nil
		})
		for _, d := range devices {
			if maxBlocks > 0 && len(touched) >= maxBlocks {
				break
			}
			limit := cutoff(d)
			b := root.Bucket([]byte(d))
			var dead [][]byte
			c := b.Cursor()
			for k, v := c.First(); k != nil; {
				nk, nv := c.Next()
				var end int64 // the block's last time
				if nk != nil {
					end = keyTime(nk) - 1 // blocks do not overlap
				} else {
					pts, err := decodeBlock(nil, v)
					if err != nil {
						return err
					}
					end = pts[len(pts)-1].Time
				}
				if end >= limit || maxBlocks > 0 && len(touched)+len(dead) >= maxBlocks {
					break
				}
				dead = append(dead, bytes.Clone(k))
				k, v = nk, nv
			}
			for _, k := range dead {
				touched = append(touched, cacheKey{d, keyTime(k)})
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			if k, _ := b.Cursor().First(); k == nil {
				if err := root.DeleteBucket([]byte(d)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if len(touched) > 0 {
		s.cache.invalidate(touched)
	}
	return len(touched), nil
}

// DeleteDevice deletes every point of a device.
func (s *Store) DeleteDevice(device string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		err := tx.Bucket(trailsBucket).DeleteBucket([]byte(device))
		if err == bolt.ErrBucketNotFound {
			return nil
		}
		return err
	})
	if err == nil {
		s.cache.invalidateDevice(device)
	}
	return err
}
