package geoloc

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/geohub/geohub/internal/history"
	"github.com/geohub/geohub/internal/store"
	"github.com/tidwall/buntdb"
)

// The sealer moves trail points and sensor readings from BuntDB (the
// write-ahead log, where every fix is durable when it is acknowledged)
// into the history store. The group commit queues each point it wrote
// (seal_queue.go); a round takes the queued points older than the seal
// delay, seals them in one history transaction, and only once that is
// durable deletes them from BuntDB through the committer. A crash in
// between leaves points in both stores: reads merge them, and the next
// start finds them in BuntDB and seals them again, which changes nothing
// (history.Seal merges by time).
//
// Points already in BuntDB when the store opens are not queued: the
// rounds scan BuntDB for them until the newest of them has been taken. A
// data folder from before the history store holds its whole trail as
// trk: keys: they are moved that way, at most maxSealPoints a round and
// back to back, so that a large folder moves in bounded steps between
// which fixes keep flowing.

// Defaults of Options.SealEvery and Options.SealDelay. The unsealed points
// are most of what the garbage collector marks at high rates (at 5,000
// fixes a second a 30 s delay and 10 s rounds kept 75-90 MiB live, and
// each collection marked for 80 ms; 10 s and 5 s keep about half, at the
// same CPU per fix), and 10 s still covers a link's jitter: later fixes
// join their sealed block at the next round.
const (
	DefaultSealEvery = 5 * time.Second
	DefaultSealDelay = 10 * time.Second
)

// maxSealPoints bounds the points a round reads from BuntDB (a variable
// for the tests). maxQueuedRound bounds a round from the queue, whose
// points are in memory already: every open block a round touches is
// rewritten, so one round of everything due costs less than several.
var maxSealPoints = 100_000

const maxQueuedRound = 2_000_000

const (
	scanChunk    = 10_000 // keys read under one BuntDB read lock
	deleteChunk  = 500    // keys deleted by one committer write (see deleteSealed)
	expireEvery  = time.Minute
	expireBlocks = 10_000 // blocks expired in one history transaction
)

// sealer is the goroutine that runs the rounds, and the lock that keeps a
// round and Forget apart (a round must not bring a forgotten device's
// points back).
type sealer struct {
	mu    sync.Mutex
	stop  chan struct{}
	done  chan struct{}
	queue sealQueue
	// Points in BuntDB when the store opened: how many, and the time
	// (ns) of the newest. Rounds scan for them while scanning.
	atOpen, newestAtOpen int64
	scanning             bool
}

func (s *Store) startSealer() {
	s.seal.atOpen, s.seal.newestAtOpen = s.unsealedAtOpen()
	s.seal.scanning = s.seal.atOpen > 0
	if s.opt.SealDelay < 0 {
		s.opt.SealDelay = 0
	} else if s.opt.SealDelay == 0 {
		s.opt.SealDelay = DefaultSealDelay
	}
	if s.opt.SealEvery < 0 {
		return // rounds by hand (SealRound)
	}
	if s.opt.SealEvery == 0 {
		s.opt.SealEvery = DefaultSealEvery
	}
	if s.opt.Logger == nil {
		s.opt.Logger = slog.New(slog.DiscardHandler)
	}
	s.seal.stop, s.seal.done = make(chan struct{}), make(chan struct{})
	go s.sealLoop()
}

// Close stops the sealer, after the round under way. The history store is
// the caller's to close.
func (s *Store) Close() {
	if s.seal.stop == nil {
		return
	}
	select {
	case <-s.seal.stop:
	default:
		close(s.seal.stop)
	}
	<-s.seal.done
}

func (s *Store) sealLoop() {
	defer close(s.seal.done)
	log := s.opt.Logger
	total := int(s.seal.atOpen)
	if total > maxSealPoints {
		log.Info("moving trail points into the history store", "points", total, "file", s.opt.History.Path())
	}
	moved := 0
	tick := time.NewTicker(s.opt.SealEvery)
	defer tick.Stop()
	var lastExpiry time.Time
	for {
		n, more, err := s.SealRound(time.Now())
		switch {
		case errors.Is(err, store.ErrClosed):
			return
		case err != nil:
			log.Error("sealing trail points into the history store", "err", err)
		case total > maxSealPoints && moved < total:
			moved += n
			if !more {
				log.Info("trail points moved into the history store", "points", moved)
				moved = total
			} else {
				log.Info("moving trail points into the history store", "moved", moved, "of", total)
			}
		}
		if time.Since(lastExpiry) >= expireEvery {
			lastExpiry = time.Now()
			if _, err := s.ExpireHistory(lastExpiry); err != nil {
				log.Error("expiring trail history", "err", err)
			}
		}
		if more && err == nil {
			select {
			case <-s.seal.stop:
				return
			default:
				continue // a full round: more is waiting, go on at once
			}
		}
		select {
		case <-s.seal.stop:
			return
		case <-tick.C:
		}
	}
}

// unsealedAtOpen counts the trail points and sensor readings in BuntDB
// and finds the newest one's time, a chunk of keys at a time.
func (s *Store) unsealedAtOpen() (n, newest int64) {
	s.scanPrefix(trailPrefix, func(k, _ string) bool {
		_, ns, _ := parseTrailKey(k)
		n, newest = n+1, max(newest, ns)
		return true
	})
	s.scanPrefix(seriesPrefix, func(k, _ string) bool {
		_, ns, _ := parseSeriesKey(k)
		n, newest = n+1, max(newest, ns)
		return true
	})
	return n, newest
}

