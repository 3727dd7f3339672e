package pubsub

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/tidwall/buntdb"
)

// Namespaces of XEP-0060.
const (
	NS      = "http://jabber.org/protocol/pubsub"
	NSEvent = NS + "#event"
	NSOwner = NS + "#owner"
)

// PayloadHandler checks an item payload in the namespace it is registered
// for, before the item is stored. It returns a write to commit in the same
// transaction as the item and a function told the commit's outcome (either
// may be nil), or an error that refuses the publish with bad-request and the
// error's text: then nothing is stored or sent.
type PayloadHandler func(publisher, source string, payload []byte, now time.Time) (store.Write, func(error), error)

// Directory is what pubsub needs from the XMPP server: presence
// subscriptions, rosters, capabilities, and delivery.
type Directory interface {
	// PresenceSubscribed reports whether contact (a bare JID) receives the
	// presence of owner (a bare JID at this server).
	PresenceSubscribed(owner, contact string) bool
	// InRosterGroups reports whether owner's roster puts contact in one of
	// groups.
	InRosterGroups(owner, contact string, groups []string) bool
	// Interested returns the full JIDs of the available resources of owner
	// and of those who receive owner's presence whose entity capabilities
	// (XEP-0115) include feature.
	Interested(owner, feature string) []string
	// Deliver routes a complete stanza to the full or bare JID to, as the
	// server routes messages.
	Deliver(to string, stanza []byte)
}

// Config configures the service.
type Config struct {
	Host               string // the service's JID, pubsub.<domain>
	DevicesCreateNodes bool   // let devices create nodes on the service
	Logger             *slog.Logger
}

// Service is the pubsub service and every account's PEP service.
type Service struct {
	cfg      Config
	log      *slog.Logger
	commit   *store.Committer
	accounts *devices.Store
	dir      Directory
	handlers map[string]PayloadHandler

	mu    sync.RWMutex
	nodes map[string]map[string]*Node // service JID -> node name -> node
	seq   atomic.Uint64               // item order across the process
	ids   atomic.Uint64               // stanza ids
}

// New loads the stored nodes. Writes go through commit.
func New(cfg Config, db *buntdb.DB, commit *store.Committer, accounts *devices.Store, dir Directory) (*Service, error) {
	nodes, seq, err := load(db)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{cfg: cfg, log: cfg.Logger, commit: commit, accounts: accounts, dir: dir,
		handlers: map[string]PayloadHandler{}, nodes: nodes}
	s.seq.Store(seq)
	return s, nil
}

// Handle registers the handler for payloads in namespace ns. Call it before
// the service is used.
func (s *Service) Handle(ns string, h PayloadHandler) { s.handlers[ns] = h }

// Host is the service's JID.
func (s *Service) Host() string { return s.cfg.Host }

// Request is an IQ get or set for the pubsub service or a PEP service.
type Request struct {
	From string // the sender's full JID, as the server bound it
	To   string // the service: Host, or an account's bare JID for PEP
	NoTo bool   // the IQ had no to (a request to the sender's own PEP service)
	ID   string
	Set  bool
	Raw  []byte // the whole IQ
}

func (r *Request) fromBare() string {
	if i := strings.IndexByte(r.From, '/'); i >= 0 {
		return r.From[:i]
	}
	return r.From
}

func (r *Request) pep() bool { return strings.IndexByte(r.To, '@') >= 0 }

// result builds the IQ result carrying payload (which may be empty).
func (r *Request) result(payload []byte) []byte {
	b := make([]byte, 0, 96+len(payload))
	b = append(b, "<iq type='result'"...)
	if !r.NoTo {
		b = xmlesc.Attr(b, "from", r.To)
	}
	b = xmlesc.Attr(b, "to", r.From)
	b = xmlesc.Attr(b, "id", r.ID)
	if len(payload) == 0 {
		return append(b, "/>"...)
	}
	b = append(b, '>')
	b = append(b, payload...)
	return append(b, "</iq>"...)
}

