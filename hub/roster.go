package hub

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/tidwall/buntdb"
	"mellium.im/xmpp/jid"
)

// Keys owned by the hub's roster: ros:<local> holds the roster version
// counter, ros:<local>:<contact bare JID> one item. A localpart cannot
// contain ':' (RFC 7622 §3.3.1), so the separator is unambiguous.
const rosterPrefix = "ros:"

// subscription is a presence subscription state (RFC 6121 §3).
type subscription uint8

const (
	subNone subscription = iota
	subTo                // the user receives the contact's presence
	subFrom              // the contact receives the user's presence
	subBoth
)

var subNames = [...]string{"none", "to", "from", "both"}

func (s subscription) String() string { return subNames[s] }
func (s subscription) hasTo() bool    { return s == subTo || s == subBoth }
func (s subscription) hasFrom() bool  { return s == subFrom || s == subBoth }

// rosterItem is one stored contact.
type rosterItem struct {
	JID    string       `json:"jid"`
	Name   string       `json:"name,omitempty"`
	Groups []string     `json:"groups,omitempty"`
	Sub    subscription `json:"sub"`
	Ask    bool         `json:"ask,omitempty"`    // the user asked to subscribe; no answer yet
	In     bool         `json:"in,omitempty"`     // the contact asked to subscribe; no answer yet
	Hidden bool         `json:"hidden,omitempty"` // kept only to remember In; not in the roster
}

type roster struct {
	ver   uint64
	items map[string]*rosterItem
}

// rosters owns every account's roster. One mutex serializes all roster and
// subscription changes: they are rare next to messages, and a subscription
// changes two rosters at once. It is not held across a sync: a change is
// made in memory and staged for the committer under it, and what the
// change sends waits, without it, until the writes are durable (unlock).
type rosters struct {
	s      *Server
	mu     sync.Mutex
	loaded map[string]*roster
	// Of the change in progress, under mu: its writes, the rosters they
	// touch, and what it sends once they are durable.
	staged  []store.Pending
	touched []string
	after   []func()
}

// later queues fn to run once the change in progress is durable. r.mu is
// held.
func (r *rosters) later(fn func()) { r.after = append(r.after, fn) }

// unlock ends a change made under r.mu: it releases the lock, waits until
// the change's writes are durable, then sends what the change caused, in
// order. When a write failed, the rosters it touched are reloaded from the
// database (the undo) and nothing is sent.
func (r *rosters) unlock() error {
	staged, touched, after := r.staged, r.touched, r.after
	r.staged, r.touched, r.after = nil, nil, nil
	r.mu.Unlock()
	var err error
	for _, p := range staged {
		if e := p.Wait(); e != nil {
			err = e
		}
	}
	if err != nil {
		r.s.log.Error("saving rosters", "accounts", touched, "err", err)
		r.mu.Lock()
		for _, local := range touched {
			delete(r.loaded, local)
		}
		r.mu.Unlock()
		return err
	}
	for _, fn := range after {
		fn()
	}
	return nil
}

func newRosters(s *Server) *rosters { return &rosters{s: s, loaded: map[string]*roster{}} }

// get returns the stored roster of local, loading it once. r.mu is held.
func (r *rosters) get(local string) *roster {
	if ro := r.loaded[local]; ro != nil {
		return ro
	}
	ro := &roster{items: map[string]*rosterItem{}}
	r.s.db.View(func(tx *buntdb.Tx) error {
		if v, err := tx.Get(rosterPrefix + local); err == nil {
			ro.ver, _ = strconv.ParseUint(v, 10, 64)
		}
		return store.AscendPrefix(tx, rosterPrefix+local+":", func(k, v string) bool {
			var it rosterItem
			if json.Unmarshal([]byte(v), &it) == nil {
				ro.items[it.JID] = &it
			}
			return true
		})
	})
	r.loaded[local] = ro
	return ro
}

