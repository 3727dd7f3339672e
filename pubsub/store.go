package pubsub

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/geohub/geohub/internal/jsonw"
	"github.com/geohub/geohub/internal/store"
	"github.com/tidwall/buntdb"
)

// Keys owned by this package, with the node name query-escaped so that the
// ':' separators stay unambiguous (a service JID never contains ':'):
//
//	ps:n:<service>:<node>          node configuration and affiliations
//	ps:i:<service>:<node>:<seq>    one item, in publish order
//	ps:s:<service>:<node>:<jid>    one subscription
const (
	nodePrefix = "ps:n:"
	itemPrefix = "ps:i:"
	subPrefix  = "ps:s:"
)

func nodeSuffix(service, node string) string { return service + ":" + url.QueryEscape(node) }

// nodeRecord is a node as stored.
type nodeRecord struct {
	Service string                 `json:"service"`
	Name    string                 `json:"name"`
	Config  NodeConfig             `json:"config"`
	Created time.Time              `json:"created"`
	Creator string                 `json:"creator"`
	Affs    map[string]Affiliation `json:"affs"`
}

// saveNode writes the node's configuration and affiliations. Called with the
// service's lock held, so it copies what it needs.
func saveNode(n *Node) store.Write {
	rec := nodeRecord{Service: n.Service, Name: n.Name, Config: n.Config, Created: n.Created, Creator: n.Creator, Affs: map[string]Affiliation{}}
	rec.Config.RosterGroupsAllowed = slices.Clone(n.Config.RosterGroupsAllowed)
	for k, v := range n.Affs {
		rec.Affs[k] = v
	}
	key := nodePrefix + nodeSuffix(n.Service, n.Name)
	return func(tx *buntdb.Tx) error { return store.SetJSON(tx, key, rec) }
}

func itemKey(n *Node, it *Item) string {
	var seq [20]byte // a conversion inside a concatenation is not kept: one allocation in all
	return itemPrefix + nodeSuffix(n.Service, n.Name) + ":" + string(store.AppendPadded(seq[:0], it.seq, 20))
}

// saveItem stores an item and removes the ones it replaced or pushed out.
func saveItem(n *Node, it *Item, gone []*Item) store.Write {
	key, rec := itemKey(n, it), *it
	var goneKeys []string
	for _, g := range gone {
		goneKeys = append(goneKeys, itemKey(n, g))
	}
	persist := n.Config.PersistItems
	return func(tx *buntdb.Tx) error {
		for _, k := range goneKeys {
			if err := store.Delete(tx, k); err != nil {
				return err
			}
		}
		if !persist {
			return nil
		}
		val, err := jsonw.Record(rec.jsonMembers)
		if err != nil {
			return err
		}
		_, _, err = tx.Set(key, val, nil)
		return err
	}
}

func deleteItems(n *Node, gone []*Item) store.Write {
	var keys []string
	for _, g := range gone {
		keys = append(keys, itemKey(n, g))
	}
	return func(tx *buntdb.Tx) error {
		for _, k := range keys {
			if err := store.Delete(tx, k); err != nil {
				return err
			}
		}
		return nil
	}
}

func subKey(n *Node, jid string) string {
	return subPrefix + nodeSuffix(n.Service, n.Name) + ":" + url.QueryEscape(jid)
}

func saveSub(n *Node, sub *Subscription) store.Write {
	key, rec := subKey(n, sub.JID), *sub
	return func(tx *buntdb.Tx) error { return store.SetJSON(tx, key, rec) }
}

func deleteSub(n *Node, jid string) store.Write {
	key := subKey(n, jid)
	return func(tx *buntdb.Tx) error { return store.Delete(tx, key) }
}

// deleteNode removes a node with its items and subscriptions.
func deleteNode(service, name string) store.Write {
	suffix := nodeSuffix(service, name)
	return func(tx *buntdb.Tx) error {
		var keys []string
		for _, p := range []string{itemPrefix, subPrefix} {
			store.AscendPrefix(tx, p+suffix+":", func(k, _ string) bool { keys = append(keys, k); return true })
		}
		keys = append(keys, nodePrefix+suffix)
		for _, k := range keys {
			if err := store.Delete(tx, k); err != nil {
				return err
			}
		}
		return nil
	}
}

