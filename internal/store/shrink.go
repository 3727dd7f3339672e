package store

import (
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/tidwall/buntdb"
)

// BuntDB appends every write to its file and rewrites the file with only
// what is live ("shrinks" it) when it has grown to twice its size after
// the last rewrite. At 5,000 fixes a second (each appends a trail point,
// the position and the pubsub item, about 1.2 KB, and the point's delete
// once sealed) that was every 7 s, and the rewrite ends, under the
// database's lock, with a rename over the old file, which on ext4 first
// writes out the whole new file: 40 ms in which no write committed.
//
// So the hub shrinks the file itself: when it has grown to shrinkFactor
// times its size after the last rewrite (a few times less often), and
// while BuntDB writes the new file a helper syncs it every
// presyncEvery, so that little is left to write at the rename. Once the
// new file is in place it is synced, and the folder too, so the rename
// is durable (BuntDB syncs neither).
const (
	shrinkFactor  = 4
	shrinkMinSize = 32 << 20 // BuntDB's own threshold
	shrinkCheck   = time.Second
	presyncEvery  = 50 * time.Millisecond
)

// keepShrunk shrinks db's file at path as it grows, until db is closed.
func keepShrunk(db *buntdb.DB, path string) {
	base := fileSize(path)
	t := time.NewTicker(shrinkCheck)
	defer t.Stop()
	for range t.C {
		if errors.Is(db.View(func(*buntdb.Tx) error { return nil }), buntdb.ErrDatabaseClosed) {
			return
		}
		if !shrinkDue(fileSize(path), base) {
			continue
		}
		if err := shrinkSynced(db, path); errors.Is(err, buntdb.ErrDatabaseClosed) {
			return
		}
		base = fileSize(path)
	}
}

// shrinkDue reports whether a file of size bytes, which held base after
// the last rewrite, is worth rewriting.
func shrinkDue(size, base int64) bool { return size >= shrinkMinSize && size >= base*shrinkFactor }

// shrinkSynced shrinks db's file, syncing the new file as BuntDB writes
// it and once it is in place.
func shrinkSynced(db *buntdb.DB, path string) error {
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(presyncEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				syncFile(path + ".tmp") // gone once renamed: nothing to do
			}
		}
	}()
	err := db.Shrink()
	close(stop)
	<-stopped
	if err != nil {
		return err
	}
	if err := syncFile(path); err != nil {
		return err
	}
	return syncFile(filepath.Dir(path))
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