// save changes or removes an item in memory, bumps the roster version and
// stages the write: see unlock. r.mu is held.
func (r *rosters) save(local string, ro *roster, it *rosterItem, remove bool) {
	key := rosterPrefix + local + ":" + it.JID
	var item []byte
	if !remove {
		item, _ = json.Marshal(it) // plain strings and numbers: cannot fail
	}
	ver := strconv.FormatUint(ro.ver+1, 10)
	r.staged = append(r.staged, r.s.cfg.Commit.Later(func(tx *buntdb.Tx) error {
		if remove {
			if err := store.Delete(tx, key); err != nil {
				return err
			}
		} else if _, _, err := tx.Set(key, string(item), nil); err != nil {
			return err
		}
		_, _, err := tx.Set(rosterPrefix+local, ver, nil)
		return err
	}))
	r.touched = append(r.touched, local)
	ro.ver++
	if remove {
		delete(ro.items, it.JID)
	} else {
		ro.items[it.JID] = it
	}
}

// version is the roster version string: stored changes, group changes,
// and the hub's own contact (a new hub name changes every roster).
func (r *rosters) version(ro *roster) string {
	return strconv.FormatUint(ro.ver, 10) + "-" + strconv.FormatUint(r.s.accounts.Generation(), 10) + "-" + r.s.hub.local
}

// viewItem is a contact as the user sees it: stored and group-given
// subscriptions merged.
type viewItem struct {
	jid     string
	name    string
	groups  []string
	sub     subscription
	ask     bool
	managed bool // given by a shared group; cannot be removed by the user
}

// viewOf returns the user's view of one contact. r.mu is held.
func (r *rosters) viewOf(local string, ro *roster, contact string) (viewItem, bool) {
	v, ok := viewItem{}, false
	if it := ro.items[contact]; it != nil && !it.Hidden {
		v = viewItem{jid: it.JID, name: it.Name, groups: it.Groups, sub: it.Sub, ask: it.Ask}
		ok = true
	}
	if contact == r.s.hub.bare {
		return r.s.hubView(local, v, ok)
	}
	if peer, isLocal := r.localName(contact); isLocal && r.s.accounts.Peers(local, peer) {
		v.jid, v.sub, v.ask, v.managed, ok = contact, subBoth, false, true, true
		if len(v.groups) == 0 {
			v.groups = r.s.accounts.SharedGroups(local, peer)
		}
	}
	return v, ok
}

// view returns the whole roster of local sorted by JID. r.mu is held.
func (r *rosters) view(local string, ro *roster) []viewItem {
	seen := map[string]bool{}
	var out []viewItem
	for c := range ro.items {
		if v, ok := r.viewOf(local, ro, c); ok {
			out = append(out, v)
			seen[c] = true
		}
	}
	for _, p := range append(r.s.accounts.GroupPeers(local), r.s.hub.local) {
		c := r.s.accounts.JID(p)
		if !seen[c] {
			if v, ok := r.viewOf(local, ro, c); ok {
				out = append(out, v)
			}
		}
	}
	slices.SortFunc(out, func(a, b viewItem) int { return strings.Compare(a.jid, b.jid) })
	return out
}

// localName returns the localpart of a bare JID at this hub.
func (r *rosters) localName(bare string) (string, bool) {
	l, d, ok := strings.Cut(bare, "@")
	if !ok || d != r.s.domain {
		return "", false
	}
	return l, true
}

