package geoloc

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/geohub/geohub/internal/store"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/tidwall/buntdb"
	"github.com/tidwall/rtree"
)

// Keys owned by the fences: fence:<id> is a fence (its GeoJSON), and
// fst:<id>:<device> the state of a device inside it.
const (
	fencePrefix = "fence:"
	statePrefix = "fst:"
)

// Event kinds.
const (
	Enter = "enter"
	Exit  = "exit"
	Dwell = "dwell" // inside for at least the fence's dwell time
	Cross = "cross" // passed through between two fixes, neither inside
)

var allEvents = []string{Enter, Exit, Dwell, Cross}

// Limits on one fence.
const (
	maxFenceVertices = 5000
	maxFenceList     = 1000 // devices, groups or notify JIDs
)

// Limits on a new fence (ParseFences), and on one document of them.
// Checking a ring for self-intersection costs the square of its vertices:
// 1,000 take about 30 ms, 5,000 took 0.3 to 0.6 s, so that 60 of them cost
// half a minute of CPU. A radius or width past 1,000 km is no geofence,
// and one of 1e308 overflows every bound computed from it. Fences stored
// before these limits still load.
const (
	maxNewFenceVertices = 1000 // all rings and polygons of one fence together
	maxFenceRings       = 100  // outer rings and holes together
	maxDocumentVertices = 10_000
	maxFenceRadius      = 1_000_000 // metres: a circle's radius, a corridor's width
)

// Fence is a geofence and its rule: whom it watches, which events it
// raises, whom it notifies.
type Fence struct {
	ID         string        `json:"id"`
	Name       string        `json:"name"`
	Devices    []string      `json:"devices,omitempty"` // bare JIDs; with Groups empty too, every device
	Groups     []string      `json:"groups,omitempty"`
	Near       []string      `json:"near,omitempty"`        // proximity: the devices it is around (bare JIDs)
	NearGroups []string      `json:"near_groups,omitempty"` // proximity: and the devices of these groups
	Events     []string      `json:"events"`
	Dwell      time.Duration `json:"dwell,omitempty"`
	Notify     []string      `json:"notify,omitempty"`     // JIDs told of each event
	Hysteresis float64       `json:"hysteresis,omitempty"` // metres past the edge before a change counts
	Geometry   orb.Geometry  `json:"-"`
	Created    time.Time     `json:"created"`
	shape      fenceShape
}

// fenceProps are the rule properties of a fence's GeoJSON Feature.
type fenceProps struct {
	Name       string   `json:"name"`
	Devices    []string `json:"devices"`
	Groups     []string `json:"groups"`
	Events     []string `json:"events"`
	Dwell      float64  `json:"dwell"` // seconds
	Notify     []string `json:"notify"`
	Radius     float64  `json:"radius"` // metres, with a Point: a circle; without geometry: proximity
	Near       []string `json:"near"`
	NearGroups []string `json:"near_groups"`
	Width      float64  `json:"width"` // metres, with a LineString: a corridor
	Hysteresis float64  `json:"hysteresis"`
}

// ParseFences reads a GeoJSON Feature or FeatureCollection into fences,
// checking every shape and rule, and the limits on new fences. The error
// names the feature and the problem; nothing is returned then.
func ParseFences(data []byte) ([]*Fence, error) { return parseFences(data, true) }

