package geoloc

import (
	"slices"
	"sync"

	"github.com/geohub/geohub/internal/history"
)

// sealQueue is what the sealer has to move: the trail points and sensor
// readings the group commit wrote to BuntDB since the rounds took the
// last ones, in commit order, as the history store keeps them. A round
// takes its points from here instead of reading them back from BuntDB:
// no scan under BuntDB's lock, no parsing. Each entry's key and value are
// the strings BuntDB holds, so the queue costs a few words a point.
//
// Keys already in BuntDB when the store opened (a crash before their
// round, or a data folder from before the history store) are not queued:
// the rounds find them by scanning (seal.go) until every one of them is
// old enough to have been taken.
type sealQueue struct {
	mu     sync.Mutex
	trails []queued[string, history.Point]
	series []queued[history.Series, history.Reading]
}

// queued is one unsealed point: its BuntDB key and value (to delete it
// once sealed, unless rewritten since), its time in nanoseconds, whose
// (device or series) it is, and the point as the history store keeps it.
type queued[K comparable, P any] struct {
	key, val string
	ns       int64
	of       K
	p        P
}

// round is what one round moves, in commit order.
type round struct {
	trails []queued[string, history.Point]
	series []queued[history.Series, history.Reading]
	more   bool // points older than the cutoff were left for the next round
}

func (r *round) len() int { return len(r.trails) + len(r.series) }

// byDevice groups the round's points as history.Store.Seal takes them.
func (r *round) byDevice() (map[string][]history.Point, map[history.Series][]history.Reading) {
	trails, series := map[string][]history.Point{}, map[history.Series][]history.Reading{}
	for _, e := range r.trails {
		trails[e.of] = append(trails[e.of], e.p)
	}
	for _, e := range r.series {
		series[e.of] = append(series[e.of], e.p)
	}
	return trails, series
}

// pushTrail and pushReadings queue points whose commit is durable. They
// run on the committer's goroutine, in commit order.
func (q *sealQueue) pushTrail(e queued[string, history.Point]) {
	q.mu.Lock()
	q.trails = append(q.trails, e)
	q.mu.Unlock()
}

func (q *sealQueue) pushReadings(es []queued[history.Series, history.Reading]) {
	q.mu.Lock()
	q.series = append(q.series, es...)
	q.mu.Unlock()
}

// take moves the entries older than cutoff (nanoseconds) out of the queue
// into r, at most limit points in all, oldest commits first.
func (q *sealQueue) take(r *round, cutoff int64, limit int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.trails = takeOlder(q.trails, &r.trails, cutoff, limit-r.len(), &r.more)
	q.series = takeOlder(q.series, &r.series, cutoff, limit-r.len(), &r.more)
}

// takeOlder moves up to limit entries older than cutoff from es to dst
// and returns what is left of es.
func takeOlder[K comparable, P any](es []queued[K, P], dst *[]queued[K, P], cutoff int64, limit int, more *bool) []queued[K, P] {
	keep := es[:0]
	for _, e := range es {
		switch {
		case e.ns >= cutoff:
		case limit == 0:
			*more = true
		default:
			*dst = append(*dst, e)
			limit--
			continue
		}
		keep = append(keep, e)
	}
	clear(es[len(keep):]) // let the strings go
	return keep
}

// putBack returns a round whose history commit failed to the front of the
// queue: its entries are older commits than any queued since.
func (q *sealQueue) putBack(r *round) {
	q.mu.Lock()
	q.trails = append(r.trails, q.trails...)
	q.series = append(r.series, q.series...)
	q.mu.Unlock()
}

// dropTakenByScan forgets, of the first n trail and m series entries,
// those older than cutoff: a complete scan of BuntDB that began after
// they were queued took them already.
func (q *sealQueue) dropTakenByScan(n, m int, cutoff int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.trails = dropOlder(q.trails, n, cutoff)
	q.series = dropOlder(q.series, m, cutoff)
}

func dropOlder[K comparable, P any](es []queued[K, P], n int, cutoff int64) []queued[K, P] {
	kept := slices.DeleteFunc(es[:n], func(e queued[K, P]) bool { return e.ns < cutoff })
	out := es[:len(kept)+copy(es[len(kept):], es[n:])]
	clear(es[len(out):])
	return out
}

// lengths is how many entries are queued.
func (q *sealQueue) lengths() (trails, series int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.trails), len(q.series)
}

// forget drops a device's entries: Forget deleted its keys.
func (q *sealQueue) forget(device string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.trails = slices.DeleteFunc(q.trails, func(e queued[string, history.Point]) bool { return e.of == device })
	q.series = slices.DeleteFunc(q.series, func(e queued[history.Series, history.Reading]) bool { return e.of.Device == device })
}