func (r *Request) error(e *Error) []byte {
	b := make([]byte, 0, 256)
	b = append(b, "<iq type='error'"...)
	if !r.NoTo {
		b = xmlesc.Attr(b, "from", r.To)
	}
	b = xmlesc.Attr(b, "to", r.From)
	b = xmlesc.Attr(b, "id", r.ID)
	b = append(b, '>')
	b = e.appendTo(b)
	return append(b, "</iq>"...)
}

// iqBody is a decoded pubsub IQ.
type iqBody struct {
	PubSub *pubsubEl `xml:"pubsub"`
}

type itemEl struct {
	ID      string `xml:"id,attr"`
	Payload []byte `xml:",innerxml"`
}

type nodeAttr struct {
	Node string `xml:"node,attr"`
}

type pubsubEl struct {
	XMLName   xml.Name
	Create    *nodeAttr `xml:"create"`
	Configure *struct {
		Node string `xml:"node,attr"`
		Form *form  `xml:"jabber:x:data x"`
	} `xml:"configure"`
	Publish *struct {
		Node  string   `xml:"node,attr"`
		Items []itemEl `xml:"item"`
	} `xml:"publish"`
	PublishOptions *struct {
		Form *form `xml:"jabber:x:data x"`
	} `xml:"publish-options"`
	Retract *struct {
		Node   string   `xml:"node,attr"`
		Notify string   `xml:"notify,attr"`
		Items  []itemEl `xml:"item"`
	} `xml:"retract"`
	Subscribe *struct {
		Node string `xml:"node,attr"`
		JID  string `xml:"jid,attr"`
	} `xml:"subscribe"`
	Unsubscribe *struct {
		Node  string `xml:"node,attr"`
		JID   string `xml:"jid,attr"`
		SubID string `xml:"subid,attr"`
	} `xml:"unsubscribe"`
	Options *nodeAttr `xml:"options"`
	Items   *struct {
		Node     string   `xml:"node,attr"`
		MaxItems string   `xml:"max_items,attr"`
		Items    []itemEl `xml:"item"`
	} `xml:"items"`
	Subscriptions *struct {
		Node string `xml:"node,attr"`
		List []struct {
			JID          string `xml:"jid,attr"`
			Subscription string `xml:"subscription,attr"`
			SubID        string `xml:"subid,attr"`
		} `xml:"subscription"`
	} `xml:"subscriptions"`
	Affiliations *struct {
		Node string `xml:"node,attr"`
		List []struct {
			JID         string `xml:"jid,attr"`
			Affiliation string `xml:"affiliation,attr"`
		} `xml:"affiliation"`
	} `xml:"affiliations"`
	Default *nodeAttr `xml:"default"`
	Delete  *nodeAttr `xml:"delete"`
	Purge   *nodeAttr `xml:"purge"`
}