// parseFences is ParseFences; limited false skips the limits on new fences,
// for fences already stored.
func parseFences(data []byte, limited bool) ([]*Fence, error) {
	var probe struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	var features []*geojson.FeatureOf[fenceProps]
	switch probe.Type {
	case "Feature":
		var f geojson.FeatureOf[fenceProps]
		if err := json.Unmarshal(data, &f); err != nil {
			return nil, fmt.Errorf("not a GeoJSON Feature: %w", err)
		}
		features = append(features, &f)
	case "FeatureCollection":
		var fc geojson.FeatureCollectionOf[fenceProps]
		if err := json.Unmarshal(data, &fc); err != nil {
			return nil, fmt.Errorf("not a GeoJSON FeatureCollection: %w", err)
		}
		features = fc.Features
	default:
		return nil, fmt.Errorf("expected a GeoJSON Feature or FeatureCollection, got type %q", probe.Type)
	}
	if len(features) == 0 {
		return nil, errors.New("no features")
	}
	if limited {
		total := 0
		for _, f := range features {
			total += vertices(f.Geometry)
		}
		if total > maxDocumentVertices {
			return nil, fmt.Errorf("%d vertices in %d fences: send at most %d at once", total, len(features), maxDocumentVertices)
		}
	}
	var out []*Fence
	for i, f := range features {
		var fence *Fence
		var err error
		if limited {
			err = checkLimits(f)
		}
		if err == nil {
			fence, err = fenceOf(f)
		}
		if err != nil {
			name := f.Properties.Name
			if name == "" {
				name = fmt.Sprintf("feature %d", i+1)
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, fence)
	}
	return out, nil
}

func fenceOf(f *geojson.FeatureOf[fenceProps]) (*Fence, error) {
	p := f.Properties
	fence := &Fence{Name: strings.TrimSpace(p.Name), Devices: p.Devices, Groups: p.Groups, Near: p.Near, NearGroups: p.NearGroups,
		Events: p.Events, Notify: p.Notify, Hysteresis: p.Hysteresis, Geometry: f.Geometry}
	if id, ok := f.ID.(string); ok && id != "" {
		fence.ID = id
	}
	if fence.Name == "" {
		return nil, errors.New("a fence needs a name")
	}
	if len(fence.Events) == 0 {
		fence.Events = []string{Enter, Exit}
	}
	for _, e := range fence.Events {
		if !slices.Contains(allEvents, e) {
			return nil, fmt.Errorf("unknown event %q (enter, exit, dwell, cross)", e)
		}
	}
	if p.Dwell < 0 || p.Dwell > 365*24*3600 {
		return nil, fmt.Errorf("dwell %v seconds is out of range", p.Dwell)
	}
	fence.Dwell = time.Duration(p.Dwell * float64(time.Second))
	if slices.Contains(fence.Events, Dwell) && fence.Dwell <= 0 {
		return nil, errors.New("a dwell event needs dwell seconds above 0")
	}
	if !(p.Hysteresis >= 0) || p.Hysteresis > 10_000 {
		return nil, fmt.Errorf("hysteresis %v metres is out of range [0, 10000]", p.Hysteresis)
	}
	for _, l := range [][]string{fence.Devices, fence.Groups, fence.Near, fence.NearGroups, fence.Notify} {
		if len(l) > maxFenceList {
			return nil, fmt.Errorf("at most %d devices, groups and notify JIDs each", maxFenceList)
		}
	}
	proximity := len(fence.Near) > 0 || len(fence.NearGroups) > 0
	if proximity != (f.Geometry == nil) {
		return nil, errors.New("a fence has a geometry, or no geometry and near or near_groups (a proximity fence), not both")
	}
	var s fenceShape
	switch g := f.Geometry.(type) {
	case orb.Point:
		s = fenceShape{kind: "circle", center: g, radius: p.Radius}
	case orb.LineString:
		s = fenceShape{kind: "corridor", line: g, width: p.Width}
	case orb.Polygon:
		s = fenceShape{kind: "polygon", poly: orb.MultiPolygon{g}}
	case orb.MultiPolygon:
		s = fenceShape{kind: "polygon", poly: g}
	case nil:
		if slices.Contains(fence.Events, Dwell) || slices.Contains(fence.Events, Cross) {
			return nil, errors.New("a proximity fence raises enter and exit only")
		}
		s = fenceShape{kind: "proximity", radius: p.Radius}
	default:
		return nil, fmt.Errorf("a %s cannot be a fence (Polygon, MultiPolygon, Point with radius, LineString with width)", f.Geometry.GeoJSONType())
	}
	if n := vertices(f.Geometry); n > maxFenceVertices {
		return nil, fmt.Errorf("%d vertices; at most %d", n, maxFenceVertices)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	fence.shape = s
	return fence, nil
}

// checkLimits refuses a new fence past the limits on size and extent,
// before its shape is checked.
func checkLimits(f *geojson.FeatureOf[fenceProps]) error {
	if n := vertices(f.Geometry); n > maxNewFenceVertices {
		return fmt.Errorf("%d vertices: a fence has at most %d", n, maxNewFenceVertices)
	}
	if n := rings(f.Geometry); n > maxFenceRings {
		return fmt.Errorf("%d rings: a fence has at most %d, holes included", n, maxFenceRings)
	}
	p := f.Properties
	switch f.Geometry.(type) {
	case orb.Point:
		if p.Radius > maxFenceRadius {
			return fmt.Errorf("radius %v metres: a circle's is at most %d", p.Radius, maxFenceRadius)
		}
	case orb.LineString:
		if p.Width > maxFenceRadius {
			return fmt.Errorf("width %v metres: a corridor's is at most %d", p.Width, maxFenceRadius)
		}
	}
	return nil
}

func rings(g orb.Geometry) int {
	switch g := g.(type) {
	case orb.Polygon:
		return len(g)
	case orb.MultiPolygon:
		n := 0
		for _, p := range g {
			n += len(p)
		}
		return n
	}
	return 0
}

func vertices(g orb.Geometry) int {
	switch g := g.(type) {
	case orb.LineString:
		return len(g)
	case orb.Polygon:
		n := 0
		for _, r := range g {
			n += len(r)
		}
		return n
	case orb.MultiPolygon:
		n := 0
		for _, p := range g {
			n += vertices(p)
		}
		return n
	}
	return 1
}

// Feature returns the fence as a GeoJSON Feature with its rule as
// properties, the form ParseFences reads.
func (f *Fence) Feature() *geojson.Feature {
	gf := geojson.NewFeature(f.Geometry)
	gf.ID = f.ID
	p := geojson.Properties{}
	gf.Properties = p
	p["name"], p["events"] = f.Name, f.Events
	if len(f.Devices) > 0 {
		p["devices"] = f.Devices
	}
	if len(f.Groups) > 0 {
		p["groups"] = f.Groups
	}
	if len(f.Near) > 0 {
		p["near"] = f.Near
	}
	if len(f.NearGroups) > 0 {
		p["near_groups"] = f.NearGroups
	}
	if len(f.Notify) > 0 {
		p["notify"] = f.Notify
	}
	if f.Dwell > 0 {
		p["dwell"] = f.Dwell.Seconds()
	}
	if f.Hysteresis > 0 {
		p["hysteresis"] = f.Hysteresis
	}
	switch f.shape.kind {
	case "circle", "proximity":
		p["radius"] = f.shape.radius
	case "corridor":
		p["width"] = f.shape.width
	}
	p["created"] = f.Created.Format(time.RFC3339)
	return gf
}

func (f *Fence) wants(event string) bool { return slices.Contains(f.Events, event) }

// watches reports whether the fence applies to device, a member of groups.
func (f *Fence) watches(device string, groups []string) bool {
	return watches(f.Devices, f.Groups, device, groups)
}

// watches reports whether what a fence or rule watches (devices and
// groups; neither: every device) takes device, a member of groups.
func watches(devices, groups []string, device string, memberOf []string) bool {
	return len(devices) == 0 && len(groups) == 0 || named(devices, groups, device, memberOf)
}

// named reports whether device, a member of memberOf, is one of devices or
// in one of groups.
func named(devices, groups []string, device string, memberOf []string) bool {
	if slices.Contains(devices, device) {
		return true
	}
	for _, g := range memberOf {
		if slices.Contains(groups, g) {
			return true
		}
	}
	return false
}

// validFenceID reports whether id can be a fence's ID: it is part of keys
// (fst:<id>:<device>) and of node names (alerts/<id>), so ':' and '/' and
// the like are out.
func validFenceID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func newFenceID() string {
	b := make([]byte, 5)
	rand.Read(b)
	return "f" + hex.EncodeToString(b)
}

// storedFence is a fence as kept under fence:<id>.
type storedFence struct {
	Feature json.RawMessage `json:"feature"`
	Created time.Time       `json:"created"`
}

func (f *Fence) write(tx *buntdb.Tx) error {
	feat, err := json.Marshal(f.Feature())
	if err != nil {
		return err
	}
	b, err := json.Marshal(storedFence{Feature: feat, Created: f.Created})
	if err != nil {
		return err
	}
	_, _, err = tx.Set(fencePrefix+f.ID, string(b), nil)
	return err
}

// loadFences reads the stored fences and states. s.mu is held or s not yet
// shared.
func (s *Store) loadFences(tx *buntdb.Tx) error {
	var bad error
	store.AscendPrefix(tx, fencePrefix, func(k, v string) bool {
		var sf storedFence
		if bad = json.Unmarshal([]byte(v), &sf); bad != nil {
			bad = fmt.Errorf("%s: %w", k, bad)
			return false
		}
		fs, err := parseFences(sf.Feature, false)
		if err != nil {
			bad = fmt.Errorf("%s: %w", k, err)
			return false
		}
		fs[0].ID, fs[0].Created = strings.TrimPrefix(k, fencePrefix), sf.Created
		s.indexFence(fs[0])
		return true
	})
	if bad != nil {
		return bad
	}
	s.loadStates(tx, "")
	return nil
}

// loadStates reads the states of devices with the fences: of one device,
// or of all (device ""). s.mu is held or s not yet shared.
func (s *Store) loadStates(tx *buntdb.Tx, device string) {
	store.AscendPrefix(tx, statePrefix, func(k, v string) bool {
		id, who, _ := strings.Cut(strings.TrimPrefix(k, statePrefix), ":")
		a, b, pair := strings.Cut(who, pairSep)
		if device != "" && who != device && !(pair && (a == device || b == device)) {
			return true
		}
		var st fenceState
		f := s.fences[id]
		switch {
		case f == nil || json.Unmarshal([]byte(v), &st) != nil:
		case f.proximity():
			if pair {
				s.setPair(id, a, b, st)
			}
		default:
			s.setState(id, who, st)
		}
		return true
	})
}

// rects are the index entries of a fence: its bounds grown by its
// hysteresis, split in two where they cross the antimeridian. A proximity
// fence moves with its devices and has none.
func (f *Fence) rects() [][2][2]float64 {
	if f.proximity() {
		return nil
	}
	b := f.shape.bound(f.Hysteresis)
	lo, hi := [2]float64{b.Min.Lon(), b.Min.Lat()}, [2]float64{b.Max.Lon(), b.Max.Lat()}
	switch {
	case lo[0] < -180:
		return [][2][2]float64{{{lo[0] + 360, lo[1]}, {180, hi[1]}}, {{-180, lo[1]}, hi}}
	case hi[0] > 180:
		return [][2][2]float64{{lo, {180, hi[1]}}, {{-180, lo[1]}, {hi[0] - 360, hi[1]}}}
	}
	return [][2][2]float64{{lo, hi}}
}

// indexFence makes f known to evaluation. s.mu is held.
func (s *Store) indexFence(f *Fence) {
	if old := s.fences[f.ID]; old != nil {
		s.unindexFence(old)
	}
	s.fences[f.ID] = f
	if f.proximity() {
		s.near[f.ID] = f
	}
	for _, r := range f.rects() {
		s.fenceIndex.Insert(r[0], r[1], f.ID)
	}
}

func (s *Store) unindexFence(f *Fence) {
	delete(s.near, f.ID)
	for _, r := range f.rects() {
		s.fenceIndex.Delete(r[0], r[1], f.ID)
	}
}

// AddFences stores new fences, or replaces those whose ID exists. check,
// when not nil, vets each fence's devices, groups and notify JIDs against
// the accounts. It returns the fences as stored.
func (s *Store) AddFences(fences []*Fence, check func(*Fence) error) ([]*Fence, error) {
	for _, f := range fences {
		if f.ID != "" && !validFenceID(f.ID) {
			return nil, fmt.Errorf("%s: fence ID %q: use 1 to 64 letters, digits, '.', '_' or '-'", f.Name, f.ID)
		}
		if check != nil {
			if err := check(f); err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name, err)
			}
		}
	}
	if err := s.storeFences(fences, nil); err != nil {
		return nil, err
	}
	return fences, nil
}

