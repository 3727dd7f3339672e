package geoloc

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/tidwall/buntdb"
	"github.com/tidwall/gjson"
)

// Keys owned by this package: pos:<device bare JID> is the latest fix of a
// device, indexed spatially as "pos".
const (
	positionPrefix = "pos:"
	positionIndex  = "pos"
)

// Store keeps the latest position of every device. Writes happen in the
// transactions of a store.Committer, so a position is acknowledged only once
// it is durable; reads come from memory.
type Store struct {
	db *buntdb.DB

	mu     sync.RWMutex
	latest map[string]Position
}

// OpenStore loads the latest positions from db and makes sure the spatial
// index exists.
func OpenStore(db *buntdb.DB) (*Store, error) {
	s := &Store{db: db, latest: map[string]Position{}}
	err := db.CreateSpatialIndex(positionIndex, positionPrefix+"*", lonLatRect)
	if err != nil && err != buntdb.ErrIndexExists {
		return nil, err
	}
	var bad error
	db.View(func(tx *buntdb.Tx) error {
		return store.AscendPrefix(tx, positionPrefix, func(k, v string) bool {
			var p Position
			if bad = json.Unmarshal([]byte(v), &p); bad != nil {
				bad = fmt.Errorf("%s: %w", k, bad)
				return false
			}
			s.latest[p.Device] = p
			return true
		})
	})
	if bad != nil {
		return nil, bad
	}
	return s, nil
}

// lonLatRect reads the point of a stored position for the spatial index.
func lonLatRect(v string) (min, max []float64) {
	r := gjson.GetMany(v, "lon", "lat")
	pt := []float64{r[0].Float(), r[1].Float()}
	return pt, pt
}

// Stage checks a position and returns the write that stores it, to commit
// (with whatever else belongs to the same publish), and the function to
// call with the commit's outcome. It is the one way positions enter the
// store, whatever carried them.
//
// A fix older than the device's latest is not made the latest, and an exact
// repeat of the latest is dropped; both still succeed.
func (s *Store) Stage(p Position) (store.Write, func(error), error) {
	if p.Device == "" {
		return nil, nil, fmt.Errorf("position without a device")
	}
	if !(p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180) {
		return nil, nil, &FieldError{"lat/lon", fmt.Sprintf("(%v, %v) is not a point on Earth", p.Lat, p.Lon)}
	}
	p.Time, p.Received = p.Time.UTC(), p.Received.UTC()
	var stored bool
	write := func(tx *buntdb.Tx) error {
		// Runs on the committer's goroutine, in commit order.
		s.mu.Lock()
		cur, ok := s.latest[p.Device]
		newer := !ok || p.Time.After(cur.Time) || p.Time.Equal(cur.Time) && (p.Lat != cur.Lat || p.Lon != cur.Lon)
		if newer {
			s.latest[p.Device] = p
		}
		s.mu.Unlock()
		if !newer {
			return nil
		}
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		stored = true
		_, _, err = tx.Set(positionPrefix+p.Device, string(b), nil)
		return err
	}
	then := func(err error) {
		if err != nil && stored {
			s.reload(p.Device) // the batch rolled back: forget what it set
		}
	}
	return write, then, nil
}

func (s *Store) reload(device string) {
	var p Position
	found := false
	s.db.View(func(tx *buntdb.Tx) error {
		v, err := tx.Get(positionPrefix + device)
		if err == nil && json.Unmarshal([]byte(v), &p) == nil {
			found = true
		}
		return nil
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if found {
		s.latest[device] = p
	} else {
		delete(s.latest, device)
	}
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

// Forget deletes everything stored about a device that no longer exists.
func (s *Store) Forget(device string) error {
	s.mu.Lock()
	delete(s.latest, device)
	s.mu.Unlock()
	return s.db.Update(func(tx *buntdb.Tx) error {
		if _, err := tx.Delete(positionPrefix + device); err != nil && err != buntdb.ErrNotFound {
			return err
		}
		return nil
	})
}
