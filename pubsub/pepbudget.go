package pubsub

// maxPEPBytes bounds the item payloads one account's PEP service holds in
// all its nodes together. Without it the bounds on nodes, items and payload
// size multiply to 128 MiB an account; avatars, bookmarks, OMEMO bundles and
// a position fit in far less.
const maxPEPBytes = 1 << 20

// errPEPFull refuses a publish that would take an account's PEP service
// past maxPEPBytes.
var errPEPFull = Error{Type: "wait", Cond: "resource-constraint"}

// pepBytesAfter is what the PEP service of n would hold in payloads once
// it is put into n, which is one of its nodes: it replaces an item with its
// ID and pushes out the oldest beyond max_items, as Node.put does. s.mu is
// held.
func (s *Service) pepBytesAfter(n *Node, it *Item) int {
	total := 0
	for _, other := range s.nodes[n.Service] {
		if other != n {
			for _, held := range other.Items {
				total += len(held.Payload)
			}
		}
	}
	kept := 1 // it, the newest, stays
	for _, held := range n.Items {
		if held.ID != it.ID {
			kept++
		}
	}
	over := max(0, kept-n.Config.MaxItems) // the oldest that go
	for _, held := range n.Items {
		if held.ID == it.ID {
			continue
		}
		if over > 0 {
			over--
			continue
		}
		total += len(held.Payload)
	}
	total += len(it.Payload)
	return total
}
