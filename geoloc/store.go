package geoloc

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geohub/geohub/internal/history"
	"github.com/geohub/geohub/internal/jsonw"
	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/tidwall/buntdb"
	"github.com/tidwall/rtree"
)

// Keys owned by this package: pos:<device> is the latest fix of a device;
// trk:<device>:<unix nanoseconds, 20 digits> is one trail point, expiring
// with the retention. A bare JID contains no ':', so the separator is
// unambiguous.
const (
	positionPrefix = "pos:"
	trailPrefix    = "trk:"
)

// Options configure the store. Zero values take the defaults.
type Options struct {
	Retention          time.Duration // how long trail points are kept; default 7 days
	MinInterval        time.Duration // thinning: a trail point at most this often per device
	MinDistance        float64       // thinning: a trail point only after moving this many metres
	AlertRetention     time.Duration // how long alert records are kept; default 30 days
	TelemetryRetention time.Duration // how long sensor readings are kept; default 7 days
	// Commit is the database's one writer: the store's own writes (fences,
	// rules, forget, the dwell sweep) go through it, in one order with the
	// fixes staged for it. Nil: the store starts its own.
	Commit *store.Committer
	// History, when set, keeps trails on disk: BuntDB holds the points of
	// the last SealDelay, and a sealer (seal.go) moves older ones into
	// History every SealEvery. Close stops the sealer. Nil: trails stay
	// in BuntDB.
	History   *history.Store
	SealEvery time.Duration // default DefaultSealEvery; negative: no sealer runs (SealRound by hand)
	SealDelay time.Duration // default DefaultSealDelay; negative: none
	Logger    *slog.Logger  // the sealer's progress and errors; nil: none
}

// DefaultRetention is how long trail points are kept by default.
const DefaultRetention = 7 * 24 * time.Hour

// Store keeps the latest position of every device, in memory and in a
// spatial index, and the trail of every device. Writes happen in the
// transactions of a store.Committer, so a fix is acknowledged only once it
// is durable. Reads come from memory, except trails.
//
// The spatial index is an in-memory R-tree (tidwall/rtree), rebuilt from
// the pos: keys at start: BuntDB's own spatial index moves points several
// times slower, and the latest fixes move all the time.
type Store struct {
	db     *buntdb.DB
	commit *store.Committer
	opt    Options
	told   announcer // fence and rule changes to their watchers, in commit order

	mu     sync.RWMutex
	latest map[string]Position
	index  rtree.RTreeG[string]  // device at [lon lat]
	kept   map[string]TrailPoint // the last trail point written per device, for thinning

	groupRetention map[string]time.Duration // trail retention of the groups that have one: retention.go

	fences     map[string]*Fence
	fenceIndex rtree.RTreeG[string]             // fence ID at its bounds, grown by its hysteresis
	inside     map[string]map[string]fenceState // device -> fence -> state, when not outside
	near       map[string]*Fence                // the proximity fences, by ID
	pairs      map[string]map[string]fenceState // device -> pair key -> proximity state, both ways
	dir        Directory
	sink       func([]Event)
	fenceWatch func(FenceChange)
	posWatch   func(Position) // told of each new latest position
	ingested   atomic.Uint64  // fixes taken (durable, repeats not counted), for Ingested

	tm telemetry // sensor readings and threshold rules: telemetry.go, rules.go

	seal sealer // moves trail points into opt.History: seal.go
}

// OpenStore loads the latest positions from db.
func OpenStore(db *buntdb.DB, opt Options) (*Store, error) {
	if opt.Retention <= 0 {
		opt.Retention = DefaultRetention
	}
	if opt.AlertRetention <= 0 {
		opt.AlertRetention = DefaultAlertRetention
	}
	if opt.Commit == nil {
		opt.Commit = store.NewCommitter(db)
	}
	s := &Store{db: db, commit: opt.Commit, opt: opt, latest: map[string]Position{}, kept: map[string]TrailPoint{},
		fences: map[string]*Fence{}, inside: map[string]map[string]fenceState{},
		near: map[string]*Fence{}, pairs: map[string]map[string]fenceState{}}
	// Earlier versions indexed pos: keys in BuntDB; that index is not used.
	db.DropIndex("pos")
	var bad error
	db.View(func(tx *buntdb.Tx) error {
		return store.AscendPrefix(tx, positionPrefix, func(k, v string) bool {
			var p Position
			if bad = json.Unmarshal([]byte(v), &p); bad != nil {
				bad = fmt.Errorf("%s: %w", k, bad)
				return false
			}
			s.latest[p.Device] = p
			s.index.Insert([2]float64{p.Lon, p.Lat}, [2]float64{p.Lon, p.Lat}, p.Device)
			return true
		})
	})
	if bad != nil {
		return nil, bad
	}
	if err := db.View(s.loadFences); err != nil {
		return nil, err
	}
	if err := db.View(s.loadGroupRetention); err != nil {
		return nil, err
	}
	if err := s.loadTelemetry(); err != nil {
		return nil, err
	}
	if opt.History != nil {
		s.startSealer()
	}
	return s, nil
}