// storeFences writes fences and makes them known to evaluation, then tells
// the watchers; edit, when not nil, first makes each fence from the one
// stored (nil for a new one) or refuses.
func (s *Store) storeFences(fences []*Fence, edit func(f, old *Fence) error) error {
	return s.change(func(tx *buntdb.Tx) (func(), error) {
		now := time.Now().UTC().Truncate(time.Second)
		changes := make([]FenceChange, len(fences))
		for i, f := range fences {
			old := s.fences[f.ID] // nil for a new fence (or one without an ID yet)
			if edit != nil {
				if err := edit(f, old); err != nil {
					return nil, refusal{err}
				}
			}
			changes[i] = FenceChange{Fence: f, Old: old}
		}
		for _, f := range fences {
			if f.ID == "" {
				f.ID = newFenceID()
			}
			if old := s.fences[f.ID]; old != nil {
				f.Created = old.Created
			} else {
				f.Created = now
			}
			if err := f.write(tx); err != nil {
				return nil, err
			}
		}
		for _, f := range fences {
			s.indexFence(f)
		}
		return func() {
			for _, c := range changes {
				s.fenceChanged(c)
			}
		}, nil
	}, s.reloadFences)
}

// reloadFences makes the memory of fences and states what the database
// holds, after a failed change.
func (s *Store) reloadFences() {
	s.db.View(func(tx *buntdb.Tx) error {
		s.mu.Lock() // after the database's lock, as on the committer's path
		defer s.mu.Unlock()
		s.fences, s.near = map[string]*Fence{}, map[string]*Fence{}
		s.fenceIndex = rtree.RTreeG[string]{}
		s.inside, s.pairs = map[string]map[string]fenceState{}, map[string]map[string]fenceState{}
		return s.loadFences(tx)
	})
}

