package geoloc

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/geohub/geohub/internal/history"
	"github.com/geohub/geohub/internal/store"
	"github.com/tidwall/buntdb"
)

// The sealer moves trail points and sensor readings from BuntDB (the write-ahead log, where
// every fix is durable when it is acknowledged) into the history store.
// A round reads the points older than the seal delay, seals them in one
// history transaction, and only once that is durable deletes them from
// BuntDB through the committer. A crash in between leaves points in both
// stores: reads merge them, and the next round seals them again, which
// changes nothing (history.Seal merges by time).
//
// A data folder from before the history store holds its whole trail as
// trk: keys: they are unsealed points like any other, moved by the first
// rounds, at most maxSealPoints a round and back to back, so that a large
// folder moves in bounded steps between which fixes keep flowing.

// Defaults of Options.SealEvery and Options.SealDelay.
const (
	DefaultSealEvery = 10 * time.Second
	DefaultSealDelay = 30 * time.Second
)

// maxSealPoints bounds the points moved in one round (a variable for
// the tests).
var maxSealPoints = 100_000

const (
	scanChunk    = 10_000 // keys read under one BuntDB read lock
	deleteChunk  = 5_000  // keys deleted by one committer write
	expireEvery  = time.Minute
	expireBlocks = 10_000 // blocks expired in one history transaction
)

// sealer is the goroutine that runs the rounds, and the lock that keeps a
// round and Forget apart (a round must not bring a forgotten device's
// points back).
type sealer struct {
	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
}

func (s *Store) startSealer() {
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
	total := s.unsealedCount()
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

// unsealedCount counts the trail points and sensor readings in BuntDB, a
// chunk of keys at a time.
func (s *Store) unsealedCount() int {
	n := 0
	for _, prefix := range []string{trailPrefix, seriesPrefix} {
		s.scanPrefix(prefix, func(string, string) bool { n++; return true })
	}
	return n
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

// SealRound moves up to maxSealPoints trail points and sensor readings
// whose time is older than now less the seal delay from BuntDB into the
// history store. It returns how many it moved and whether more are
// waiting.
func (s *Store) SealRound(now time.Time) (int, bool, error) {
	s.seal.mu.Lock()
	defer s.seal.mu.Unlock()
	cutoff := now.Add(-s.opt.SealDelay).UnixNano()
	var keys, vals []string
	trails := map[string][]history.Point{}
	series := map[history.Series][]history.Reading{}
	more := false
	take := func(k, v string, ns int64, ok bool) bool {
		if !ok || ns >= cutoff {
			return false
		}
		if len(keys) == maxSealPoints {
			more = true
			return false
		}
		keys, vals = append(keys, k), append(vals, v)
		return true
	}
	s.scanPrefix(trailPrefix, func(k, v string) bool {
		device, ns, ok := parseTrailKey(k)
		if take(k, v, ns, ok) {
			trails[device] = append(trails[device], historyPoint(parseTrailPoint(v)))
		}
		return !more
	})
	s.scanPrefix(seriesPrefix, func(k, v string) bool {
		sr, ns, ok := parseSeriesKey(k)
		if take(k, v, ns, ok) {
			series[sr] = append(series[sr], historyReading(v, ns))
		}
		return !more
	})
	if len(keys) == 0 {
		return 0, false, nil
	}
	if err := s.opt.History.Seal(trails, series); err != nil {
		return 0, false, err
	}
	// Sealed and durable: the write-ahead copies can go, unless a fix of
	// the same time replaced one since it was read (it is sealed next).
	var pending []store.Pending
	for i := 0; i < len(keys); i += deleteChunk {
		ks, vs := keys[i:min(i+deleteChunk, len(keys))], vals[i:min(i+deleteChunk, len(vals))]
		pending = append(pending, s.commit.Later(func(tx *buntdb.Tx) error {
			for j, k := range ks {
				if v, err := tx.Get(k); err == nil && v == vs[j] {
					if _, err := tx.Delete(k); err != nil {
						return err
					}
				}
			}
			return nil
		}))
	}
	var err error
	for _, p := range pending {
		err = errors.Join(err, p.Wait())
	}
	if err != nil {
		return 0, false, err
	}
	return len(keys), more, nil
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
