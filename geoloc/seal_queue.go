package geoloc

import (
	"hash/maphash"
	"sync"

	"github.com/geohub/geohub/internal/history"
)

// sealQueue is what the sealer has to move: the trail points and sensor
// readings the group commit wrote to BuntDB since the rounds took the
// last ones, in commit order, as the history store keeps them. A round
// takes its points from here instead of reading them back from BuntDB:
// no scan under BuntDB's lock, no parsing of values.
//
// Keys already in BuntDB when the store opened (a crash before their
// round, or a data folder from before the history store) are not queued:
// the rounds find them by scanning (seal.go) until every one of them is
// old enough to have been taken.
//
// The queue is kept in chunks: a push never copies what is queued, and a
// round takes the whole queue under the lock at once and sorts it out
// without holding up the group commit's pushes. At a few thousand fixes
// a second it holds a hundred thousand points and more, which the garbage
// collector scans at every cycle: an entry holds one pointer (its key,
// the string BuntDB holds too), not the value or the device.
type sealQueue struct {
	mu     sync.Mutex
	trails chunked[queued[history.Point]]
	series chunked[queued[history.Reading]]
}

// queued is one unsealed point: its BuntDB key (which names the device or
// series), a hash of its value (to delete it once sealed, unless rewritten
// since), its time in nanoseconds, and the point as the history store
// keeps it.
type queued[P any] struct {
	key string
	sum uint64
	ns  int64
	p   P
}

// valueSeed keys the hashes of queued values; they never leave the process.
var valueSeed = maphash.MakeSeed()

// sumOf is the hash a queued entry keeps of its value.
func sumOf(val string) uint64 { return maphash.String(valueSeed, val) }

// round is what one round moves, in commit order.
type round struct {
	trails []queued[history.Point]
	series []queued[history.Reading]
	more   bool // points older than the cutoff were left for the next round
}

func (r *round) len() int { return len(r.trails) + len(r.series) }

// byDevice groups the round's points as history.Store.Seal takes them.
func (r *round) byDevice() (map[string][]history.Point, map[history.Series][]history.Reading) {
	trails, series := map[string][]history.Point{}, map[history.Series][]history.Reading{}
	for _, e := range r.trails {
		device, _, _ := parseTrailKey(e.key)
		trails[device] = append(trails[device], e.p)
	}
	for _, e := range r.series {
		sr, _, _ := parseSeriesKey(e.key)
		series[sr] = append(series[sr], e.p)
	}
	return trails, series
}

// pushTrail and pushReadings queue points whose commit is durable. They
// run on the committer's goroutine, in commit order.
func (q *sealQueue) pushTrail(e queued[history.Point]) {
	q.mu.Lock()
	q.trails.push(e)
	q.mu.Unlock()
}

func (q *sealQueue) pushReadings(es []queued[history.Reading]) {
	q.mu.Lock()
	q.series.push(es...)
	q.mu.Unlock()
}

// take moves the entries older than cutoff (nanoseconds) out of the queue
// into r, at most limit points in all, oldest commits first. The caller
// holds the sealer's lock: no other take, putBack or forget runs meanwhile.
func (q *sealQueue) take(r *round, cutoff int64, limit int) {
	q.mu.Lock()
	trails, series := q.trails, q.series
	q.trails, q.series = chunked[queued[history.Point]]{}, chunked[queued[history.Reading]]{}
	q.mu.Unlock()
	trails = takeOlder(trails, &r.trails, cutoff, limit-r.len(), &r.more)
	series = takeOlder(series, &r.series, cutoff, limit-r.len(), &r.more)
	q.mu.Lock()
	q.trails.prepend(trails)
	q.series.prepend(series)
	q.mu.Unlock()
}

// takeOlder moves up to limit entries older than cutoff from es to dst
// and returns the rest. Chunks with nothing to take stay as they are.
func takeOlder[P any](es chunked[queued[P]], dst *[]queued[P], cutoff int64, limit int, more *bool) chunked[queued[P]] {
	var rest chunked[queued[P]]
	for _, ch := range es.chunks {
		older := 0
		for i := range ch {
			if ch[i].ns < cutoff {
				older++
			}
		}
		if older == 0 || limit == 0 {
			*more = *more || older > 0
			rest.chunks = append(rest.chunks, ch)
			continue
		}
		for _, e := range ch {
			if e.ns < cutoff && limit > 0 {
				*dst = append(*dst, e)
				limit--
				continue
			}
			*more = *more || e.ns < cutoff
			rest.push(e)
		}
	}
	return rest
}

// putBack returns a round whose history commit failed to the front of the
// queue: its entries are older commits than any queued since.
func (q *sealQueue) putBack(r *round) {
	var trails chunked[queued[history.Point]]
	var series chunked[queued[history.Reading]]
	trails.push(r.trails...)
	series.push(r.series...)
	q.mu.Lock()
	q.trails.prepend(trails)
	q.series.prepend(series)
	q.mu.Unlock()
}

// dropTakenByScan forgets, of the first n trail and m series entries,
// those older than cutoff: a complete scan of BuntDB that began after
// they were queued took them already.
func (q *sealQueue) dropTakenByScan(n, m int, cutoff int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.trails.filter(func(i int, e *queued[history.Point]) bool { return i >= n || e.ns >= cutoff })
	q.series.filter(func(i int, e *queued[history.Reading]) bool { return i >= m || e.ns >= cutoff })
}

// lengths is how many entries are queued.
func (q *sealQueue) lengths() (trails, series int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.trails.len(), q.series.len()
}

// forget drops a device's entries: Forget deleted its keys.
func (q *sealQueue) forget(device string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.trails.filter(func(_ int, e *queued[history.Point]) bool {
		d, _, _ := parseTrailKey(e.key)
		return d != device
	})
	q.series.filter(func(_ int, e *queued[history.Reading]) bool {
		sr, _, _ := parseSeriesKey(e.key)
		return sr.Device != device
	})
}

// chunked is a queue in chunks of chunkLen entries.
type chunked[T any] struct{ chunks [][]T }

const chunkLen = 1024

func (c *chunked[T]) push(es ...T) {
	for _, e := range es {
		if n := len(c.chunks); n == 0 || len(c.chunks[n-1]) == cap(c.chunks[n-1]) {
			c.chunks = append(c.chunks, make([]T, 0, chunkLen))
		}
		last := &c.chunks[len(c.chunks)-1]
		*last = append(*last, e)
	}
}

// prepend puts the entries of o before c's.
func (c *chunked[T]) prepend(o chunked[T]) {
	if len(o.chunks) > 0 {
		c.chunks = append(o.chunks, c.chunks...)
	}
}

func (c *chunked[T]) len() int {
	n := 0
	for _, ch := range c.chunks {
		n += len(ch)
	}
	return n
}

func (c *chunked[T]) each(fn func(*T)) {
	for _, ch := range c.chunks {
		for i := range ch {
			fn(&ch[i])
		}
	}
}

// filter keeps the entries for which keep (told each entry's place in the
// queue) is true, in order.
func (c *chunked[T]) filter(keep func(int, *T) bool) {
	at := 0
	chunks := c.chunks[:0]
	for _, ch := range c.chunks {
		kept := ch[:0]
		for i := range ch {
			if keep(at, &ch[i]) {
				kept = append(kept, ch[i])
			}
			at++
		}
		clear(ch[len(kept):]) // let the strings go
		if len(kept) > 0 {
			chunks = append(chunks, kept)
		}
	}
	clear(c.chunks[len(chunks):])
	c.chunks = chunks
}
