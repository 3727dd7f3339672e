package tlscert

import (
	"os"
	"path/filepath"
	"testing"
)

// A generated key left readable by others (an older hub, a copy with cp)
// and its folder are made private again when the hub loads them.
func TestLoadKeepsKeyPrivate(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, []string{"localhost"}, "", ""); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, KeyFile)
	os.Chmod(filepath.Dir(key), 0o755)
	os.Chmod(key, 0o644)
	if _, err := Load(dir, []string{"localhost"}, "", ""); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{filepath.Dir(key): 0o700, key: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", path, fi.Mode().Perm(), want)
		}
	}
}
