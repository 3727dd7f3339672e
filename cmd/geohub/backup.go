package main

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/geohub/geohub/internal/history"
	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/tlscert"
	"github.com/tidwall/buntdb"
)

// A backup is a gzipped tar of what a data folder needs: the database as a
// consistent snapshot and the TLS certificate and key. The hub makes it
// inside its own data folder (the one place a hardened service may write),
// and `geohub backup` moves it where it was asked to go.

// backupFiles are the names a backup may hold, as in the data folder.
var backupFiles = []string{store.DBFile, history.File, tlscert.CertFile, tlscert.KeyFile}

// backupper makes backups of one open data folder.
type backupper struct {
	dir  string
	db   *buntdb.DB
	hist *history.Store
}

// make writes a backup into the data folder and returns its path. BuntDB's
// snapshot (Save, into a file beside the database) holds writes back while
// it is taken; reads go on.
func (b backupper) make() (string, error) {
	path := filepath.Join(b.dir, fmt.Sprintf("backup-%s.tar.gz.part", time.Now().UTC().Format("20060102T150405.000Z")))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	err = b.write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}

func (b backupper) write(w io.Writer) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	snapshot, err := os.CreateTemp(b.dir, "snapshot-*.part")
	if err != nil {
		return err
	}
	defer os.Remove(snapshot.Name())
	defer snapshot.Close()
	if err := b.db.Save(snapshot); err != nil {
		return fmt.Errorf("database snapshot: %w", err)
	}
	for _, name := range backupFiles {
		if name == history.File {
			// After the database's snapshot: a trail point the sealer
			// moves in between is then in both copies (reads merge
			// them), never in neither.
			err := b.hist.Snapshot(func(size int64) error {
				return tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: time.Now()})
			}, tw)
			if err != nil {
				return fmt.Errorf("history snapshot: %w", err)
			}
			continue
		}
		src := filepath.Join(b.dir, name)
		if name == store.DBFile {
			src = snapshot.Name()
		}
		if err := addFile(tw, name, src); err != nil && !(errors.Is(err, os.ErrNotExist) && name != store.DBFile) {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func addFile(tw *tar.Writer, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: st.Size(), ModTime: st.ModTime()}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// backup runs `geohub backup FILE`: through the running hub, which keeps
// serving, or on the data folder when no hub holds it.
func backup(args []string) error {
	fs := newFlagSet("backup", "geohub backup FILE [--data DIR]")
	data := fs.String("data", "./data", "data folder")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: geohub backup FILE [--data DIR]")
	}
	dest, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	var made struct{ Path string }
	if err := adminCall(*data, "backup", nil, &made); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := moveFile(made.Path, dest); err != nil {
		os.Remove(made.Path)
		return fmt.Errorf("backup: %w", err)
	}
	st, err := os.Stat(dest)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d bytes\n", dest, st.Size())
	return nil
}

// moveFile moves src to dst, copying when they are on different file
// systems; dst appears whole or not at all.
func moveFile(src, dst string) error {
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".part"
	err = writeFileSynced(tmp, in)
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Remove(src)
}
