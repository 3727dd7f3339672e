package devices

import (
	"fmt"
	"slices"
	"strings"
)

// Groups: who sees whom across the watcher line, and names resolved to JIDs.

// GroupPeers returns the accounts that share a group with name across the
// watcher line: for a device, the operators and admins of its groups; for an
// operator or admin, the devices of its groups. Sorted by name.
func (s *Store) GroupPeers(name string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.accounts[name]
	if !ok {
		return nil
	}
	return s.peersOf(a)
}

// PeersOf is GroupPeers for the account a as given, which need not be the
// stored one: the hub uses it to know who a changed account used to see.
func (s *Store) PeersOf(a Account) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.peersOf(&a)
}

func (s *Store) peersOf(a *Account) []string {
	other := s.groupWatchers
	if a.Role.Watches() {
		other = s.groupDevices
	}
	var out []string
	for _, g := range a.Groups {
		for m := range other[g] {
			if m != a.Name {
				out = append(out, m)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Peers reports whether a and b are group peers (see GroupPeers).
func (s *Store) Peers(a, b string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	x, y := s.accounts[a], s.accounts[b]
	if x == nil || y == nil || x.Role.Watches() == y.Role.Watches() {
		return false
	}
	for _, g := range x.Groups {
		if y.InGroup(g) {
			return true
		}
	}
	return false
}

// SharedGroups returns the groups a and b have in common.
func (s *Store) SharedGroups(a, b string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	x, y := s.accounts[a], s.accounts[b]
	if x == nil || y == nil {
		return nil
	}
	var out []string
	for _, g := range x.Groups {
		if y.InGroup(g) {
			out = append(out, g)
		}
	}
	return out
}

// GroupsOf returns the groups of the account with bare JID jid, for the geo
// engine's fences.
func (s *Store) GroupsOf(jid string) []string {
	local, domain, ok := strings.Cut(jid, "@")
	if !ok || domain != s.domain {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if a := s.accounts[local]; a != nil {
		return a.Groups
	}
	return nil
}

// Resolve turns account names or bare JIDs of this domain into bare JIDs,
// checking that each account exists and has a role ok accepts.
func (s *Store) Resolve(names []string, ok func(Role) bool) ([]string, error) {
	out := make([]string, 0, len(names))
	for _, n := range names {
		local, domain, hasDomain := strings.Cut(n, "@")
		if hasDomain && domain != s.domain {
			return nil, fmt.Errorf("%s is not an account of %s", n, s.domain)
		}
		a, found := s.Get(local)
		if !found {
			return nil, fmt.Errorf("%s: %w", n, ErrNotFound)
		}
		if !ok(a.Role) {
			return nil, fmt.Errorf("%s is a %s account", n, a.Role)
		}
		out = append(out, s.JID(a.Name))
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ResolveDevices is Resolve for device accounts.
func (s *Store) ResolveDevices(names []string) ([]string, error) {
	return s.Resolve(names, func(r Role) bool { return r == RoleDevice })
}

// ResolveWatchers is Resolve for the accounts alerts may go to.
func (s *Store) ResolveWatchers(names []string) ([]string, error) {
	return s.Resolve(names, Role.Watches)
}

// GroupExists reports whether any account is in group g.
func (s *Store) GroupExists(g string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.groupWatchers[g])+len(s.groupDevices[g]) > 0
}
