package hub

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/tidwall/buntdb"
	"mellium.im/xmpp/jid"
)

// XEP-0191 Blocking Command: an account's list of JIDs it blocks, kept under
// blk:<local>:<jid>, one key per blocked JID (a localpart has no ':').

const (
	nsBlocking       = "urn:xmpp:blocking"
	nsBlockingErrors = "urn:xmpp:blocking:errors"
	blockPrefix      = "blk:"
	// maxBlocked bounds one account's blocklist.
	maxBlocked = 1000
)

// blockSet is one account's blocklist. It is never changed once published:
// a change makes a new set. An empty list is a nil *blockSet, so the router
// pays one pointer load per stanza for accounts that block nobody.
type blockSet struct {
	jids map[string]struct{} // normalized: full, bare, domain/resource or domain
}

// blockMatch reports whether b blocks the entity local@domain/resource, by
// the rules of XEP-0191 §5 (XEP-0016): the full JID, the bare JID, or the
// domain (which covers every JID at it). A domain/resource item is the
// full JID of a domain. Lookups do not allocate.
func blockMatch[T string | []byte](b *blockSet, local, domain, resource T) bool {
	if b == nil {
		return false
	}
	var buf [256]byte
	k := append(buf[:0], local...)
	if len(local) > 0 {
		k = append(k, '@')
	}
	k = append(k, domain...)
	bare := len(k)
	if len(resource) > 0 {
		k = append(append(k, '/'), resource...)
		if _, ok := b.jids[string(k)]; ok {
			return true
		}
	}
	if _, ok := b.jids[string(k[:bare])]; ok {
		return true
	}
	if len(local) > 0 {
		_, ok := b.jids[string(domain)]
		return ok
	}
	return false
}

// sorted returns the blocked JIDs in order.
func (b *blockSet) sorted() []string {
	if b == nil {
		return nil
	}
	out := make([]string, 0, len(b.jids))
	for j := range b.jids {
		out = append(out, j)
	}
	slices.Sort(out)
	return out
}

// blocklists holds every account's blocklist. All of them are read at
// start (only accounts that block someone have keys), so no stanza path
// reads the database.
type blocklists struct {
	s *Server
	// write serializes changes: each reads the set the one before made. It
	// is not held across the database write (the committer keeps their
	// order); mu guards sets, which stanza paths read.
	write sync.Mutex
	mu    sync.RWMutex
	sets  map[string]*blockSet // by localpart; absent: blocks nobody
	n     atomic.Int32         // len(sets), read without the lock
}

func newBlocklists(s *Server) *blocklists {
	b := &blocklists{s: s, sets: map[string]*blockSet{}}
	s.db.View(func(tx *buntdb.Tx) error {
		return store.AscendPrefix(tx, blockPrefix, func(k, _ string) bool {
			local, j, ok := strings.Cut(strings.TrimPrefix(k, blockPrefix), ":")
			if ok {
				set := b.sets[local]
				if set == nil {
					set = &blockSet{jids: map[string]struct{}{}}
					b.sets[local] = set
				}
				set.jids[j] = struct{}{}
			}
			return true
		})
	})
	b.n.Store(int32(len(b.sets)))
	return b
}

// of returns the blocklist of an account, nil when it blocks nobody.
func (b *blocklists) of(local string) *blockSet {
	if b.n.Load() == 0 {
		return nil
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.sets[local]
}

// attach gives a newly bound session its account's blocklist; publish
// keeps it current (both under b.mu, so the latest set wins).
func (b *blocklists) attach(ss *session) {
	b.mu.RLock()
	ss.blocks.Store(b.sets[ss.local])
	b.mu.RUnlock()
}

// publish makes next the blocklist of local, in memory and on every bound
// session of the account.
func (b *blocklists) publish(local string, next *blockSet) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if next == nil {
		delete(b.sets, local)
	} else {
		b.sets[local] = next
	}
	b.n.Store(int32(len(b.sets)))
	for _, ss := range b.s.router.sessions(local) {
		ss.blocks.Store(next)
	}
}

