// Package store opens GeoHub's one BuntDB file and guards its data folder, so
// that two processes never write the same database.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/tidwall/buntdb"
)

// ErrLocked means another process holds the data folder.
var ErrLocked = errors.New("the data folder is in use by another geohub process")

// File names inside the data folder.
const (
	DBFile   = "geohub.db"
	lockFile = "geohub.lock"
)

// Dir is a data folder held by this process.
type Dir struct {
	Path string
	lock *os.File
}

// Lock creates the data folder if needed, makes it private (Private), and
// takes its lock. It fails with ErrLocked, without waiting, when another
// process has it.
func Lock(path string) (*Dir, error) {
	if err := os.MkdirAll(path, dirMode); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	if err := Private(path); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(path, lockFile), os.O_CREATE|os.O_RDWR, secretMode)
	if err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("data folder lock: %w", err)
	}
	return &Dir{Path: path, lock: f}, nil
}

// File returns the path of name inside the folder.
func (d *Dir) File(name string) string { return filepath.Join(d.Path, name) }

// Unlock releases the folder.
func (d *Dir) Unlock() error { return d.lock.Close() }

// Open opens the database in the locked folder. Every committed transaction
// is synced to disk before Update returns, so an acknowledged write survives
// a crash; writers batch their work into few transactions to keep that cheap.
// The file is created private (0600), or made so (Private).
func (d *Dir) Open() (*buntdb.DB, error) {
	if err := createPrivate(d.File(DBFile)); err != nil {
		return nil, fmt.Errorf("open %s: %w", d.File(DBFile), err)
	}
	if err := Private(d.File(DBFile)); err != nil {
		return nil, err
	}
	db, err := buntdb.Open(d.File(DBFile))
	if errors.Is(err, buntdb.ErrInvalid) {
		if damage, cerr := Check(d.File(DBFile)); cerr == nil && damage != nil {
			err = fmt.Errorf("%w; `geohub repair --data %s` keeps every record that reads whole, and the damaged file beside it", damage, d.Path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", d.File(DBFile), err)
	}
	var cfg buntdb.Config
	if err := db.ReadConfig(&cfg); err != nil {
		db.Close()
		return nil, err
	}
	cfg.SyncPolicy = buntdb.Always
	cfg.AutoShrinkDisabled = true // keepShrunk does it
	if err := db.SetConfig(cfg); err != nil {
		db.Close()
		return nil, err
	}
	go keepShrunk(db, d.File(DBFile))
	return db, nil
}

// ErrClosed is returned for writes submitted after Close.
var ErrClosed = errors.New("store: closed")

// AscendPrefix calls fn for each key that starts with prefix, in key order,
// until fn returns false. Unlike BuntDB's AscendKeys it takes the prefix
// literally: account names may contain '*' and '?', which AscendKeys would
// read as wildcards.
func AscendPrefix(tx *buntdb.Tx, prefix string, fn func(key, value string) bool) error {
	return tx.AscendGreaterOrEqual("", prefix, func(k, v string) bool {
		return strings.HasPrefix(k, prefix) && fn(k, v)
	})
}

// Delete deletes keys from tx; a key that is not there is not an error.
func Delete(tx *buntdb.Tx, keys ...string) error {
	for _, k := range keys {
		if _, err := tx.Delete(k); err != nil && err != buntdb.ErrNotFound {
			return err
		}
	}
	return nil
}

// DeletePrefix deletes every key that starts with prefix.
func DeletePrefix(tx *buntdb.Tx, prefix string) error {
	var keys []string
	AscendPrefix(tx, prefix, func(k, _ string) bool {
		keys = append(keys, k)
		return true
	})
	return Delete(tx, keys...)
}

// SetJSON stores v as JSON under key.
func SetJSON(tx *buntdb.Tx, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, _, err = tx.Set(key, string(b), nil)
	return err
}
