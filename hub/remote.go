package hub

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/geohub/geohub/hub/internal/wire"
	"github.com/geohub/geohub/internal/xmlesc"
	"mellium.im/xmpp/jid"
)

// Remote presence: an account that is online through another transport
// (a tracker the MQTT bridge hears) shows as one available resource, so
// that its XMPP watchers see it as they see a device with a session. It is
// not a session: nothing is routed to it. A message to its full JID is
// handled as one to a full JID nobody is bound to (RFC 6121 §8.5.3.2.1: a
// chat goes to the bare JID, which stores it offline; other types get
// service-unavailable), and so is an IQ (service-unavailable).

// RemoteResource is the resource under which the MQTT bridge shows its
// trackers. A client asking to bind it gets a generated resource instead.
const RemoteResource = "mqtt"

// remotes holds the remote resources of accounts.
type remotes struct {
	// set serializes SetRemotePresence and the forgetting of a removed
	// account, so that their broadcasts go out in the order of the state
	// changes. It is taken before mu.
	set sync.Mutex
	// mu guards res. Readers hold it while they queue a remote resource's
	// presence to a session, as presenceTo holds a session's pmu: a change
	// made after they looked is broadcast after what they queued.
	mu  sync.Mutex
	res map[string]map[string]*remoteRes // by account, then resource
}

// remoteRes is one remote resource's current presence.
type remoteRes struct {
	el       wire.Element // <presence> without from or to
	fromAttr []byte       // from='account@domain/resource'
}

// SetRemotePresence makes resource of the account name available (with
// status as its <status/>, if not empty) or unavailable, for an account
// that is online through a transport other than XMPP. The account's
// presence subscribers and its own available resources hear it; probes
// are answered with it, and resources that become available later learn
// it, as for a session's presence. Setting the same presence again sends
// nothing. It does not count the account online in the account store:
// the caller does that. It is an error for an unknown account or an
// invalid resource; unavailable for a resource that is not available is a
// no-op. Removing the account makes its remote resources unavailable.
func (s *Server) SetRemotePresence(name, resource string, available bool, status string) error {
	r := &s.remote
	r.set.Lock()
	defer r.set.Unlock()
	j, err := jid.New(name, s.domain, resource)
	if err != nil || resource == "" || j.Localpart() != name {
		return fmt.Errorf("hub: remote presence: bad account %q or resource %q", name, resource)
	}
	resource = j.Resourcepart()
	var el wire.Element
	var fromAttr []byte
	if available {
		if !s.accounts.Exists(name) {
			return errors.New("hub: remote presence: no account " + name)
		}
		raw := []byte("<presence>")
		if status != "" {
			raw = xmlesc.Text(append(raw, "<status>"...), status)
			raw = append(raw, "</status>"...)
		}
		raw = append(raw, "</presence>"...)
		parsed, _, err := wire.NewScanner(wire.Limits{}, "jabber:client").Next(raw)
		if err != nil {
			return fmt.Errorf("hub: remote presence: %w", err)
		}
		el = *parsed
	} else {
		el = unavailableEl
	}
	r.mu.Lock()
	cur := r.res[name][resource]
	switch {
	case available && cur != nil && string(cur.el.Raw) == string(el.Raw):
		r.mu.Unlock()
		return nil
	case available:
		fromAttr = xmlesc.Attr(nil, "from", j.String())
		if r.res == nil {
			r.res = map[string]map[string]*remoteRes{}
		}
		if r.res[name] == nil {
			r.res[name] = map[string]*remoteRes{}
		}
		r.res[name][resource] = &remoteRes{el: el, fromAttr: fromAttr}
	case cur == nil:
		r.mu.Unlock()
		return nil
	default:
		fromAttr = cur.fromAttr
		delete(r.res[name], resource)
		if len(r.res[name]) == 0 {
			delete(r.res, name)
		}
	}
	r.mu.Unlock()

	s.rosters.mu.Lock()
	subscribers := s.rosters.related(name, s.rosters.get(name), subscription.hasFrom)
	s.rosters.mu.Unlock()
	subscribers = s.unblocked(name, resource, subscribers)
	s.presenceToAccount(name, &el, fromAttr)
	for _, sub := range subscribers {
		s.presenceToAccount(sub, &el, fromAttr)
	}
	return nil
}

// remotePresenceTo sends dst the presence of every remote resource of
// the account local: available, or (available false) unavailable.
func (s *Server) remotePresenceTo(local string, dst *session, available bool) {
	r := &s.remote
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rr := range r.res[local] {
		if available {
			dst.sendAddressed(&rr.el, rr.fromAttr, dst.toAttr)
		} else {
			el := unavailableEl
			dst.sendAddressed(&el, rr.fromAttr, dst.toAttr)
		}
	}
}

// forgetRemote drops the remote resources of a removed account, telling
// its presence subscribers (peers: its group peers before the removal,
// which the account store no longer knows; and its roster's) and its own
// resources that they are gone.
func (s *Server) forgetRemote(name string, peers []string) {
	r := &s.remote
	r.set.Lock()
	defer r.set.Unlock()
	r.mu.Lock()
	gone := r.res[name]
	delete(r.res, name)
	r.mu.Unlock()
	if len(gone) == 0 {
		return
	}
	s.rosters.mu.Lock()
	subscribers := s.rosters.related(name, s.rosters.get(name), subscription.hasFrom)
	s.rosters.mu.Unlock()
	subscribers = append(subscribers, peers...)
	slices.Sort(subscribers)
	subscribers = slices.Compact(subscribers)
	el := unavailableEl
	for _, rr := range gone {
		s.presenceToAccount(name, &el, rr.fromAttr)
		for _, p := range subscribers {
			s.presenceToAccount(p, &el, rr.fromAttr)
		}
	}
}