// forget drops a removed account's blocklist.
func (b *blocklists) forget(local string) {
	b.write.Lock()
	b.publish(local, nil)
	saved := b.s.cfg.Commit.Later(func(tx *buntdb.Tx) error { return store.DeletePrefix(tx, blockPrefix+local+":") })
	b.write.Unlock()
	if err := saved.Wait(); err != nil {
		b.s.log.Error("forgetting a blocklist", "account", local, "err", err)
		b.reload(local)
	}
}

// reload makes local's blocklist what the database holds: the undo of a
// change whose write failed.
func (b *blocklists) reload(local string) {
	b.write.Lock()
	defer b.write.Unlock()
	next := &blockSet{jids: map[string]struct{}{}}
	b.s.db.View(func(tx *buntdb.Tx) error {
		return store.AscendPrefix(tx, blockPrefix+local+":", func(k, _ string) bool {
			next.jids[strings.TrimPrefix(k, blockPrefix+local+":")] = struct{}{}
			return true
		})
	})
	if len(next.jids) == 0 {
		next = nil
	}
	b.publish(local, next)
}

// handleIQ answers blocklist get, block and unblock (XEP-0191 §3).
func (b *blocklists) handleIQ(ss *session, req *iqRequest) {
	switch {
	case req.payload.Local == "blocklist" && !req.set:
		ss.blocklistWanted.Store(true)
		list := []byte("<blocklist xmlns='" + nsBlocking + "'>")
		for _, j := range b.of(ss.local).sorted() {
			list = appendBlockItem(list, j)
		}
		ss.send(iqResult(ss, req.el, append(list, "</blocklist>"...)))
	case req.payload.Local == "block" && req.set:
		b.change(ss, req, true)
	case req.payload.Local == "unblock" && req.set:
		b.change(ss, req, false)
	default:
		ss.send(errorReply(ss, req.el, errBadRequest.withText("blocklist is read with get, block and unblock are set")))
	}
}

func appendBlockItem(b []byte, j string) []byte {
	b = append(b, "<item"...)
	b = xmlesc.Attr(b, "jid", j)
	return append(b, "/>"...)
}

