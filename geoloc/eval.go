package geoloc

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/paulmach/orb"
	"github.com/tidwall/buntdb"
)

// alertPrefix keys the alert log: alert:<unix nanoseconds, 20 digits>:<seq>,
// expiring with the alert retention.
const alertPrefix = "alert:"

// DefaultAlertRetention is how long alert records are kept by default.
const DefaultAlertRetention = 30 * 24 * time.Hour

// Event is something a fence saw a device do: the alert it raises.
type Event struct {
	ID        string    `json:"id"`
	Kind      string    `json:"event"` // enter, exit, dwell, cross
	Fence     string    `json:"fence"`
	FenceName string    `json:"fence_name"`
	Device    string    `json:"device"`
	Time      time.Time `json:"time"` // the fix's time
	Position  Position  `json:"position"`
	Since     time.Time `json:"since,omitzero"`     // dwell: when the device entered
	Near      string    `json:"near,omitempty"`     // proximity: the other device
	Distance  float64   `json:"distance,omitempty"` // proximity: metres between the two
	Notify    []string  `json:"notify,omitempty"`
	Sensor    string    `json:"sensor,omitempty"` // threshold (below, above): the sensor; Fence and FenceName are the rule's
	Value     float64   `json:"value"`            // threshold: the reading
	Unit      string    `json:"unit,omitempty"`
	Threshold float64   `json:"threshold"` // threshold: the rule's limit that was crossed
}

// Directory tells the geo engine what it needs to know about accounts.
type Directory interface {
	// GroupsOf returns the groups of a device (a bare JID).
	GroupsOf(device string) []string
}

// fenceState is a device's standing with one fence, kept while it matters.
type fenceState struct {
	Inside    bool      `json:"inside"`
	Since     time.Time `json:"since"` // when it entered
	DwellDone bool      `json:"dwell_done,omitempty"`
}

// setState records a state in memory; the zero state is forgotten. s.mu is
// held.
func (s *Store) setState(fence, device string, st fenceState) {
	m := s.inside[device]
	if st == (fenceState{}) {
		delete(m, fence)
		if len(m) == 0 {
			delete(s.inside, device)
		}
		return
	}
	if m == nil {
		m = map[string]fenceState{}
		s.inside[device] = m
	}
	m[fence] = st
}

// SetDirectory and AddSink connect the engine to accounts and to alert
// delivery. The sink gets each batch of events once the fixes that caused
// them are durable, in order; it runs on the writer goroutine and must hand
// work off rather than block.
func (s *Store) SetDirectory(d Directory) { s.mu.Lock(); s.dir = d; s.mu.Unlock() }

// AddSink adds a place events go (alert delivery, the dashboard's live
// stream, the MQTT bridge); see SetDirectory. Sinks are told in the order
// they were added.
func (s *Store) AddSink(sink func([]Event)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sink = both(s.sink, sink)
}

// WatchPositions adds a function told of each new latest position once it
// is durable, on the writer's goroutine: it must hand work off, not block.
func (s *Store) WatchPositions(w func(Position)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.posWatch = both(s.posWatch, w)
}

// both returns a function that calls first (when there is one), then next:
// how each watcher list grows by one.
func both[T any](first, next func(T)) func(T) {
	if first == nil {
		return next
	}
	return func(v T) { first(v); next(v) }
}

var eventSeq atomic.Uint64