// load reads every node, item and subscription.
func load(db *buntdb.DB) (map[string]map[string]*Node, uint64, error) {
	services := map[string]map[string]*Node{}
	byKey := map[string]*Node{}
	var seq uint64
	err := db.View(func(tx *buntdb.Tx) error {
		var bad error
		store.AscendPrefix(tx, nodePrefix, func(k, v string) bool {
			var r nodeRecord
			if bad = json.Unmarshal([]byte(v), &r); bad != nil {
				bad = fmt.Errorf("%s: %w", k, bad)
				return false
			}
			n := &Node{Service: r.Service, Name: r.Name, Config: r.Config, Created: r.Created, Creator: r.Creator,
				Affs: r.Affs, Subs: map[string]*Subscription{}}
			if n.Affs == nil {
				n.Affs = map[string]Affiliation{}
			}
			if services[n.Service] == nil {
				services[n.Service] = map[string]*Node{}
			}
			services[n.Service][n.Name] = n
			byKey[strings.TrimPrefix(k, nodePrefix)] = n
			return true
		})
		if bad != nil {
			return bad
		}
		store.AscendPrefix(tx, itemPrefix, func(k, v string) bool {
			rest := strings.TrimPrefix(k, itemPrefix)
			i := strings.LastIndexByte(rest, ':')
			n := byKey[rest[:i]]
			var it Item
			if n == nil || json.Unmarshal([]byte(v), &it) != nil {
				return true // orphaned or unreadable: skip rather than refuse to start
			}
			it.seq, _ = strconv.ParseUint(rest[i+1:], 10, 64)
			seq = max(seq, it.seq)
			n.Items = append(n.Items, &it)
			return true
		})
		store.AscendPrefix(tx, subPrefix, func(k, v string) bool {
			rest := strings.TrimPrefix(k, subPrefix)
			i := strings.LastIndexByte(rest, ':')
			n := byKey[rest[:i]]
			var sub Subscription
			if n == nil || json.Unmarshal([]byte(v), &sub) != nil {
				return true
			}
			n.Subs[sub.JID] = &sub
			return true
		})
		return nil
	})
	return services, seq, err
}

// reloadNode puts a node back as it is stored, after a write for it failed
// and memory went ahead of the disk.
func (s *Service) reloadNode(service, name string) {
	suffix := nodeSuffix(service, name)
	var n *Node
	s.commit.Submit(func(tx *buntdb.Tx) error {
		// Read inside the writer's order, after every earlier write.
		v, err := tx.Get(nodePrefix + suffix)
		if err != nil {
			return nil
		}
		var r nodeRecord
		if json.Unmarshal([]byte(v), &r) != nil {
			return nil
		}
		n = &Node{Service: r.Service, Name: r.Name, Config: r.Config, Created: r.Created, Creator: r.Creator,
			Affs: r.Affs, Subs: map[string]*Subscription{}}
		if n.Affs == nil {
			n.Affs = map[string]Affiliation{}
		}
		store.AscendPrefix(tx, itemPrefix+suffix+":", func(k, v string) bool {
			var it Item
			if json.Unmarshal([]byte(v), &it) == nil {
				it.seq, _ = strconv.ParseUint(k[strings.LastIndexByte(k, ':')+1:], 10, 64)
				n.Items = append(n.Items, &it)
			}
			return true
		})
		store.AscendPrefix(tx, subPrefix+suffix+":", func(_, v string) bool {
			var sub Subscription
			if json.Unmarshal([]byte(v), &sub) == nil {
				n.Subs[sub.JID] = &sub
			}
			return true
		})
		return nil
	}, func(err error) {
		if errors.Is(err, store.ErrClosed) {
			// Shutting down: nothing was read. Submit then calls back at
			// once, on the caller's goroutine, which may hold s.mu.
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if n == nil {
			delete(s.nodes[service], name)
			return
		}
		s.addNode(n)
	})
}
