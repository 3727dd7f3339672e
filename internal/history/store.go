package history

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// File is the store's file name in the data folder.
const File = "history.db"

// trailsBucket holds a bucket per device, named by the device, holding its
// blocks keyed by the time of their first point (blockKey).
var trailsBucket = []byte("trails")

// Options configure a Store. Zero values take the defaults.
type Options struct {
	CacheBytes  int // decoded blocks kept in memory; default 32 MiB, negative: none
	BlockPoints int // points a block holds before the next one starts; default 512
}

// DefaultCacheBytes is the default size of the decoded-block cache.
const DefaultCacheBytes = 32 << 20

// defaultBlockPoints keeps a block around 5 KiB: a few bbolt pages, so that
// rewriting the open block each round stays cheap and a month of one device
// (about 520,000 points at one fix in 5 s) is about a thousand blocks.
const defaultBlockPoints = 512

// Store is the history on disk. It is safe for concurrent use; writes
// (Seal, Expire, DeleteDevice) are serialised by bbolt.
type Store struct {
	db    *bolt.DB
	opt   Options
	cache *cache
}

// Open opens or creates the store file at path, private to this user
// (mode 0600). It does not read the history: opening takes the same time
// whatever the file holds.
func Open(path string, opt Options) (*Store, error) {
	if opt.CacheBytes == 0 {
		opt.CacheBytes = DefaultCacheBytes
	}
	if opt.BlockPoints <= 0 {
		opt.BlockPoints = defaultBlockPoints
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{trailsBucket, seriesBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &Store{db: db, opt: opt, cache: newCache(opt.CacheBytes)}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Path is the file's path.
func (s *Store) Path() string { return s.db.Path() }

// Size returns the bytes of the file in use (bbolt's high-water mark)
// and the bytes the file takes on disk: bbolt grows the file ahead of use
// (by up to 16 MiB at a time), but the part never written takes no disk
// blocks.
func (s *Store) Size() (used, onDisk int64, err error) {
	s.db.View(func(tx *bolt.Tx) error {
		used = tx.Size()
		return nil
	})
	fi, err := os.Stat(s.db.Path())
	if err != nil {
		return 0, 0, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return used, st.Blocks * 512, nil
	}
	return used, fi.Size(), nil
}

// blockKey is a block's first time, big-endian with the sign bit flipped so
// that keys sort by time, times before 1970 included.
func blockKey(ms int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(ms)^1<<63) }

func keyTime(k []byte) int64 { return int64(binary.BigEndian.Uint64(k) ^ 1<<63) }

// Devices returns the devices with stored points, in byte order.
func (s *Store) Devices() []string {
	var out []string
	s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(trailsBucket).ForEachBucket(func(k []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out
}

// Snapshot writes a consistent copy of the file to w from one read
// transaction, while writes go on; header is told its length first.
func (s *Store) Snapshot(header func(size int64) error, w io.Writer) error {
	return s.db.View(func(tx *bolt.Tx) error {
		if err := header(tx.Size()); err != nil {
			return err
		}
		_, err := tx.WriteTo(w)
		return err
	})
}