// FenceChange tells of a fence stored (added or replaced) or removed.
type FenceChange struct {
	Fence   *Fence
	Old     *Fence // the version replaced, if any
	Removed bool
}

// WatchFences adds a function called after each change to the fences,
// outside the store's lock.
func (s *Store) WatchFences(w func(FenceChange)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fenceWatch = both(s.fenceWatch, w)
}

func (s *Store) fenceChanged(c FenceChange) {
	s.mu.RLock()
	w := s.fenceWatch
	s.mu.RUnlock()
	if w != nil {
		w(c)
	}
}

// Fences returns every fence, by name.
func (s *Store) Fences() []*Fence {
	s.mu.RLock()
	out := make([]*Fence, 0, len(s.fences))
	for _, f := range s.fences {
		out = append(out, f)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Fence) int { return strings.Compare(a.Name+a.ID, b.Name+b.ID) })
	return out
}

// Fence returns one fence by ID.
func (s *Store) Fence(id string) (*Fence, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, ok := s.fences[id]
	return f, ok
}

// ErrNoFence is returned for an unknown fence ID.
var ErrNoFence = errors.New("no such fence")

// RemoveFence deletes a fence and the states of devices in it.
func (s *Store) RemoveFence(id string) error {
	return s.change(func(tx *buntdb.Tx) (func(), error) {
		f := s.fences[id]
		if f == nil {
			return nil, refusal{fmt.Errorf("%s: %w", id, ErrNoFence)}
		}
		keys := []string{fencePrefix + id}
		store.AscendPrefix(tx, statePrefix+id+":", func(k, _ string) bool { keys = append(keys, k); return true })
		if err := store.Delete(tx, keys...); err != nil {
			return nil, err
		}
		s.unindexFence(f)
		delete(s.fences, id)
		for dev, ins := range s.inside {
			delete(ins, id)
			if len(ins) == 0 {
				delete(s.inside, dev)
			}
		}
		s.dropPairs(func(fence, _, _ string) bool { return fence == id })
		return func() { s.fenceChanged(FenceChange{Fence: f, Removed: true}) }, nil
	}, s.reloadFences)
}

// SetNotified adds jid to the JIDs a fence notifies (on) or takes it off,
// and returns the fence as stored.
func (s *Store) SetNotified(id, jid string, on bool) (*Fence, error) {
	f := &Fence{ID: id}
	err := s.storeFences([]*Fence{f}, func(f, old *Fence) error {
		if old == nil {
			return fmt.Errorf("%s: %w", id, ErrNoFence)
		}
		*f = *old // fences are shared read-only: change a copy
		f.Notify = slices.DeleteFunc(slices.Clone(old.Notify), func(j string) bool { return j == jid })
		if on {
			if len(f.Notify) >= maxFenceList {
				return fmt.Errorf("%s notifies %d JIDs already", f.Name, len(f.Notify))
			}
			f.Notify = append(f.Notify, jid)
			slices.Sort(f.Notify)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}
