package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// The data folder holds SCRAM keys, positions, messages and the TLS key:
// only the hub's user may read it.
const (
	dirMode    fs.FileMode = 0o700
	secretMode fs.FileMode = 0o600
)

// ErrExposed means a data folder or file is open to other users and the
// hub may not fix it because another user owns it.
var ErrExposed = errors.New("readable by other users")

// Private makes path (a folder or a file) private to this user: mode 0700
// for a folder, 0600 for a file. It changes the mode when this user owns
// path, and otherwise refuses with ErrExposed, naming the path and the
// command that fixes it, rather than change another user's files or run
// with its secrets exposed. A missing file is no error.
func Private(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	want := secretMode
	if fi.IsDir() {
		want = dirMode
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) != os.Geteuid() {
		owner := "another user"
		if ok {
			owner = fmt.Sprintf("user %d", st.Uid)
		}
		return fmt.Errorf("%s: %w (mode %04o) and belongs to %s, not to this one (user %d): "+
			"as its owner run `chmod %o %s`, or give the hub a folder of its own",
			path, ErrExposed, fi.Mode().Perm(), owner, os.Geteuid(), want.Perm(), path)
	}
	if err := os.Chmod(path, want); err != nil {
		return fmt.Errorf("%s is readable by other users (mode %04o) and could not be made private: %w; run `chmod %o %s`",
			path, fi.Mode().Perm(), err, want.Perm(), path)
	}
	return nil
}

// createPrivate creates the file at path with mode 0600 if it does not
// exist, so that BuntDB, which creates with 0666 less the umask, finds it.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, secretMode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}