// evaluate runs the fences over a device's new latest fix p (prev is the
// fix before it, when had). It updates the states, writes the changed ones
// and the alert records in tx, and returns the events. s.mu is held.
func (s *Store) evaluate(tx *buntdb.Tx, p Position, prev Position, had bool) ([]Event, error) {
	if len(s.fences) == 0 {
		return nil, nil
	}
	pt := orb.Point{p.Lon, p.Lat}
	candidates := map[string]bool{}
	s.fenceIndex.Search([2]float64{p.Lon, p.Lat}, [2]float64{p.Lon, p.Lat}, func(_, _ [2]float64, id string) bool {
		candidates[id] = true
		return true
	})
	for id := range s.inside[p.Device] {
		candidates[id] = true
	}
	if had {
		lo := [2]float64{min(p.Lon, prev.Lon), min(p.Lat, prev.Lat)}
		hi := [2]float64{max(p.Lon, prev.Lon), max(p.Lat, prev.Lat)}
		if hi[0]-lo[0] < 180 { // a hop across the antimeridian is not a path
			s.fenceIndex.Search(lo, hi, func(_, _ [2]float64, id string) bool {
				if s.fences[id].wants(Cross) {
					candidates[id] = true
				}
				return true
			})
		}
	}
	if len(candidates) == 0 && len(s.near) == 0 {
		return nil, nil
	}
	var groups []string
	if s.dir != nil {
		groups = s.dir.GroupsOf(p.Device)
	}
	events, err := s.evaluateProximity(tx, p, groups)
	if err != nil {
		return nil, err
	}
	for id := range candidates {
		f := s.fences[id]
		if f == nil || !f.watches(p.Device, groups) {
			continue
		}
		st := s.inside[p.Device][id]
		inside := judge(f.shape.signedDistance(pt), st.Inside, f.Hysteresis)
		next := st
		var kind string
		switch {
		case inside && !st.Inside:
			next, kind = fenceState{Inside: true, Since: p.Time}, Enter
		case !inside && st.Inside:
			next, kind = fenceState{}, Exit
		case inside && !st.DwellDone && f.Dwell > 0 && p.Time.Sub(st.Since) >= f.Dwell:
			next.DwellDone, kind = true, Dwell
		case !inside && had && f.wants(Cross) && f.shape.crosses(orb.Point{prev.Lon, prev.Lat}, pt):
			kind = Cross
		}
		if next != st {
			s.setState(id, p.Device, next)
			if err := writeState(tx, id+":"+p.Device, next); err != nil {
				return nil, err
			}
		}
		if kind != "" && f.wants(kind) {
			e := Event{Kind: kind, Fence: id, FenceName: f.Name, Device: p.Device, Time: p.Time, Position: p, Notify: f.Notify}
			if kind == Dwell {
				e.Since = st.Since
			}
			events = append(events, e)
		}
	}
	if err := logEvents(tx, events, p.Received, s.opt.AlertRetention); err != nil {
		return nil, err
	}
	return events, nil
}

// logEvents writes alert records for events, giving each its ID.
func logEvents(tx *buntdb.Tx, events []Event, received time.Time, retention time.Duration) error {
	for i := range events {
		e := &events[i]
		e.ID = fmt.Sprintf("%020d%06d", received.UnixNano(), eventSeq.Add(1)%1e6)
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if _, _, err := tx.Set(alertPrefix+e.ID, string(b), &buntdb.SetOptions{Expires: true, TTL: retention}); err != nil {
			return err
		}
	}
	return nil
}

// SweepDwell raises the dwell events that no fix raised: a device inside a
// fence for its dwell time that has gone quiet since, like a parked
// vehicle. The hub calls it every few seconds.
func (s *Store) SweepDwell(now time.Time) error {
	if !s.dwellDue(now) {
		return nil
	}
	var events []Event
	var sink func([]Event)
	err := s.commit.Later(func(tx *buntdb.Tx) error {
		s.mu.Lock() // after the database's lock, as in Stage
		defer s.mu.Unlock()
		events, sink = nil, s.sink
		for dev, states := range s.inside {
			for id, st := range states {
				f := s.fences[id]
				if f == nil || !dwellDue(f, st, now) {
					continue
				}
				st.DwellDone = true
				s.setState(id, dev, st)
				if err := writeState(tx, id+":"+dev, st); err != nil {
					return err
				}
				events = append(events, Event{Kind: Dwell, Fence: id, FenceName: f.Name, Device: dev,
					Time: st.Since.Add(f.Dwell), Since: st.Since, Position: s.latest[dev], Notify: f.Notify})
			}
		}
		return logEvents(tx, events, now, s.opt.AlertRetention)
	}).Wait()
	if err != nil {
		for _, e := range events {
			s.reload(e.Device) // the batch rolled back: so do the states
		}
		return err
	}
	if len(events) > 0 && sink != nil {
		sink(events)
	}
	return nil
}

// dwellDue reports whether a sweep has anything to do, without writing.
func (s *Store) dwellDue(now time.Time) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, states := range s.inside {
		for id, st := range states {
			if f := s.fences[id]; f != nil && dwellDue(f, st, now) {
				return true
			}
		}
	}
	return false
}

func dwellDue(f *Fence, st fenceState, now time.Time) bool {
	return st.Inside && !st.DwellDone && f.Dwell > 0 && f.wants(Dwell) && now.Sub(st.Since) >= f.Dwell
}

