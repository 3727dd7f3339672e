package store

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/buntdb"
)

// memCommitter is a Committer on an in-memory database, both closed when
// the test ends.
func memCommitter(t *testing.T) *Committer {
	db, err := buntdb.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	c := NewCommitter(db)
	t.Cleanup(func() {
		c.Close()
		db.Close()
	})
	return c
}

func TestOnBatchIsToldOfEveryBatchBeforeItsSubmitters(t *testing.T) {
	c := memCommitter(t)
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

func TestWindowLetsWritesThatKeepComingShareABatch(t *testing.T) {
	c := memCommitter(t)
	// Long enough that the test goroutine is not descheduled for as long
	// between the two writes below.
	c.SetWindow(time.Second)
	batches := make(chan int, 8)
	c.OnBatch(func(n int, _ time.Duration) { batches <- n })
	nop := func(*buntdb.Tx) error { return nil }
	if err := c.Later(nop).Wait(); err != nil {
		t.Fatal(err)
	}
	<-batches
	// The writer has just finished a batch: the next write is part of a
	// stream, and the one after it joins its batch instead of waiting for
	// a sync of its own, though it comes after the writer could have
	// taken the first (without a window it does so within a few yields).
	first := c.Later(nop)
	for i := 0; i < 1000 && c.Queued() > 0; i++ {
		runtime.Gosched()
	}
	second := c.Later(nop)
	if err := first.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := <-batches; n != 2 {
		t.Errorf("the two writes went in batches of %d and %d, want one batch of 2", n, <-batches)
	}
}