// HandleIQ answers a pubsub IQ (namespaces pubsub and pubsub#owner) for the
// service or a PEP service. reply is called once, possibly from another
// goroutine once the request's writes are durable.
func (s *Service) HandleIQ(r Request, reply func([]byte)) {
	var body iqBody
	if err := xml.Unmarshal(r.Raw, &body); err != nil || body.PubSub == nil {
		reply(r.error(errBadRequest.with("not a pubsub request")))
		return
	}
	ps := body.PubSub
	owner := ps.XMLName.Space == NSOwner
	var e *Error
	switch {
	case !r.Set && !owner && ps.Items != nil:
		e = s.items(&r, ps, reply)
	case !r.Set && !owner && ps.Subscriptions != nil:
		e = s.ownSubscriptions(&r, ps, reply)
	case !r.Set && !owner && ps.Affiliations != nil:
		e = s.ownAffiliations(&r, ps, reply)
	case r.Set && !owner && ps.Publish != nil:
		e = s.publish(&r, ps, reply)
	case r.Set && !owner && ps.Create != nil:
		e = s.create(&r, ps, reply)
	case r.Set && !owner && ps.Subscribe != nil:
		e = s.subscribe(&r, ps, reply)
	case r.Set && !owner && ps.Unsubscribe != nil:
		e = s.unsubscribe(&r, ps, reply)
	case r.Set && !owner && ps.Retract != nil:
		e = s.retract(&r, ps, reply)
	case ps.Options != nil && !owner:
		e = unsupported("subscription-options")
	case owner && ps.Configure != nil:
		e = s.configure(&r, ps, reply)
	case owner && !r.Set && ps.Default != nil:
		e = s.defaults(&r, reply)
	case owner && r.Set && ps.Delete != nil:
		e = s.deleteNode(&r, ps.Delete.Node, reply)
	case owner && r.Set && ps.Purge != nil:
		e = s.purge(&r, ps.Purge.Node, reply)
	case owner && ps.Subscriptions != nil:
		e = s.manageSubscriptions(&r, ps, reply)
	case owner && ps.Affiliations != nil:
		e = s.manageAffiliations(&r, ps, reply)
	default:
		e = errBadRequest.with("unsupported pubsub request")
	}
	if e != nil {
		reply(r.error(e))
	}
}

// node returns a node; s.mu is held.
func (s *Service) node(service, name string) *Node { return s.nodes[service][name] }

func (s *Service) addNode(n *Node) {
	if s.nodes[n.Service] == nil {
		s.nodes[n.Service] = map[string]*Node{}
	}
	s.nodes[n.Service][n.Name] = n
}

// owners returns the entities whose presence or roster decides access to n:
// the account for a PEP node, the node's owners on the service.
func (n *Node) accessOwners() []string {
	if strings.IndexByte(n.Service, '@') >= 0 {
		return []string{n.Service}
	}
	return n.owners()
}

// canRead says whether the bare JID may subscribe to n and read its items.
// s.mu is held (for reading at least).
func (s *Service) canRead(n *Node, who string) *Error {
	switch aff := n.affiliation(who); {
	case aff == Outcast:
		return &errForbidden
	case aff == Owner || aff == Publisher || who == n.Service:
		return nil
	}
	switch n.Config.AccessModel {
	case AccessOpen:
		return nil
	case AccessPresence:
		for _, o := range n.accessOwners() {
			if s.dir.PresenceSubscribed(o, who) {
				return nil
			}
		}
		return &errPresenceRequired
	case AccessRoster:
		for _, o := range n.accessOwners() {
			if s.dir.InRosterGroups(o, who, n.Config.RosterGroupsAllowed) {
				return nil
			}
		}
		return &errNotInRosterGroup
	case AccessWhitelist:
		if n.affiliation(who) == Member {
			return nil
		}
		return &errClosedNode
	}
	return &errForbidden
}

// canPublish says whether the bare JID may publish to n.
func (n *Node) canPublish(who string) *Error {
	switch n.affiliation(who) {
	case Outcast:
		return &errForbidden
	case Owner, Publisher:
		return nil
	}
	if who == n.Service {
		return nil
	}
	switch n.Config.PublishModel {
	case PublishOpen:
		return nil
	case PublishSubscribers:
		if n.subscribedBare(who) {
			return nil
		}
	}
	return &errForbidden
}

// isOwner says whether the bare JID owns n.
func (n *Node) isOwner(who string) bool {
	return who == n.Service || n.affiliation(who) == Owner
}

func randomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Service) stanzaID() string { return "ps-" + strconv.FormatUint(s.ids.Add(1), 36) }

// committed reports a failed commit to the log and the requester.
func (s *Service) committed(r *Request, reply func([]byte), err error, ok func()) {
	if err != nil {
		s.log.Error("pubsub write failed", "service", r.To, "err", err)
		reply(r.error(&errInternal))
		return
	}
	ok()
}
