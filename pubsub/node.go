// Package pubsub is GeoHub's publish-subscribe service (XEP-0060) at
// pubsub.<domain> and the personal eventing service (XEP-0163) on every
// account's bare JID: nodes, items, subscriptions, affiliations, access
// models and notifications, persisted under the ps: keys. It does not know
// what a payload means: handlers registered per payload namespace (the
// application registers the geo engine's for XEP-0080 and XEP-0323) check
// payloads and stage their own writes. In-process callers publish with the
// typed Publish; HandleIQ is the XMPP adapter.
package pubsub

import (
	"slices"
	"strings"
	"time"
)

// Affiliation is an entity's standing on a node (XEP-0060 §4.1).
type Affiliation string

// The affiliations supported.
const (
	Owner     Affiliation = "owner"
	Publisher Affiliation = "publisher"
	Member    Affiliation = "member"
	None      Affiliation = "none"
	Outcast   Affiliation = "outcast"
)

func parseAffiliation(s string) (Affiliation, bool) {
	switch a := Affiliation(s); a {
	case Owner, Publisher, Member, None, Outcast:
		return a, true
	}
	return "", false
}

// Item is one published item.
type Item struct {
	ID        string    `json:"id"`
	Publisher string    `json:"publisher"` // bare JID
	Time      time.Time `json:"time"`
	Payload   string    `json:"payload"` // the item's one payload element, as XML
	seq       uint64
}

// Subscription is one entity's subscription to a node.
type Subscription struct {
	JID   string    `json:"jid"` // as subscribed: bare or full
	SubID string    `json:"subid"`
	Since time.Time `json:"since"`
}

// Node is a pubsub node. Its fields are guarded by the service's mutex.
type Node struct {
	Service string // the service's JID: pubsub.<domain>, or an account's bare JID for PEP
	Name    string
	Config  NodeConfig
	Created time.Time
	Creator string
	Affs    map[string]Affiliation   // by bare JID; absent means none
	Subs    map[string]*Subscription // by subscriber JID
	Items   []*Item                  // oldest first, at most Config.MaxItems

	recent []published // the latest publishes, to know a repeat: repeat.go
	next   int         // where the next one goes in recent once it is full
}

func (n *Node) affiliation(bare string) Affiliation {
	if a, ok := n.Affs[bare]; ok {
		return a
	}
	return None
}

// owners returns the node's owners, sorted.
func (n *Node) owners() []string {
	var out []string
	for j, a := range n.Affs {
		if a == Owner {
			out = append(out, j)
		}
	}
	slices.Sort(out)
	return out
}

func (n *Node) item(id string) (int, *Item) {
	for i, it := range n.Items {
		if it.ID == id {
			return i, it
		}
	}
	return -1, nil
}

// put adds it as the newest item, replacing one with its ID, and returns
// the items that go: the replaced one and those beyond max_items.
func (n *Node) put(it *Item) (gone []*Item) {
	if i, old := n.item(it.ID); old != nil {
		gone = append(gone, old)
		n.Items = append(n.Items[:i], n.Items[i+1:]...)
	}
	n.Items = append(n.Items, it)
	if over := len(n.Items) - n.Config.MaxItems; over > 0 {
		gone = append(gone, n.Items[:over]...)
		n.Items = append(n.Items[:0:0], n.Items[over:]...)
	}
	return gone
}

func (n *Node) last() *Item {
	if len(n.Items) == 0 {
		return nil
	}
	return n.Items[len(n.Items)-1]
}

// subscribedBare reports whether bare or any of its full JIDs subscribes.
func (n *Node) subscribedBare(bare string) bool {
	for j := range n.Subs {
		if j == bare || strings.HasPrefix(j, bare+"/") {
			return true
		}
	}
	return false
}
