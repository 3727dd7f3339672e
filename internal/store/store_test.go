package store

import (
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/tidwall/buntdb"
)

func TestAscendPrefixTakesWildcardsLiterally(t *testing.T) {
	db, _ := buntdb.Open(":memory:")
	defer db.Close()
	db.Update(func(tx *buntdb.Tx) error {
		for _, k := range []string{"off:a*:1", "off:alice:1", "off:alice:2", "off:b?:1", "off:bo:1", "offx"} {
			tx.Set(k, "v", nil)
		}
		return nil
	})
	for prefix, want := range map[string]int{"off:a*:": 1, "off:alice:": 2, "off:b?:": 1, "off:": 5, "off:zz": 0} {
		n := 0
		db.View(func(tx *buntdb.Tx) error {
			return AscendPrefix(tx, prefix, func(string, string) bool { n++; return true })
		})
		if n != want {
			t.Errorf("%q: %d keys, want %d", prefix, n, want)
		}
	}
}

func TestLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	d, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(dir); !errors.Is(err, ErrLocked) {
		t.Errorf("second lock: %v", err)
	}
	d.Unlock()
	d2, err := Lock(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	d2.Unlock()
}

func TestCommitterBatchesInOrderAndReportsDurability(t *testing.T) {
	d, _ := Lock(t.TempDir())
	defer d.Unlock()
	db, err := d.Open()
	if err != nil {
		t.Fatal(err)
	}
	c := NewCommitter(db)
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 500 {
		wg.Add(1)
		c.Submit(func(tx *buntdb.Tx) error {
			_, _, err := tx.Set("k:"+strconv.Itoa(i), strconv.Itoa(i), nil)
			return err
		}, func(err error) {
			defer wg.Done()
			if err != nil {
				t.Error(err)
			}
			// Durable: the write is visible once reported.
			db.View(func(tx *buntdb.Tx) error {
				if v, err := tx.Get("k:" + strconv.Itoa(i)); err != nil || v != strconv.Itoa(i) {
					t.Errorf("write %d not there when reported: %v", i, err)
				}
				return nil
			})
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		})
	}
	wg.Wait()
	for i, v := range order {
		if v != i {
			t.Fatalf("reported out of order at %d: %d", i, v)
		}
	}
	// A failing write rolls its batch back and is reported.
	boom := errors.New("boom")
	done := make(chan error, 1)
	c.Submit(func(*buntdb.Tx) error { return boom }, func(err error) { done <- err })
	if err := <-done; !errors.Is(err, boom) {
		t.Errorf("failing write reported %v", err)
	}
	c.Close()
	c.Submit(nil, func(err error) { done <- err })
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("after close: %v", err)
	}
	db.Close()
}