// Retention is how long trail points are kept.
func (s *Store) Retention() time.Duration { return s.opt.Retention }

// Stage checks a position and returns the write that stores it, to commit
// (with whatever else belongs to the same publish), and the function to
// call with the commit's outcome. It is the one way positions enter the
// store, whatever carried them.
//
// The fix joins the device's trail (unless thinning drops it or it is older
// than the retention) and becomes the device's latest position, unless that
// is newer: fixes may arrive out of order. An exact repeat of a fix already
// taken is dropped. All of this succeeds.
func (s *Store) Stage(p Position) (store.Write, func(error), error) {
	if p.Device == "" {
		return nil, nil, fmt.Errorf("position without a device")
	}
	if !(p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180) {
		return nil, nil, &FieldError{"lat/lon", fmt.Sprintf("(%v, %v) is not a point on Earth", p.Lat, p.Lon)}
	}
	p.Time, p.Received = p.Time.UTC(), p.Received.UTC()
	var changedLatest, taken bool
	var retention time.Duration
	var events []Event
	var sink func([]Event)
	var watch func(Position)
	var unsealed queued[history.Point] // the trail point, for the sealer (key set)
	write := func(tx *buntdb.Tx) error {
		// Runs on the committer's goroutine, in commit order.
		unsealed.key = ""
		s.mu.Lock()
		cur, had := s.latest[p.Device]
		last, hasTrail := s.kept[p.Device]
		pt := trailPointOf(p)
		duplicate := had && cur.Time.Equal(p.Time) && cur.Lat == p.Lat && cur.Lon == p.Lon ||
			hasTrail && last.Time.Equal(pt.Time) && last.Lat == pt.Lat && last.Lon == pt.Lon
		if duplicate {
			s.mu.Unlock()
			return nil
		}
		taken = true
		retention = retentionOf(s.opt.Retention, s.groupRetention, s.dir, p.Device)
		keepTrail := time.Since(p.Time) < retention && (!hasTrail || s.thinningKeeps(last, pt))
		if keepTrail && (!hasTrail || !pt.Time.Before(last.Time)) {
			s.kept[p.Device] = pt
		}
		newer := !had || p.Time.After(cur.Time)
		if newer {
			if had {
				s.index.Delete([2]float64{cur.Lon, cur.Lat}, [2]float64{cur.Lon, cur.Lat}, p.Device)
			}
			s.index.Insert([2]float64{p.Lon, p.Lat}, [2]float64{p.Lon, p.Lat}, p.Device)
			s.latest[p.Device] = p
			changedLatest = true
			// Fences judge the present: a late fix only fills the trail.
			var err error
			if events, err = s.evaluate(tx, p, cur, had); err != nil {
				s.mu.Unlock()
				return err
			}
			sink, watch = s.sink, s.posWatch
		}
		s.mu.Unlock()
		if keepTrail {
			key, val := trailRecord(p.Device, pt)
			// With a history store the sealer moves the point out within
			// seconds and the history keeps the retention: no TTL to index.
			var opt *buntdb.SetOptions
			if s.opt.History == nil {
				opt = &buntdb.SetOptions{Expires: true, TTL: retention - time.Since(p.Time)}
			} else {
				unsealed = queued[history.Point]{key, sumOf(val), p.Time.UnixNano(), historyPoint(pt)}
			}
			if _, _, err := tx.Set(key, val, opt); err != nil {
				return err
			}
		}
		if !newer {
			return nil
		}
		val, err := jsonw.Record(p.jsonMembers)
		if err != nil {
			return err
		}
		_, _, err = tx.Set(positionPrefix+p.Device, val, nil)
		return err
	}
	then := func(err error) {
		switch {
		case err != nil && taken:
			s.reload(p.Device) // the batch rolled back: forget what it set
		case err == nil:
			if taken {
				s.ingested.Add(1)
			}
			if unsealed.key != "" {
				s.seal.queue.pushTrail(unsealed)
			}
			if changedLatest && watch != nil && s.has(p.Device) {
				// (A device forgotten in the same batch stays off the map.)
				watch(p)
			}
			if len(events) > 0 && sink != nil {
				sink(events)
			}
		}
	}
	return write, then, nil
}

// thinningKeeps reports whether pt is far enough in time and space from the
// last trail point kept for its device. s.mu is held.
func (s *Store) thinningKeeps(last, pt TrailPoint) bool {
	if pt.Time.Before(last.Time) {
		return true // a late fix fills a gap; thinning is about the present
	}
	if s.opt.MinInterval > 0 && pt.Time.Sub(last.Time) < s.opt.MinInterval {
		return false
	}
	if s.opt.MinDistance > 0 && Distance(last.Lat, last.Lon, pt.Lat, pt.Lon) < s.opt.MinDistance {
		return false
	}
	return true
}