// change blocks or unblocks the items of a request: all or nothing, stored
// before the result, then pushed to the account's resources that asked for
// the list, and presence follows (§3.3, §3.4).
func (b *blocklists) change(ss *session, req *iqRequest, block bool) {
	var items []string
	for _, c := range req.payload.Children {
		if c.Local != "item" || c.Space != nsBlocking {
			continue
		}
		raw := c.Attr("jid")
		if raw == "" {
			ss.send(errorReply(ss, req.el, errBadRequest.withText("an item needs a jid")))
			return
		}
		j, err := jid.Parse(raw)
		if err != nil {
			ss.send(errorReply(ss, req.el, errJIDMalformed.withText("invalid jid "+raw)))
			return
		}
		items = append(items, j.String())
	}
	slices.Sort(items)
	items = slices.Compact(items)
	if block && len(items) == 0 {
		ss.send(errorReply(ss, req.el, errBadRequest.withText("block at least one item")))
		return
	}

	b.write.Lock()
	old := b.of(ss.local)
	next := &blockSet{jids: map[string]struct{}{}}
	if old != nil && (block || len(items) > 0) {
		for j := range old.jids {
			next.jids[j] = struct{}{}
		}
	}
	for _, j := range items {
		if block {
			next.jids[j] = struct{}{}
		} else {
			delete(next.jids, j)
		}
	}
	if len(next.jids) > maxBlocked {
		b.write.Unlock()
		ss.send(errorReply(ss, req.el, stanzaErr{"wait", "resource-constraint", fmt.Sprintf("a blocklist holds at most %d JIDs", maxBlocked)}))
		return
	}
	prefix := blockPrefix + ss.local + ":"
	saved := b.s.cfg.Commit.Later(func(tx *buntdb.Tx) error {
		if !block && len(items) == 0 {
			return store.DeletePrefix(tx, prefix)
		}
		for _, j := range items {
			var err error
			if block {
				_, _, err = tx.Set(prefix+j, "", nil)
			} else {
				err = store.Delete(tx, prefix+j)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if len(next.jids) == 0 {
		next = nil
	}
	b.publish(ss.local, next) // undone below if the write fails
	b.write.Unlock()
	if err := saved.Wait(); err != nil {
		b.s.log.Error("saving a blocklist", "account", ss.local, "err", err)
		b.reload(ss.local)
		ss.send(errorReply(ss, req.el, writeError(err)))
		return
	}

	ss.send(iqResult(ss, req.el, nil))
	b.push(ss.local, req.payload.Local, items)
	b.s.blockPresence(ss.local, old, next)
}

// push tells the account's resources that asked for the blocklist what
// changed (§3.3): the items, or an empty unblock for unblock-all.
func (b *blocklists) push(local, action string, items []string) {
	payload := []byte("<" + action + " xmlns='" + nsBlocking + "'>")
	for _, j := range items {
		payload = appendBlockItem(payload, j)
	}
	payload = append(payload, "</"+action+">"...)
	for _, dst := range b.s.router.sessions(local) {
		if !dst.blocklistWanted.Load() {
			continue
		}
		p := []byte("<iq type='set'")
		p = append(p, dst.toAttr...)
		p = xmlesc.Attr(p, "id", newID("block-"))
		p = append(p, '>')
		p = append(p, payload...)
		dst.send(append(p, "</iq>"...))
	}
}

// blockPresence follows a blocklist change of local with presence (§3.3,
// §3.4): a contact's resource that just got blocked learns that the
// account's resources are unavailable, one just unblocked gets their
// current presence; the account's own resources hear the same of the
// contact, whose stanzas they no longer get (or get again).
func (s *Server) blockPresence(local string, old, next *blockSet) {
	s.rosters.mu.Lock()
	ro := s.rosters.get(local)
	subscribers := s.rosters.related(local, ro, subscription.hasFrom)
	contacts := s.rosters.related(local, ro, subscription.hasTo)
	s.rosters.mu.Unlock()
	own := s.router.sessions(local)
	s.directedGone(own, old, next)
	s.hubBlockChanged(local, old, next)
	for _, c := range slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(subscribers), contacts...)))) {
		toContact := slices.Contains(subscribers, c)
		toUser := slices.Contains(contacts, c)
		for _, dst := range s.router.sessions(c) {
			was, now := blockMatch(old, dst.local, s.domain, dst.resource), blockMatch(next, dst.local, s.domain, dst.resource)
			if was == now || !dst.available() {
				continue
			}
			if toContact {
				s.remotePresenceTo(local, dst, !now)
			}
			for _, src := range own {
				if !src.available() {
					continue
				}
				if toContact {
					presenceOrGone(src, dst, !now)
				}
				if toUser {
					presenceOrGone(dst, src, !now)
				}
			}
		}
	}
}

// directedGone sends unavailable presence from local's resources to the
// entities they sent directed presence to that next blocks and old did
// not, and forgets them (RFC 6121 §4.6: they would hear of it at logout).
func (s *Server) directedGone(own []*session, old, next *blockSet) {
	for _, src := range own {
		var gone []string
		src.pmu.Lock()
		for target := range src.directed {
			bare, resource, _ := strings.Cut(target, "/")
			local, domain, ok := strings.Cut(bare, "@")
			if !ok {
				local, domain = "", bare
			}
			if blockMatch(next, local, domain, resource) && !blockMatch(old, local, domain, resource) {
				gone = append(gone, target)
				delete(src.directed, target)
			}
		}
		src.pmu.Unlock()
		for _, target := range gone {
			el := unavailableEl
			s.presenceToJID(target, &el, src.fromAttr)
		}
	}
}

// presenceOrGone sends src's current presence to dst, or unavailable.
func presenceOrGone(src, dst *session, available bool) {
	if available {
		src.presenceTo(dst)
	} else {
		src.unavailableTo(dst)
	}
}
