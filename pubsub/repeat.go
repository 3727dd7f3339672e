package pubsub

import (
	"errors"
	"hash/maphash"

	"github.com/tidwall/buntdb"
)

// A device that loses its link after publishing cannot tell whether the
// publish arrived, so it sends it again (with or without stream
// management's resumption). For the payloads the application handles (a
// fix, sensor readings: Handle), the same item ID from the same publisher
// with the same payload on the same node is that repeat: it is answered
// like the first without a second fix, notification or store write. Other
// items keep XEP-0060's rule: publishing one again notifies again. The node's items
// remember the latest publishes; recent remembers more, since a node that
// keeps one item (a device's geoloc) has replaced it by the time the
// device sends its backlog again.

// recentPublishes is how many publishes a node remembers beyond its items.
const recentPublishes = 64

// published is a publish a node remembers: its payload by a hash.
type published struct {
	id, publisher string
	sum           uint64
}

var payloadSeed = maphash.MakeSeed()

func payloadSum(payload []byte) uint64 { return maphash.Bytes(payloadSeed, payload) }

// repeat reports whether n already took the item id from publisher with
// this payload. The caller holds the service's lock.
func (n *Node) repeat(id, publisher string, payload []byte) bool {
	if id == "" {
		return false
	}
	if _, it := n.item(id); it != nil && it.Publisher == publisher && it.Payload == string(payload) {
		return true
	}
	sum := payloadSum(payload)
	for _, p := range n.recent {
		if p.id == id && p.publisher == publisher && p.sum == sum {
			return true
		}
	}
	return false
}

// remember notes a publish n took. The caller holds the service's write
// lock.
func (n *Node) remember(it *Item) {
	p := published{id: it.ID, publisher: it.Publisher, sum: payloadSum([]byte(it.Payload))}
	if len(n.recent) < recentPublishes {
		n.recent = append(n.recent, p)
		return
	}
	n.recent[n.next] = p
	n.next = (n.next + 1) % recentPublishes
}

// errRepeat tells a payload handler its write was not committed: the
// publish was a repeat.
var errRepeat = errors.New("pubsub: a repeated publish")

// repeated answers a repeat of a publish the node took: done is called
// once what the node took is durable, in commit order. It reports false
// when the publish is not a repeat.
func (s *Service) repeated(service, node, id, who string, payload []byte, done func(PublishResult, *Error)) bool {
	s.mu.RLock()
	n := s.node(service, node)
	rep := n != nil && n.repeat(id, who, payload)
	s.mu.RUnlock()
	if rep {
		s.repeatDone(id, done)
	}
	return rep
}

// repeatDone answers a repeat once the committer has written what it took
// before: the first publish of the item.
func (s *Service) repeatDone(id string, done func(PublishResult, *Error)) {
	s.repeats.Add(1)
	s.commit.Submit(func(*buntdb.Tx) error { return nil }, func(err error) {
		if err != nil {
			done(PublishResult{}, &errInternal)
			return
		}
		done(PublishResult{ItemID: id}, nil)
	})
}
