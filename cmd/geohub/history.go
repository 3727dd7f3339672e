package main

import (
	"github.com/geohub/geohub/internal/history"
	"github.com/geohub/geohub/internal/store"
)

// openHistory opens the trail history file in the locked data folder,
// private to this user like the database.
func openHistory(dir *store.Dir, cacheMiB int) (*history.Store, error) {
	path := dir.File(history.File)
	if err := store.Private(path); err != nil {
		return nil, err
	}
	cache := cacheMiB << 20
	if cacheMiB <= 0 {
		cache = -1
	}
	return history.Open(path, history.Options{CacheBytes: cache})
}