// reload makes the memory of a device what the database holds, after its
// batch rolled back: the position and its index entry, the last trail
// point, its states with the fences and proximity pairs, its readings.
func (s *Store) reload(device string) {
	s.db.View(func(tx *buntdb.Tx) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.dropDevice(device)
		var p Position
		if v, err := tx.Get(positionPrefix + device); err == nil && json.Unmarshal([]byte(v), &p) == nil {
			s.latest[device] = p
			s.index.Insert([2]float64{p.Lon, p.Lat}, [2]float64{p.Lon, p.Lat}, device)
		}
		trail := trailPrefix + device + ":"
		tx.DescendLessOrEqual("", trailPrefix+device+";", func(k, v string) bool {
			if strings.HasPrefix(k, trail) {
				s.kept[device] = parseTrailPoint(v)
			}
			return false
		})
		if _, ok := s.kept[device]; !ok && s.opt.History != nil {
			if p, ok, _ := s.opt.History.Last(device); ok {
				s.kept[device] = trailPointOfHistory(p)
			}
		}
		s.loadStates(tx, device)
		s.loadReadings(tx, device)
		s.loadAlarms(tx, device)
		return nil
	})
}

// dropDevice forgets a device in memory and returns the state keys it had
// with the fences. s.mu is held.
func (s *Store) dropDevice(device string) []string {
	if cur, ok := s.latest[device]; ok {
		s.index.Delete([2]float64{cur.Lon, cur.Lat}, [2]float64{cur.Lon, cur.Lat}, device)
		delete(s.latest, device)
	}
	delete(s.kept, device)
	s.forgetTelemetry(device)
	var keys []string
	for id := range s.inside[device] {
		keys = append(keys, statePrefix+id+":"+device)
	}
	delete(s.inside, device)
	for _, k := range s.dropPairs(func(_, a, b string) bool { return a == device || b == device }) {
		keys = append(keys, statePrefix+k)
	}
	return keys
}

// has reports whether a device has a position.
func (s *Store) has(device string) bool {
	_, ok := s.Latest(device)
	return ok
}

// Latest returns the newest position of a device.
func (s *Store) Latest(device string) (Position, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.latest[device]
	return p, ok
}

// All returns the latest position of every device, sorted by device.
func (s *Store) All() []Position {
	s.mu.RLock()
	out := make([]Position, 0, len(s.latest))
	for _, p := range s.latest {
		out = append(out, p)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Position) int { return strings.Compare(a.Device, b.Device) })
	return out
}

// AppendLatest appends the latest position of every device to dst, in no
// particular order: All without its sort, for callers that serve thousands
// of positions often and reuse dst.
func (s *Store) AppendLatest(dst []Position) []Position {
	s.mu.RLock()
	defer s.mu.RUnlock()
	dst = slices.Grow(dst, len(s.latest))
	for _, p := range s.latest {
		dst = append(dst, p)
	}
	return dst
}

// Ingested is the number of fixes taken into the store since it opened:
// durable, exact repeats not counted, late fixes counted.
func (s *Store) Ingested() uint64 { return s.ingested.Load() }

// Len is the number of devices with a position.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.latest)
}

// HandlePayload turns an XEP-0080 item published by device into a position:
// it decodes and validates the payload and stages the position. An item
// without coordinates (an empty <geoloc/> that stops sharing, or only a
// street address) is accepted and stores nothing here. source says where it
// was published. The error is a *FieldError naming what is wrong.
func (s *Store) HandlePayload(device, source string, payload *xmlnode.Node, now time.Time) (store.Write, func(error), error) {
	g, err := DecodeNode(payload, now)
	if err != nil {
		return nil, nil, err
	}
	p, ok := PositionOf(device, g, now, source)
	if !ok {
		return nil, nil, nil
	}
	return s.Stage(p)
}

// Forget deletes everything stored about a device that no longer exists:
// its position, its trail and its standing with the fences. It goes
// through the committer, after any fix of the device queued before it, so
// that such a fix cannot bring the device back.
func (s *Store) Forget(device string) error {
	var keys []string
	write := func(tx *buntdb.Tx) error {
		s.mu.Lock() // after the database's lock, as in Stage
		keys = append(s.dropDevice(device), positionPrefix+device)
		s.mu.Unlock()
		store.AscendPrefix(tx, trailPrefix+device+":", func(k, _ string) bool {
			keys = append(keys, k)
			return true
		})
		keys = append(keys, telemetryKeys(tx, device)...)
		return store.Delete(tx, keys...)
	}
	if s.opt.History != nil {
		// No round may seal the device's points between the two deletes.
		s.seal.mu.Lock()
		defer s.seal.mu.Unlock()
	}
	done := make(store.Pending, 1)
	s.commit.Submit(write, func(err error) {
		if err == nil {
			// After the points queued by the fixes committed before the
			// delete, before those of any fix after it.
			s.seal.queue.forget(device)
		}
		done <- err
	})
	if err := done.Wait(); err != nil {
		s.reload(device)
		return err
	}
	if s.opt.History != nil {
		return s.opt.History.DeleteDevice(device)
	}
	return nil
}
