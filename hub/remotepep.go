package hub

import (
	"strings"
	"sync"

	"github.com/geohub/geohub/hub/internal/wire"
	"github.com/geohub/geohub/internal/xmlesc"
)

// PEP for contacts on other servers (XEP-0163 §4 over federation). A
// remote resource that receives an account's presence (a remote account
// of its groups, or a contact the account approved) and sends the account
// available presence with XEP-0115 caps is asked, from the account's bare
// JID as Prosody does, what the caps stand for; the answer is verified and
// cached as a local client's. The resource then gets the last items of the
// account's nodes it asked <node>+notify for, and every new one, until it
// goes unavailable. Remote resources that do not receive the account's
// presence are neither asked nor sent anything.

// maxRemoteResources bounds the remote resources followed, and
// maxContactResources those of one contact: a peer can announce any
// number of them.
const (
	maxRemoteResources  = 4096
	maxContactResources = 32
)

// remotePEP holds what the hub knows of remote resources' presence and
// capabilities.
type remotePEP struct {
	mu   sync.Mutex
	res  map[string]map[string]*remoteResource // by bare JID, then full JID
	n    int
	asks map[string]remoteAsk // disco#info questions by id
}

// remoteResource is one remote resource's available presence to local
// accounts.
type remoteResource struct {
	owners   map[string]bool // local accounts that have its available presence
	key      string          // the caps hash it announced last ("hash ver")
	features features        // what key stands for; nil until verified
	askID    string          // the question about key in flight, if any
}

// remoteAsk is a caps question to a remote resource.
type remoteAsk struct{ full, bare, key string }

// find returns the entry of a remote resource; create makes it when there
// is room. rp.mu is held.
func (rp *remotePEP) find(bare, full string, create bool) *remoteResource {
	if r := rp.res[bare][full]; r != nil || !create || rp.n >= maxRemoteResources || len(rp.res[bare]) >= maxContactResources {
		return r
	}
	if rp.res == nil {
		rp.res, rp.asks = map[string]map[string]*remoteResource{}, map[string]remoteAsk{}
	}
	if rp.res[bare] == nil {
		rp.res[bare] = map[string]*remoteResource{}
	}
	r := &remoteResource{owners: map[string]bool{}}
	rp.res[bare][full] = r
	rp.n++
	return r
}

// gone forgets that local has the presence of a remote resource.
func (rp *remotePEP) gone(bare, full, local string) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	r := rp.res[bare][full]
	if r == nil {
		return
	}
	delete(r.owners, local)
	if len(r.owners) > 0 {
		return
	}
	delete(rp.asks, r.askID)
	delete(rp.res[bare], full)
	if len(rp.res[bare]) == 0 {
		delete(rp.res, bare)
	}
	rp.n--
}

// wants reports, for pubsub, whether a remote resource's verified
// capabilities include a feature.
func (rp *remotePEP) wants(bare, full string) func(string) bool {
	return func(feature string) bool {
		rp.mu.Lock()
		defer rp.mu.Unlock()
		r := rp.res[bare][full]
		return r != nil && r.features[feature]
	}
}

// interested returns the resources of the remote bare JID that have
// local's presence and whose capabilities include feature.
func (rp *remotePEP) interested(bare, local, feature string) []string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	var out []string
	for full, r := range rp.res[bare] {
		if r.owners[local] && r.features[feature] {
			out = append(out, full)
		}
	}
	return out
}

// notePresence takes presence a remote resource (ss) sent the local
// account local: available presence from one that receives local's
// presence is remembered with its caps (asked about when new), and the
// first from it, or with new caps, brings the last items it wants.
func (f *federation) notePresence(ss *session, el *wire.Element, local string, available bool) {
	s := f.s
	rp := &s.remotePEP
	if !available || !s.rosters.hasSubscriber(local, ss.bare) {
		rp.gone(ss.bare, ss.full, local)
		return
	}
	algo, node, ver, hasCaps := capsOf(el)
	key := ""
	var feats features
	known := true
	if hasCaps {
		key = algo + " " + ver
		feats, known = s.caps.get(key)
	}
	rp.mu.Lock()
	r := rp.find(ss.bare, ss.full, true)
	if r == nil {
		rp.mu.Unlock()
		return
	}
	first, changed := !r.owners[local], r.key != key
	r.owners[local] = true
	if changed {
		delete(rp.asks, r.askID)
		r.key, r.features, r.askID = key, feats, ""
	}
	var id string
	if !known && r.askID == "" {
		id = newID("caps-")
		r.askID = id
		rp.asks[id] = remoteAsk{full: ss.full, bare: ss.bare, key: key}
	}
	rp.mu.Unlock()
	owner := s.accounts.JID(local)
	if known && len(feats) > 0 && (first || changed) {
		s.pubsub.PEPAvailable(ss.full, []string{owner}, rp.wants(ss.bare, ss.full))
	}
	if id == "" {
		return
	}
	q := []byte("<iq type='get'")
	q = xmlesc.Attr(q, "from", owner)
	q = append(q, ss.toAttr...)
	q = xmlesc.Attr(q, "id", id)
	q = append(q, "><query xmlns='"+nsDiscoInfo+"'"...)
	q = xmlesc.Attr(q, "node", node+"#"+ver)
	ss.send(append(q, "/></iq>"...))
}

// capsAnswer takes a remote resource's answer to a caps question; it
// reports false for any other IQ. A verified answer brings the resource
// the last items it wants of every account whose presence it sent.
func (f *federation) capsAnswer(ss *session, el *wire.Element) bool {
	s := f.s
	rp := &s.remotePEP
	id := string(el.Value(el.ID))
	rp.mu.Lock()
	q, ok := rp.asks[id]
	if !ok || q.full != ss.full {
		rp.mu.Unlock()
		return false
	}
	delete(rp.asks, id)
	if r := rp.find(q.bare, q.full, false); r != nil && r.askID == id {
		r.askID = ""
	}
	rp.mu.Unlock()
	if string(el.Value(el.Type)) != "result" {
		return true
	}
	algo, ver, _ := strings.Cut(q.key, " ")
	feats, ok := verifyCaps(el.Raw, algo, ver)
	if !ok {
		s.log.Info("capabilities hash does not verify", "jid", ss.full, "ver", ver)
		return true
	}
	s.caps.put(q.key, feats)
	rp.mu.Lock()
	r := rp.find(q.bare, q.full, false)
	if r == nil || r.key != q.key {
		rp.mu.Unlock()
		return true
	}
	r.features = feats
	owners := make([]string, 0, len(r.owners))
	for o := range r.owners {
		owners = append(owners, o)
	}
	rp.mu.Unlock()
	for i, o := range owners {
		owners[i] = s.accounts.JID(o)
	}
	s.pubsub.PEPAvailable(q.full, owners, rp.wants(q.bare, q.full))
	return true
}
