package pubsub

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/internal/store"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
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
// may be nil), or an error that refuses the publish: a *Error as it is (such
// as policy-violation for a rate), any other with bad-request and the
// error's text. Then nothing is stored or sent.
type PayloadHandler func(publisher, source string, payload *xmlnode.Node, now time.Time) (store.Write, func(error), error)

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
	// Resources returns the full JIDs of the account's available resources
	// that messages to its bare JID reach.
	Resources(bare string) []string
	// Deliver routes a complete stanza to the full or bare JID to, as the
	// server routes messages. latest, when not empty, names the state the
	// stanza carries (an item of one node from one publisher): a newer
	// stanza with the same latest may supersede it while it waits to be
	// written to a recipient that is behind.
	Deliver(to string, stanza []byte, latest string)
}

// Config configures the service.
type Config struct {
	Host               string // the service's JID, pubsub.<domain>
	DevicesCreateNodes bool   // let devices create nodes on the service
	Queue              int    // notifications waiting for delivery before more are dropped; 0 = 4096
	Logger             *slog.Logger
}

// Service is the pubsub service and every account's PEP service.
type Service struct {
	cfg      Config
	log      *slog.Logger
	commit   *store.Committer
	accounts devices.Directory
	dir      Directory
	handlers map[string]PayloadHandler
	reserved []string // node name prefixes kept for the service (Reserve)

	mu    sync.RWMutex
	nodes map[string]map[string]*Node // service JID -> node name -> node
	seq   atomic.Uint64               // item order across the process
	ids   atomic.Uint64               // stanza ids

	deliveries chan event // to the delivery goroutine
	delivered  chan struct{}
	dropped    atomic.Uint64 // notifications dropped because deliveries was full
	repeats    atomic.Uint64 // publishes answered as repeats: repeat.go
}

// New loads the stored nodes. Writes go through commit.
func New(cfg Config, db *buntdb.DB, commit *store.Committer, accounts devices.Directory, dir Directory) (*Service, error) {
	nodes, seq, err := load(db)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 4096
	}
	s := &Service{cfg: cfg, log: cfg.Logger, commit: commit, accounts: accounts, dir: dir,
		handlers: map[string]PayloadHandler{}, nodes: nodes,
		deliveries: make(chan event, cfg.Queue), delivered: make(chan struct{})}
	s.seq.Store(seq)
	go s.deliver()
	return s, nil
}

// Close stops delivering notifications once those queued are out. Call it
// after the writer has stopped.
func (s *Service) Close() {
	close(s.deliveries)
	<-s.delivered
}

// Stats are the service's running counts.
type Stats struct {
	NotificationsDropped uint64 // notifications not sent because the delivery queue was full
	RepeatedPublishes    uint64 // publishes of an item the node already took, answered without a second (repeat.go)
}

