package main

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/geohub/geohub/internal/store"
)

// restore runs `geohub restore FILE --data DIR`: the backup's files go into
// the data folder, which no hub may be using. A folder that holds a
// database is replaced only with --force, its files kept beside as
// *.before-restore-<time>.
func restore(args []string) error {
	fs := newFlagSet("restore", "geohub restore FILE --data DIR [--force]   (with no hub using DIR)")
	data := fs.String("data", "./data", "data folder to restore into")
	force := fs.Bool("force", false, "replace the database the folder holds (its files are kept as *.before-restore-<time>)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: geohub restore FILE --data DIR [--force]")
	}
	dir, err := store.Lock(*data)
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("restore: %w: stop the hub first", err)
	}
	if err != nil {
		return err
	}
	defer dir.Unlock()
	db := dir.File(store.DBFile)
	if st, err := os.Stat(db); err == nil && st.Size() > 0 && !*force {
		return fmt.Errorf("restore: %s holds a database; --force replaces it (its files are kept beside)", *data)
	}
	const part = ".restore-part"
	names, err := extractBackup(pos[0], func(name string) string { return dir.File(name) + part })
	for _, name := range backupFiles {
		defer os.Remove(dir.File(name) + part)
	}
	if err != nil {
		return fmt.Errorf("restore: %s: %w", pos[0], err)
	}
	stamp := time.Now().UTC().Format("20060102T150405Z")
	for _, name := range backupFiles {
		dst := dir.File(name)
		if _, err := os.Stat(dst); err == nil {
			if err := os.Rename(dst, dst+".before-restore-"+stamp); err != nil {
				return err
			}
		}
		if slices.Contains(names, name) {
			if err := os.Rename(dst+part, dst); err != nil {
				return err
			}
		}
	}
	if damage, err := store.Check(db); err != nil || damage != nil {
		return fmt.Errorf("restore: the restored database does not read whole: %v %v", damage, err)
	}
	fmt.Printf("restored %s into %s\n", pos[0], *data)
	return nil
}

// extractBackup writes the files of a backup made by `geohub backup` to
// the paths to gives them and returns their names. Anything else in it is
// refused: a backup names no other path.
func extractBackup(path string, to func(name string) string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("not a geohub backup: %w", err)
	}
	var names []string
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return names, fmt.Errorf("not a geohub backup: %w", err)
		}
		if !slices.Contains(backupFiles, h.Name) || h.Typeflag != tar.TypeReg || slices.Contains(names, h.Name) {
			return names, fmt.Errorf("not a geohub backup: it holds %q", h.Name)
		}
		names = append(names, h.Name)
		dst := to(h.Name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return names, err
		}
		if err := writeFileSynced(dst, tr); err != nil {
			return names, err
		}
	}
	if !slices.Contains(names, store.DBFile) {
		return names, errors.New("not a geohub backup: no " + store.DBFile)
	}
	return names, nil
}

func writeFileSynced(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