// unsealedCount counts the trail points and sensor readings in BuntDB.
func (s *Store) unsealedCount() int {
	n, _ := s.unsealedAtOpen()
	return int(n)
}

// scanPrefix calls fn with the keys that start with prefix and their
// values, in key order, until fn returns false, holding BuntDB's read
// lock for scanChunk keys at a time so that the committer is never held
// up for long.
func (s *Store) scanPrefix(prefix string, fn func(k, v string) bool) {
	from := prefix
	for {
		n, done := 0, false
		s.db.View(func(tx *buntdb.Tx) error {
			return tx.AscendGreaterOrEqual("", from, func(k, v string) bool {
				if !strings.HasPrefix(k, prefix) || !fn(k, v) {
					done = true
					return false
				}
				from = k + "\x00"
				n++
				return n < scanChunk
			})
		})
		if done || n < scanChunk {
			return
		}
	}
}

// SealRound moves the trail points and sensor readings whose time is
// older than now less the seal delay from BuntDB into the history store,
// up to maxSealPoints when it scans BuntDB and maxQueuedRound from the
// queue. It returns how many it moved and whether more are waiting.
func (s *Store) SealRound(now time.Time) (int, bool, error) {
	s.seal.mu.Lock()
	defer s.seal.mu.Unlock()
	cutoff := now.Add(-s.opt.SealDelay).UnixNano()
	r := &round{}
	scanned := s.seal.scanning
	var queuedTrails, queuedSeries int
	if scanned {
		queuedTrails, queuedSeries = s.seal.queue.lengths()
		s.scanRound(r, cutoff)
	} else {
		s.seal.queue.take(r, cutoff, maxQueuedRound)
	}
	if r.len() == 0 {
		return 0, false, nil
	}
	if err := s.opt.History.Seal(r.byDevice()); err != nil {
		if !scanned {
			s.seal.queue.putBack(r)
		}
		return 0, false, err
	}
	if err := s.deleteSealed(r); err != nil {
		return 0, false, err
	}
	if scanned && !r.more {
		// The scan saw every point older than the cutoff, those queued
		// before it began among them.
		s.seal.queue.dropTakenByScan(queuedTrails, queuedSeries, cutoff)
		s.seal.scanning = cutoff <= s.seal.newestAtOpen
	}
	return r.len(), r.more, nil
}

// scanRound fills r with the points in BuntDB older than cutoff, up to
// maxSealPoints.
func (s *Store) scanRound(r *round, cutoff int64) {
	take := func(ns int64, ok bool) bool {
		if !ok || ns >= cutoff {
			return false
		}
		if r.len() == maxSealPoints {
			r.more = true
			return false
		}
		return true
	}
	s.scanPrefix(trailPrefix, func(k, v string) bool {
		if _, ns, ok := parseTrailKey(k); take(ns, ok) {
			r.trails = append(r.trails, queued[history.Point]{k, sumOf(v), ns, historyPoint(parseTrailPoint(v))})
		}
		return !r.more
	})
	s.scanPrefix(seriesPrefix, func(k, v string) bool {
		if _, ns, ok := parseSeriesKey(k); take(ns, ok) {
			r.series = append(r.series, queued[history.Reading]{k, sumOf(v), ns, historyReading(v, ns)})
		}
		return !r.more
	})
}

// deleteSealed deletes the round's points from BuntDB, now that they are
// sealed and durable, unless a fix of the same time replaced one since
// it was read (that one is queued and sealed next). Only the sealer
// deletes these keys and only the group commit writes them, always
// without a TTL with a history store, so a replaced value goes back as
// it was.
func (s *Store) deleteSealed(r *round) error {
	type sealed struct {
		key string
		sum uint64 // of the value sealed (sumOf)
	}
	ks := make([]sealed, 0, r.len())
	for _, e := range r.trails {
		ks = append(ks, sealed{e.key, e.sum})
	}
	for _, e := range r.series {
		ks = append(ks, sealed{e.key, e.sum})
	}
	// In key order, here rather than in the commit: each delete then
	// walks the tree where the one before did.
	slices.SortFunc(ks, func(a, b sealed) int { return strings.Compare(a.key, b.key) })
	// One small chunk at a time: the fixes committed meanwhile wait for
	// one chunk at most (about a millisecond), not for a round's worth of
	// deletes in one batch (50,000 at 5,000 fixes/s, which held every
	// acknowledgement for tens of milliseconds).
	var err error
	for i := 0; i < len(ks); i += deleteChunk {
		chunk := ks[i:min(i+deleteChunk, len(ks))]
		err = errors.Join(err, s.commit.Later(func(tx *buntdb.Tx) error {
			for _, k := range chunk {
				if v, err := tx.Delete(k.key); err == nil && sumOf(v) != k.sum {
					if _, _, err := tx.Set(k.key, v, nil); err != nil {
						return err
					}
				}
			}
			return nil
		}).Wait())
	}
	return err
}

// ExpireHistory deletes the sealed blocks older than their retention (a
// trail's: retention.go; a series': the telemetry retention), in bounded
// transactions, and returns how many it deleted.
func (s *Store) ExpireHistory(now time.Time) (int, error) {
	retention := s.retentionFunc()
	trail := func(device string) int64 { return now.Add(-retention(device)).UnixMilli() }
	seriesCutoff := now.Add(-s.opt.TelemetryRetention).UnixMilli()
	series := func(string) int64 { return seriesCutoff }
	total := 0
	for {
		n, err := s.opt.History.Expire(trail, series, expireBlocks)
		total += n
		if err != nil || n < expireBlocks {
			return total, err
		}
	}
}
