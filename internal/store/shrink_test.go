package store

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/buntdb"
)

func TestShrinkDue(t *testing.T) {
	for _, c := range []struct {
		size, base int64
		want       bool
	}{
		{size: 10 << 20, base: 0, want: false},        // small files are left alone
		{size: 40 << 20, base: 0, want: true},         // a new file past the minimum
		{size: 70 << 20, base: 20 << 20, want: false}, // 3.5 times: BuntDB's own rule (2) would have shrunk it
		{size: 80 << 20, base: 20 << 20, want: true},
	} {
		if got := shrinkDue(c.size, c.base); got != c.want {
			t.Errorf("%d MiB, %d MiB after the last rewrite: due %v, want %v", c.size>>20, c.base>>20, got, c.want)
		}
	}
}

// An open database's file is rewritten once it holds mostly dead records,
// and what is live survives, also across a reopen.
func TestFileShrinksAndKeepsWhatIsLive(t *testing.T) {
	d, err := Lock(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Unlock()
	db, err := d.Open()
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 64<<10)
	write := func(fn func(tx *buntdb.Tx, k string) error) {
		t.Helper()
		if err := db.Update(func(tx *buntdb.Tx) error {
			for i := range 700 { // 44 MiB
				if err := fn(tx, fmt.Sprintf("dead:%03d", i)); err != nil {
					return err
				}
			}
			_, _, err := tx.Set("live", "kept", nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	write(func(tx *buntdb.Tx, k string) error { _, _, err := tx.Set(k, big, nil); return err })
	write(func(tx *buntdb.Tx, k string) error { _, err := tx.Delete(k); return err })
	path := d.File(DBFile)
	if size := fileSize(path); size < shrinkMinSize {
		t.Fatalf("the file holds %d bytes before any shrink", size)
	}
	deadline := time.Now().Add(20 * time.Second)
	for fileSize(path) > 1<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("the file still holds %d bytes", fileSize(path))
		}
		time.Sleep(50 * time.Millisecond) // polling for the background rewrite
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = d.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *buntdb.Tx) error {
		if v, err := tx.Get("live"); v != "kept" {
			t.Errorf("after the rewrite and a reopen: live = %q, %v", v, err)
		}
		if n, _ := tx.Len(); n != 1 {
			t.Errorf("%d keys after the rewrite, want 1", n)
		}
		return nil
	})
}