// related lists the accounts on the other side of local's presence: with
// want(sub) true for a stored item, plus every group peer; when federating,
// remote contacts too, by bare JID (presenceToAccount reaches them). r.mu
// is held.
func (r *rosters) related(local string, ro *roster, want func(subscription) bool) []string {
	out := r.s.accounts.GroupPeers(local)
	for c, it := range ro.items {
		if want(it.Sub) {
			if l, ok := r.localName(c); ok {
				out = append(out, l)
			} else if r.s.fed != nil && r.s.fed.remote(c) {
				out = append(out, c)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// maySee reports whether viewer may learn about target's account: itself,
// a subscription to its presence, or a shared group.
func (r *rosters) maySee(viewer, target string) bool {
	if viewer == target || r.s.accounts.Peers(viewer, target) {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	it := r.get(viewer).items[r.s.accounts.JID(target)]
	return it != nil && it.Sub.hasTo()
}

// hasSubscriber reports whether contact, a remote bare JID, receives
// local's presence: a remote account of its groups, or a subscription
// local approved.
func (r *rosters) hasSubscriber(local, contact string) bool {
	if r.s.accounts.Peers(local, contact) {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	it := r.get(local).items[contact]
	return it != nil && it.Sub.hasFrom()
}

func appendItem(b []byte, v viewItem) []byte {
	b = append(b, "<item"...)
	b = xmlesc.Attr(b, "jid", v.jid)
	if v.name != "" {
		b = xmlesc.Attr(b, "name", v.name)
	}
	b = xmlesc.Attr(b, "subscription", v.sub.String())
	if v.ask {
		b = append(b, " ask='subscribe'"...)
	}
	if len(v.groups) == 0 {
		return append(b, "/>"...)
	}
	b = append(b, '>')
	for _, g := range v.groups {
		b = append(b, "<group>"...)
		b = xmlesc.Text(b, g)
		b = append(b, "</group>"...)
	}
	return append(b, "</item>"...)
}

// push sends a roster push for one contact to every resource of local that
// asked for the roster (RFC 6121 §2.1.6), once the change in progress is
// durable. removed pushes subscription 'remove'. r.mu is held.
func (r *rosters) push(local string, ro *roster, contact string) {
	sessions := r.s.router.sessions(local)
	if len(sessions) == 0 {
		return
	}
	item := []byte("<item")
	if v, ok := r.viewOf(local, ro, contact); ok {
		item = appendItem(item[:0], v)
	} else {
		item = xmlesc.Attr(item, "jid", contact)
		item = append(item, " subscription='remove'/>"...)
	}
	ver := r.version(ro)
	r.later(func() { r.sendPush(sessions, item, ver) })
}

// sendPush sends a roster push of item to the sessions that asked for the
// roster.
func (r *rosters) sendPush(sessions []*session, item []byte, ver string) {
	for _, ss := range sessions {
		ss.pmu.Lock()
		interested := ss.interested
		ss.pmu.Unlock()
		if !interested {
			continue
		}
		b := []byte("<iq type='set'")
		b = append(b, ss.toAttr...)
		b = xmlesc.Attr(b, "id", newID("push-"))
		b = append(b, "><query xmlns='"+nsRoster+"'"...)
		b = xmlesc.Attr(b, "ver", ver)
		b = append(b, '>')
		b = append(b, item...)
		b = append(b, "</query></iq>"...)
		ss.send(b)
	}
}

// Bounds on what one account may keep in its roster.
const (
	maxRosterItems = 1000 // stored items, beside those shared groups give
	maxItemGroups  = 64
	maxRosterText  = 1024 // characters in an item name or a group name
	maxItemBytes   = 4096 // bytes of an item's JID, name and groups together
)

// rosterSet is the payload of a roster set.
type rosterSet struct {
	Query struct {
		Items []struct {
			JID          string   `xml:"jid,attr"`
			Name         string   `xml:"name,attr"`
			Subscription string   `xml:"subscription,attr"`
			Groups       []string `xml:"group"`
		} `xml:"jabber:iq:roster item"`
	} `xml:"jabber:iq:roster query"`
}

// handleIQ answers jabber:iq:roster get and set (RFC 6121 §2).
func (r *rosters) handleIQ(ss *session, req *iqRequest) {
	if req.to.kind == addrServer || req.to.kind == addrBare && string(req.to.local) != ss.local {
		ss.send(errorReply(ss, req.el, errForbidden))
		return
	}
	if !req.set {
		r.handleGet(ss, req)
		return
	}
	var q rosterSet
	if err := xml.Unmarshal(req.el.Raw, &q); err != nil || len(q.Query.Items) != 1 {
		ss.send(errorReply(ss, req.el, errBadRequest.withText("a roster set has exactly one item")))
		return
	}
	in := q.Query.Items[0]
	contact, err := jid.Parse(in.JID)
	if err != nil {
		ss.send(errorReply(ss, req.el, errBadRequest.withText("invalid item jid")))
		return
	}
	c := contact.Bare().String()
	if c == ss.bare {
		ss.send(errorReply(ss, req.el, errNotAllowed.withText("you cannot add yourself")))
		return
	}
	if in.Subscription == "remove" {
		if e, ok := r.remove(ss, c); !ok {
			ss.send(errorReply(ss, req.el, e))
			return
		}
		ss.send(iqResult(ss, req.el, nil))
		return
	}
	if size := len(c) + len(in.Name) + lenAll(in.Groups); size > maxItemBytes {
		ss.send(errorReply(ss, req.el, errNotAcceptable.withText(fmt.Sprintf("roster item too large: %d bytes of JID, name and groups, at most %d", size, maxItemBytes))))
		return
	}
	if utf8.RuneCountInString(in.Name) > maxRosterText {
		ss.send(errorReply(ss, req.el, errNotAcceptable.withText("item name too long")))
		return
	}
	if len(in.Groups) > maxItemGroups {
		ss.send(errorReply(ss, req.el, errNotAcceptable.withText("too many groups")))
		return
	}
	groups := make([]string, 0, len(in.Groups))
	for _, g := range in.Groups {
		switch {
		case g == "" || utf8.RuneCountInString(g) > maxRosterText:
			// RFC 6121 §2.3.3: an empty or too long group is not-acceptable.
			ss.send(errorReply(ss, req.el, errNotAcceptable.withText("empty or too long group name")))
			return
		case slices.Contains(groups, g):
			ss.send(errorReply(ss, req.el, errBadRequest.withText("duplicate group")))
			return
		}
		groups = append(groups, g)
	}
	r.mu.Lock()
	ro := r.get(ss.local)
	it := rosterItem{JID: c}
	if old := ro.items[c]; old != nil {
		it = *old
	} else if len(ro.items) >= maxRosterItems {
		r.mu.Unlock()
		ss.send(errorReply(ss, req.el, stanzaErr{"wait", "resource-constraint", "the roster is full"}))
		return
	}
	it.Name, it.Groups, it.Hidden = in.Name, groups, false
	r.save(ss.local, ro, &it, false)
	r.push(ss.local, ro, c)
	if err := r.unlock(); err != nil {
		ss.send(errorReply(ss, req.el, writeError(err)))
		return
	}
	ss.send(iqResult(ss, req.el, nil))
}

func (r *rosters) handleGet(ss *session, req *iqRequest) {
	ss.pmu.Lock()
	ss.interested = true
	ss.pmu.Unlock()
	r.mu.Lock()
	ro := r.get(ss.local)
	ver := r.version(ro)
	if req.payload.Attr("ver") == ver {
		// RFC 6121 §2.6.3: nothing changed; changes would come as pushes.
		r.mu.Unlock()
		ss.send(iqResult(ss, req.el, nil))
		return
	}
	b := []byte("<query xmlns='" + nsRoster + "'")
	b = xmlesc.Attr(b, "ver", ver)
	b = append(b, '>')
	for _, v := range r.view(ss.local, ro) {
		b = appendItem(b, v)
	}
	r.mu.Unlock()
	b = append(b, "</query>"...)
	ss.send(iqResult(ss, req.el, b))
}

// remove deletes a contact and cancels the subscriptions both ways
// (RFC 6121 §2.5.2).
func (r *rosters) remove(ss *session, c string) (stanzaErr, bool) {
	r.mu.Lock()
	ro := r.get(ss.local)
	it := ro.items[c]
	if v, ok := r.viewOf(ss.local, ro, c); ok && v.managed {
		r.mu.Unlock()
		return errNotAllowed.withText("this contact comes from a shared group"), false
	}
	if it == nil || it.Hidden {
		r.mu.Unlock()
		return errItemNotFound, false
	}
	wasTo, wasFrom := it.Sub.hasTo() || it.Ask, it.Sub.hasFrom() || it.In
	r.save(ss.local, ro, it, true)
	r.push(ss.local, ro, c)
	if contact, ok := r.localName(c); ok && r.s.accounts.Exists(contact) {
		if wasTo {
			r.inbound(contact, ss.bare, "unsubscribe", nil)
		}
		if wasFrom {
			r.inbound(contact, ss.bare, "unsubscribed", nil)
			r.later(func() { r.s.sendPresenceOf(ss.local, contact, false) })
		}
	}
	if err := r.unlock(); err != nil {
		return writeError(err), false
	}
	return stanzaErr{}, true
}

func lenAll(ss []string) int {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	return n
}
