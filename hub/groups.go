package hub

import (
	"slices"

	"github.com/geohub/geohub/devices"
)

// accountChanged keeps rosters and presence in step with account changes:
// an operator added to a group sees its devices at once, with pushes and
// presence, and a removed account is logged out.
func (s *Server) accountChanged(c devices.Change) {
	var name string
	var before, after []string
	if c.Before != nil {
		name = c.Before.Name
		before = s.accounts.PeersOf(*c.Before)
	}
	if c.After != nil {
		name = c.After.Name
		after = s.accounts.PeersOf(*c.After)
	}
	gone := without(before, after)
	if c.Kind == devices.Removed {
		s.forgetRemote(name, before)
		for _, p := range before {
			s.sendPresenceOf(name, p, false)
		}
		for _, ss := range s.router.sessions(name) {
			ss.closeWithError(errAccountRemoved)
		}
		s.forgetAccount(name)
	}
	r := s.rosters
	r.mu.Lock()
	for _, p := range append(slices.Clone(before), without(after, before)...) {
		r.push(p, r.get(p), s.accounts.JID(name))
		if c.Kind != devices.Removed {
			r.push(name, r.get(name), s.accounts.JID(p))
		}
	}
	r.unlock()
	s.hubRoleChanged(c)
	if c.Kind == devices.Removed {
		return
	}
	for _, p := range gone {
		if !s.rosters.maySee(p, name) {
			s.sendPresenceOf(name, p, false)
		}
		if !s.rosters.maySee(name, p) {
			s.sendPresenceOf(p, name, false)
		}
	}
	for _, p := range without(after, before) {
		s.sendPresenceOf(name, p, true)
		s.sendPresenceOf(p, name, true)
	}
}

// without returns the elements of a (sorted) that are not in b (sorted).
func without(a, b []string) []string {
	var out []string
	for _, x := range a {
		if _, found := slices.BinarySearch(b, x); !found {
			out = append(out, x)
		}
	}
	return out
}
