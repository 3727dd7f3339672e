package pubsub

import "strings"

// Reserve keeps the node names prefix and prefix/... on the service for the
// service itself (the hub's alert nodes): nobody else may create one, so an
// account cannot squat a name the hub will publish to. Nodes there that
// someone else created (before names were reserved) are deleted, telling
// their subscribers; the caller then creates its own with EnsureNode. Call
// it before the service is used.
func (s *Service) Reserve(prefix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reserved = append(s.reserved, prefix)
	for name, n := range s.nodes[s.cfg.Host] {
		if !s.isReserved(name) || !s.squatted(n) {
			continue
		}
		s.log.Warn("deleting a node in the hub's reserved names", "node", name, "creator", n.Creator)
		ev := s.dropNode(n)
		s.commit.Submit(deleteNode(n.Service, n.Name), func(err error) {
			if err != nil {
				s.log.Error("deleting a squatted node", "node", name, "err", err)
				return
			}
			ev.send(s, nil)
		})
	}
}

// isReserved says whether a service node name is kept for the service.
func (s *Service) isReserved(name string) bool {
	for _, p := range s.reserved {
		if name == p || strings.HasPrefix(name, p+"/") {
			return true
		}
	}
	return false
}

// squatted says whether someone other than the service made or owns n.
func (s *Service) squatted(n *Node) bool {
	if n.Creator != s.cfg.Host {
		return true
	}
	for _, a := range n.Affs {
		if a == Owner {
			return true
		}
	}
	return false
}