// judge says whether a device d metres outside an edge (negative: inside)
// counts as inside: leaving takes hysteresis metres past the edge, and so
// does entering.
func judge(d float64, wasInside bool, hysteresis float64) bool {
	if wasInside {
		return d <= hysteresis
	}
	if hysteresis > 0 {
		return d < -hysteresis
	}
	return d <= 0
}

// writeState stores a state under fst:<suffix>; the zero state is deleted.
func writeState(tx *buntdb.Tx, suffix string, st fenceState) error {
	key := statePrefix + suffix
	if st == (fenceState{}) {
		return store.Delete(tx, key)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, _, err = tx.Set(key, string(b), nil)
	return err
}

// Alerts returns the alert records between from and to, oldest first, at
// most limit (0: all).
func (s *Store) Alerts(from, to time.Time, limit int) []Event {
	var out []Event
	lo := fmt.Sprintf("%s%020d", alertPrefix, from.UnixNano())
	hi := fmt.Sprintf("%s%020d", alertPrefix, to.UnixNano()+1)
	s.db.View(func(tx *buntdb.Tx) error {
		return tx.AscendRange("", lo, hi, func(_, v string) bool {
			var e Event
			if json.Unmarshal([]byte(v), &e) == nil {
				out = append(out, e)
			}
			return limit <= 0 || len(out) < limit
		})
	})
	return out
}

// NSAlert is the namespace of the structured alert element.
const NSAlert = "urn:geohub:alert:0"

var eventVerbs = map[string]string{Enter: "entered", Exit: "left", Dwell: "has been in", Cross: "crossed"}

// Body is the alert for people: "car-17 entered Depot at 14:03 UTC,
// 52.5201 13.4050".
func (e Event) Body() string {
	if e.isThreshold() {
		return e.thresholdBody()
	}
	name, _, _ := strings.Cut(e.Device, "@")
	if e.Near != "" {
		other, _, _ := strings.Cut(e.Near, "@")
		what := fmt.Sprintf("came within %.0f m of", e.Distance)
		if e.Kind == Exit {
			what = fmt.Sprintf("moved %.0f m away from", e.Distance)
		}
		return fmt.Sprintf("%s %s %s (%s) at %s UTC, %.4f %.4f", name, what, other, e.FenceName,
			e.Time.UTC().Format("15:04"), e.Position.Lat, e.Position.Lon)
	}
	verb := eventVerbs[e.Kind]
	extra := ""
	if e.Kind == Dwell {
		extra = " for " + e.Time.Sub(e.Since).Round(time.Second).String()
	}
	return fmt.Sprintf("%s %s %s%s at %s UTC, %.4f %.4f", name, verb, e.FenceName, extra,
		e.Time.UTC().Format("15:04"), e.Position.Lat, e.Position.Lon)
}

// Element is the alert for programs: an <alert/> element with the event,
// fence, device and time, holding the position as an XEP-0080 <geoloc/>.
func (e Event) Element() []byte {
	if e.isThreshold() {
		return e.thresholdElement()
	}
	b := []byte("<alert xmlns='" + NSAlert + "'")
	b = xmlesc.Attr(b, "id", e.ID)
	b = xmlesc.Attr(b, "event", e.Kind)
	b = xmlesc.Attr(b, "fence", e.Fence)
	b = xmlesc.Attr(b, "fence-name", e.FenceName)
	b = xmlesc.Attr(b, "device", e.Device)
	if e.Near != "" {
		b = xmlesc.Attr(b, "near", e.Near)
		b = xmlesc.Attr(b, "distance", strconv.FormatFloat(e.Distance, 'f', 1, 64))
	}
	b = xmlesc.Attr(b, "time", e.Time.UTC().Format(time.RFC3339Nano))
	return closeAlert(b, e.Position)
}

// closeAlert ends an <alert/> start tag: with p as an XEP-0080 <geoloc/>
// inside, or empty when there is no position.
func closeAlert(b []byte, p Position) []byte {
	if p.Device == "" {
		return append(b, "/>"...)
	}
	b = append(b, '>')
	g := p.Geoloc
	lat, lon, ts := p.Lat, p.Lon, p.Time
	g.Lat, g.Lon, g.Timestamp = &lat, &lon, &ts
	b = append(b, g.Encode()...)
	return append(b, "</alert>"...)
}
