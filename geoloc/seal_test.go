package geoloc

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/history"
	"github.com/tidwall/buntdb"
)

// A crash before a round leaves points in BuntDB that nothing queued: the
// next start scans for them until the newest is sealed, and points
// committed since are taken from the queue, each stored once.
func TestPointsLeftAtACrashAreSealedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db")
	h := openHistory(t, dir)
	ps := route("car", 90, 0)
	before := openTest(t, path, Options{History: h, SealEvery: -1, SealDelay: -1})
	before.put(t, ps[:50]...)
	before.commit.Close() // the crash: no round ran
	before.db.Close()

	ts := openTest(t, path, Options{History: h, SealEvery: -1, SealDelay: -1})
	if !ts.seal.scanning || ts.seal.atOpen != 50 {
		t.Fatalf("at open: scanning %v, %d points", ts.seal.scanning, ts.seal.atOpen)
	}
	ts.put(t, ps[50:80]...)
	if n, more, err := ts.SealRound(time.Now()); n != 80 || more || err != nil {
		t.Fatalf("the first round sealed %d (more %v): %v", n, more, err)
	}
	if trails, _ := ts.seal.queue.lengths(); ts.seal.scanning || trails != 0 || ts.trailCount() != 0 {
		t.Fatalf("after the scan: scanning %v, %d queued, %d in BuntDB", ts.seal.scanning, trails, ts.trailCount())
	}
	ts.put(t, ps[80:]...)
	if n, _, _ := ts.SealRound(time.Now()); n != 10 || ts.trailCount() != 0 {
		t.Fatalf("the queued round sealed %d, left %d", n, ts.trailCount())
	}
	sameTrail(t, "after the restart", ts.TrailPoints("car", t0.Add(-time.Hour), t0.Add(time.Hour)), wantTrail(ps))
	if pts, _ := h.Points("car", 0, 1<<62); len(pts) != len(ps) {
		t.Errorf("%d points in the history, want %d", len(pts), len(ps))
	}
}

// Points of a device still queued when it is forgotten never reach the
// history; a device's points queued after are its new trail.
func TestForgetDropsQueuedPoints(t *testing.T) {
	dir := t.TempDir()
	h := openHistory(t, dir)
	ts := openTest(t, filepath.Join(dir, "db"), Options{History: h, SealEvery: -1, SealDelay: time.Hour})
	ts.put(t, route("car", 20, 0)...)
	ts.put(t, route("bus", 20, 0)...)
	if err := ts.Forget("car"); err != nil {
		t.Fatal(err)
	}
	again := route("car", 5, 10*time.Minute)
	ts.put(t, again...)
	if n, _, err := ts.SealRound(time.Now().Add(2 * time.Hour)); n != 25 || err != nil {
		t.Fatalf("sealed %d: %v", n, err)
	}
	if pts, _ := h.Points("car", 0, 1<<62); len(pts) != len(again) {
		t.Errorf("%d sealed points of the forgotten car, want the %d sent after", len(pts), len(again))
	}
	if pts, _ := h.Points("bus", 0, 1<<62); len(pts) != 20 {
		t.Errorf("the bus has %d sealed points", len(pts))
	}
}

// A point rewritten (a fix of the same time) after its round took it
// stays in BuntDB for the next round; one unchanged goes.
func TestDeleteSealedKeepsRewrittenPoints(t *testing.T) {
	dir := t.TempDir()
	ts := openTest(t, filepath.Join(dir, "db"), Options{History: openHistory(t, dir), SealEvery: -1, SealDelay: time.Hour})
	ps := route("car", 2, 0)
	ts.put(t, ps...)
	r := &round{}
	ts.seal.queue.take(r, time.Now().UnixNano(), 10)
	if len(r.trails) != 2 {
		t.Fatalf("took %d points", len(r.trails))
	}
	read := `{"t":0,"lat":1,"lon":1}` // what the round read before a rewrite
	r.trails[1].sum = sumOf(read)
	if err := ts.deleteSealed(r); err != nil {
		t.Fatal(err)
	}
	ts.db.View(func(tx *buntdb.Tx) error {
		if _, err := tx.Get(r.trails[0].key); err != buntdb.ErrNotFound {
			t.Errorf("the sealed point is still in BuntDB: %v", err)
		}
		if v, err := tx.Get(r.trails[1].key); err != nil || v == read {
			t.Errorf("the rewritten point: %q, %v", v, err)
		}
		if ttl, err := tx.TTL(r.trails[1].key); err != nil || ttl >= 0 {
			t.Errorf("the rewritten point has a TTL %v (%v)", ttl, err)
		}
		return nil
	})
}

// A round takes the old entries in commit order up to its limit, across
// chunks, and leaves the young ones and the rest in order; a failed round
// goes back in front of what is left (same-key entries are all old or all
// young, so their order holds).
func TestSealQueueTakesInOrder(t *testing.T) {
	var q sealQueue
	const n = 3*chunkLen + 100
	for i := range n {
		ns := int64(i)
		if i%3 == 0 {
			ns = 1 << 60 // young
		}
		q.pushTrail(queued[history.Point]{key: fmt.Sprint(i), ns: ns})
	}
	order := func(es []queued[history.Point]) bool {
		return slices.IsSortedFunc(es, func(a, b queued[history.Point]) int {
			x, _ := strconv.Atoi(a.key)
			y, _ := strconv.Atoi(b.key)
			return x - y
		})
	}
	r := &round{}
	q.take(r, 1<<59, 1500)
	if len(r.trails) != 1500 || !r.more || !order(r.trails) || r.trails[0].key != "1" {
		t.Fatalf("took %d (more %v)", len(r.trails), r.more)
	}
	q.putBack(r)
	all := &round{}
	q.take(all, 1<<61, n)
	old := slices.DeleteFunc(slices.Clone(all.trails), func(e queued[history.Point]) bool { return e.ns >= 1<<59 })
	young := slices.DeleteFunc(slices.Clone(all.trails), func(e queued[history.Point]) bool { return e.ns < 1<<59 })
	if len(all.trails) != n || all.more || !order(old) || !order(young) || old[0].key != "1" {
		t.Fatalf("after the put back: %d, old in order %v, young in order %v", len(all.trails), order(old), order(young))
	}
	if tr, _ := q.lengths(); tr != 0 {
		t.Fatalf("%d left", tr)
	}
}
