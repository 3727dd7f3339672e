package store

import (
	"sync"
	"testing"
	"time"

	"github.com/tidwall/buntdb"
)

func TestOnBatchIsToldOfEveryBatchBeforeItsSubmitters(t *testing.T) {
	db, err := buntdb.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := NewCommitter(db)
	defer c.Close()
	var mu sync.Mutex
	writes, batches := 0, 0
	c.OnBatch(func(n int, took time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if n <= 0 || took < 0 {
			t.Errorf("batch of %d took %v", n, took)
		}
		writes += n
		batches++
	})
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		c.Submit(func(tx *buntdb.Tx) error { return nil }, func(error) {
			mu.Lock()
			seen := writes
			mu.Unlock()
			if seen == 0 {
				t.Error("a submitter heard before the observer")
			}
			wg.Done()
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if writes != 100 || batches == 0 || batches > 100 {
		t.Errorf("observed %d writes in %d batches", writes, batches)
	}
}
