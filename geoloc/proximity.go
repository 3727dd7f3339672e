package geoloc

import (
	"slices"
	"strings"

	"github.com/tidwall/buntdb"
)

// A proximity fence is a circle around devices rather than places: it has
// no geometry, names the devices it is around (near, near_groups) and a
// radius, and raises enter when a device it watches comes within the
// radius of one of them, exit when it moves away. Each pair of devices has
// its own state, kept once for the pair under
// fst:<fence>:<device>/<device>, the two in order.

const (
	pairSep      = "/" // not in a bare JID
	maxProximity = 100_000
)

func (f *Fence) proximity() bool { return f.shape.kind == "proximity" }

// isAnchor reports whether device, a member of groups, is one the fence is
// around.
func (f *Fence) isAnchor(device string, groups []string) bool {
	return named(f.Near, f.NearGroups, device, groups)
}

// pairState is the key suffix (after fst:) of the state of a and b in a
// proximity fence.
func pairState(fence, a, b string) string {
	if b < a {
		a, b = b, a
	}
	return fence + ":" + a + pairSep + b
}

// setPair records the state of a pair in memory under both devices; the
// zero state is forgotten. s.mu is held.
func (s *Store) setPair(fence, a, b string, st fenceState) {
	key := pairState(fence, a, b)
	for _, d := range []string{a, b} {
		m := s.pairs[d]
		if st == (fenceState{}) {
			delete(m, key)
			if len(m) == 0 {
				delete(s.pairs, d)
			}
			continue
		}
		if m == nil {
			m = map[string]fenceState{}
			s.pairs[d] = m
		}
		m[key] = st
	}
}

// dropPairs forgets the pair states match selects and returns their key
// suffixes. s.mu is held.
func (s *Store) dropPairs(match func(fence, a, b string) bool) []string {
	var gone []string
	for _, m := range s.pairs {
		for key := range m {
			fence, pair, _ := strings.Cut(key, ":")
			a, b, _ := strings.Cut(pair, pairSep)
			if match(fence, a, b) && !slices.Contains(gone, key) {
				gone = append(gone, key)
			}
		}
	}
	for _, key := range gone {
		fence, pair, _ := strings.Cut(key, ":")
		a, b, _ := strings.Cut(pair, pairSep)
		s.setPair(fence, a, b, fenceState{})
	}
	return gone
}

// evaluateProximity runs the proximity fences over a device's new latest
// fix p: against the devices now within reach (from the spatial index) and
// those it was near. s.mu is held.
func (s *Store) evaluateProximity(tx *buntdb.Tx, p Position, groups []string) ([]Event, error) {
	var events []Event
	for id, f := range s.near {
		watched, anchor := f.watches(p.Device, groups), f.isAnchor(p.Device, groups)
		if !watched && !anchor {
			continue
		}
		others := map[string]bool{}
		for _, r := range (Circle{p.Lat, p.Lon, f.shape.radius + f.Hysteresis}).Rects() {
			s.index.Search([2]float64{r.MinLon, r.MinLat}, [2]float64{r.MaxLon, r.MaxLat}, func(_, _ [2]float64, d string) bool {
				others[d] = true
				return true
			})
		}
		for key := range s.pairs[p.Device] {
			fence, pair, _ := strings.Cut(key, ":")
			if fence != id {
				continue
			}
			a, b, _ := strings.Cut(pair, pairSep)
			others[a], others[b] = true, true
		}
		delete(others, p.Device)
		for other := range others {
			q, ok := s.latest[other]
			if !ok {
				continue
			}
			var og []string
			if s.dir != nil {
				og = s.dir.GroupsOf(other)
			}
			if !(watched && f.isAnchor(other, og) || anchor && f.watches(other, og)) {
				continue
			}
			key := pairState(id, p.Device, other)
			st := s.pairs[p.Device][key]
			dist := Distance(p.Lat, p.Lon, q.Lat, q.Lon)
			inside := judge(dist-f.shape.radius, st.Inside, f.Hysteresis)
			if inside == st.Inside {
				continue
			}
			next, kind := fenceState{}, Exit
			if inside {
				next, kind = fenceState{Inside: true, Since: p.Time}, Enter
			}
			s.setPair(id, p.Device, other, next)
			if err := writeState(tx, key, next); err != nil {
				return nil, err
			}
			if f.wants(kind) {
				events = append(events, Event{Kind: kind, Fence: id, FenceName: f.Name, Device: p.Device, Near: other,
					Distance: dist, Time: p.Time, Position: p, Notify: f.Notify})
			}
		}
	}
	return events, nil
}
