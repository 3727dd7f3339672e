package geoloc

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// A device removed while a fix of it waits in the committer does not come
// back when the fix is written: no position, no trail, no index entry, no
// watcher told of it (the map), nothing after a restart.
func TestForgetWhileFixQueued(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	ts := openTest(t, path, Options{})
	ts.put(t, fix("car", 10, 20, 0))
	var told atomic.Int32
	ts.WatchPositions(func(p Position) {
		if p.Device == "car" {
			told.Add(1)
		}
	})

	// Hold the writer in a batch's completion, so that what comes next
	// queues behind it.
	hold := make(chan struct{})
	ts.commit.Submit(nil, func(error) { <-hold })
	waitFor(t, func() bool { return ts.commit.Queued() == 0 })
	w, then, err := ts.Stage(fix("car", 11, 21, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	written := make(chan error, 1)
	ts.commit.Submit(w, func(err error) { then(err); written <- err })
	forgot := make(chan error, 1)
	go func() { forgot <- ts.Forget("car") }()
	waitFor(t, func() bool { return ts.commit.Queued() == 2 || len(forgot) == 1 })
	close(hold)
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if err := <-forgot; err != nil {
		t.Fatal(err)
	}

	check := func(when string, ts *testStore) {
		t.Helper()
		if p, ok := ts.Latest("car"); ok {
			t.Errorf("%s: the removed device has a position again: %+v", when, p)
		}
		if pts := ts.TrailPoints("car", t0.Add(-time.Hour), t0.Add(time.Hour)); len(pts) != 0 {
			t.Errorf("%s: the removed device has a trail again: %+v", when, pts)
		}
		if all := ts.All(); len(all) != 0 {
			t.Errorf("%s: positions %+v, want none", when, all)
		}
		if hits := ts.Nearby(11, 21, 10, 1000, nil); len(hits) != 0 {
			t.Errorf("%s: the index still has %+v", when, hits)
		}
	}
	check("after the commit", ts)
	if n := told.Load(); n != 0 {
		t.Errorf("the map was told of the removed device's fix %d times", n)
	}
	ts.commit.Close()
	ts.db.Close()
	check("after a restart", openTest(t, path, Options{}))
}

// waitFor polls cond until it holds, for at most ten seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(time.Millisecond)
	}
}