// Stats returns the counts so far.
func (s *Service) Stats() Stats {
	return Stats{NotificationsDropped: s.dropped.Load(), RepeatedPublishes: s.repeats.Load()}
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
	IQ   *xmlnode.Node // the whole IQ, read
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

type itemEl struct {
	ID   string
	node *xmlnode.Node
}

type nodeAttr struct{ Node string }

type configureEl struct {
	Node string
	Form *form
}

type itemsEl struct {
	Node, MaxItems, Notify string
	Items                  []itemEl
}

type subscribeEl struct{ Node, JID, SubID string }

type subscriptionEl struct{ JID, Subscription, SubID string }

type subscriptionsEl struct {
	Node string
	List []subscriptionEl
}

type affiliationEl struct{ JID, Affiliation string }

type affiliationsEl struct {
	Node string
	List []affiliationEl
}

// pubsubEl is a pubsub request: the <pubsub/> element, read.
type pubsubEl struct {
	owner          bool // in the pubsub#owner namespace
	Create         *nodeAttr
	Configure      *configureEl
	Publish        *itemsEl
	PublishOptions *configureEl
	Retract        *itemsEl
	Subscribe      *subscribeEl
	Unsubscribe    *subscribeEl
	Options        *nodeAttr
	Items          *itemsEl
	Subscriptions  *subscriptionsEl
	Affiliations   *affiliationsEl
	Default        *nodeAttr
	Delete         *nodeAttr
	Purge          *nodeAttr
}

// readPubSub reads the <pubsub/> element of an IQ, or returns nil.
func readPubSub(iq *xmlnode.Node) *pubsubEl {
	var ps *xmlnode.Node
	for _, c := range iq.Children {
		if c.Local == "pubsub" && (c.Space == NS || c.Space == NSOwner) {
			ps = c
			break
		}
	}
	if ps == nil {
		return nil
	}
	el := &pubsubEl{owner: ps.Space == NSOwner}
	items := func(c *xmlnode.Node) *itemsEl {
		e := &itemsEl{Node: c.Attr("node"), MaxItems: c.Attr("max_items"), Notify: c.Attr("notify")}
		for _, it := range c.Children {
			if it.Local == "item" && it.Space == ps.Space {
				e.Items = append(e.Items, itemEl{ID: it.Attr("id"), node: it})
			}
		}
		return e
	}
	for _, c := range ps.Children {
		if c.Space != ps.Space {
			continue
		}
		node := &nodeAttr{Node: c.Attr("node")}
		switch c.Local {
		case "create":
			el.Create = node
		case "configure":
			el.Configure = &configureEl{Node: c.Attr("node"), Form: readForm(c)}
		case "publish-options":
			el.PublishOptions = &configureEl{Form: readForm(c)}
		case "publish":
			el.Publish = items(c)
		case "retract":
			el.Retract = items(c)
		case "items":
			el.Items = items(c)
		case "subscribe":
			el.Subscribe = &subscribeEl{Node: c.Attr("node"), JID: c.Attr("jid")}
		case "unsubscribe":
			el.Unsubscribe = &subscribeEl{Node: c.Attr("node"), JID: c.Attr("jid"), SubID: c.Attr("subid")}
		case "options":
			el.Options = node
		case "subscriptions":
			el.Subscriptions = &subscriptionsEl{Node: c.Attr("node")}
			for _, x := range c.Children {
				if x.Local == "subscription" {
					el.Subscriptions.List = append(el.Subscriptions.List,
						subscriptionEl{JID: x.Attr("jid"), Subscription: x.Attr("subscription"), SubID: x.Attr("subid")})
				}
			}
		case "affiliations":
			el.Affiliations = &affiliationsEl{Node: c.Attr("node")}
			for _, x := range c.Children {
				if x.Local == "affiliation" {
					el.Affiliations.List = append(el.Affiliations.List, affiliationEl{JID: x.Attr("jid"), Affiliation: x.Attr("affiliation")})
				}
			}
		case "default":
			el.Default = node
		case "delete":
			el.Delete = node
		case "purge":
			el.Purge = node
		}
	}
	return el
}

// readForm reads the data form inside c, or returns nil.
func readForm(c *xmlnode.Node) *form {
	x := c.Child("jabber:x:data", "x")
	if x == nil {
		return nil
	}
	f := &form{Type: x.Attr("type")}
	for _, fl := range x.Children {
		if fl.Local != "field" || fl.Space != "jabber:x:data" {
			continue
		}
		field := field{Var: fl.Attr("var"), Type: fl.Attr("type"), Label: fl.Attr("label")}
		for _, v := range fl.Children {
			if v.Local == "value" {
				field.Values = append(field.Values, v.Text)
			}
		}
		f.Fields = append(f.Fields, field)
	}
	return f
}

// HandleIQ answers a pubsub IQ (namespaces pubsub and pubsub#owner) for the
// service or a PEP service. reply is called once, possibly from another
// goroutine once the request's writes are durable.
func (s *Service) HandleIQ(r Request, reply func([]byte)) {
	ps := readPubSub(r.IQ)
	if ps == nil {
		reply(r.error(errBadRequest.with("not a pubsub request")))
		return
	}
	owner := ps.owner
	var e *Error
	switch {
	case !r.Set && !owner && ps.Items != nil:
		e = s.items(&r, ps, reply)
	case !r.Set && !owner && ps.Subscriptions != nil:
		e = s.ownSubscriptions(&r, ps, reply)
	case !r.Set && !owner && ps.Affiliations != nil:
		e = s.ownAffiliations(&r, ps, reply)
	case r.Set && !owner && ps.Publish != nil:
		e = s.publishIQ(&r, ps, reply)
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

// canPublish says whether the bare JID may publish to n: subscribers must
// still be allowed to read it. s.mu is held.
func (s *Service) canPublish(n *Node, who string) *Error {
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
		if n.subscribedBare(who) && s.canRead(n, who) == nil {
			return nil
		}
	}
	return &errForbidden
}

// isOwner says whether the bare JID owns n.
func (n *Node) isOwner(who string) bool {
	return who == n.Service || n.affiliation(who) == Owner
}

// manages says whether the bare JID may do what n's owners do: its owners,
// and on the service (not on anyone's PEP nodes) the hub's admins, as
// Prosody's administrators may. So a node whose owners were all removed is
// never stranded.
func (s *Service) manages(n *Node, who string) bool {
	if n.isOwner(who) {
		return true
	}
	if n.Service != s.cfg.Host {
		return false
	}
	local, domain, ok := cutJID(who)
	if !ok || domain != s.accounts.Domain() {
		return false
	}
	a, ok := s.accounts.Get(local)
	return ok && a.Role == devices.RoleAdmin
}

func randomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Service) stanzaID() string { return "ps-" + strconv.FormatUint(s.ids.Add(1), 36) }

// committed runs ok once a request's writes are durable. If they failed,
// the requester is told and the node is put back as stored: memory changes
// before the write, so that later requests see them.
func (s *Service) committed(r *Request, node string, reply func([]byte), err error, ok func()) {
	if err != nil {
		if !errors.Is(err, store.ErrUnwritable) { // the committer logs those
			s.log.Error("pubsub write failed", "service", r.To, "node", node, "err", err)
		}
		s.reloadNode(r.To, node)
		reply(r.error(writeError(err)))
		return
	}
	ok()
}
