package component

import (
	"bytes"
	"strings"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
	"github.com/geohub/geohub/pubsub"
)

// NS is the namespace of a component's stream (XEP-0114).
const NS = "jabber:component:accept"

// Namespaces the component answers besides pubsub's.
const (
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
	nsPing       = "urn:xmpp:ping"
	nsStanzas    = "urn:ietf:params:xml:ns:xmpp-stanzas"
)

// Front is the component's front door: what the upstream relays to the
// component's domain goes to the same application as a hub session's
// stanzas do.
//
// Who is who: the accounts are GeoHub's own (geohub device add), in the
// domain of the upstream's users (--domain), and a stanza's sender is the
// account whose bare JID is its from, as the upstream stamped it. The
// upstream authenticated the user; the link is authenticated by the shared
// secret; nothing else is trusted. A sender that is no account (another
// domain, through the upstream's federation) is a stranger: it may read
// what the pubsub service lets anyone read, nothing more.
type Front struct {
	Link     *Link
	Hub      *hub.Server
	PubSub   *pubsub.Service
	Accounts *devices.Store
	Messages hub.MessageHandler // the chat commands (tracking.App)
	Geo      *geoloc.Store
	Shard    *Shard // nil: this instance is the whole fleet

	chat *chat // made on the reading goroutine
}

// Handle takes one element from the upstream: it runs on the link's
// reading goroutine and must not block for long.
func (f *Front) Handle(raw []byte) {
	// A copy: the parsed stanza may outlive the link's buffer (answers
	// are written once a publish is durable).
	el, err := xmlnode.Parse(bytes.Clone(raw), NS)
	if err != nil {
		f.Link.log.Warn("unreadable stanza from the upstream", "err", err)
		return
	}
	from, to := el.Attr("from"), el.Attr("to")
	if from == "" || !f.isOurs(to) {
		return // the upstream stamps from and routes only what is ours
	}
	switch el.Local {
	case "iq":
		f.iq(el, from, to)
	case "message":
		f.message(el, from, to)
	}
}

// isOurs reports an address at the component's domain.
func (f *Front) isOurs(to string) bool {
	domain := bareOf(to)
	if i := strings.IndexByte(domain, '@'); i >= 0 {
		domain = domain[i+1:]
	}
	return domain == f.Link.Domain()
}

func bareOf(j string) string {
	b, _, _ := strings.Cut(j, "/")
	return b
}

// account is the account a sender is: its bare JID at the accounts'
// domain, provisioned in GeoHub.
func (f *Front) account(from string) (string, bool) { return accountOf(f.Accounts, from) }

func accountOf(accounts *devices.Store, from string) (string, bool) {
	local, domain, ok := strings.Cut(bareOf(from), "@")
	if !ok || domain != accounts.Domain() || !accounts.Exists(local) {
		return "", false
	}
	return local, true
}

func (f *Front) iq(el *xmlnode.Node, from, to string) {
	typ := el.Attr("type")
	if typ != "get" && typ != "set" {
		return // no request of the component's waits for an answer
	}
	if len(el.Children) != 1 {
		f.Link.Send(iqError(el, "modify", "bad-request", "an IQ carries one payload"))
		return
	}
	p := el.Children[0]
	r := pubsub.Request{From: from, To: f.PubSub.Host(), ID: el.Attr("id"), Set: typ == "set", IQ: el}
	send := func(b []byte) { f.Link.Send(b) }
	switch {
	case to != f.Link.Domain():
		f.Link.Send(iqError(el, "cancel", "service-unavailable", ""))
	case p.Space == pubsub.NS && typ == "set" && f.ownPublish(el, p, from):
	case p.Space == pubsub.NS || p.Space == pubsub.NSOwner:
		f.PubSub.HandleIQ(r, send)
	case p.Space == nsDiscoInfo && p.Local == "query" && typ == "get":
		f.PubSub.DiscoInfo(r, p.Attr("node"), send)
	case p.Space == nsDiscoItems && p.Local == "query" && typ == "get":
		f.PubSub.DiscoItems(r, p.Attr("node"), send)
	case p.Space == nsPing && p.Local == "ping":
		f.Link.Send(iqResult(el))
	case p.Space == NSShard && typ == "get":
		fleetQuery(f.Link, f.Accounts, f.Geo, f.Shard, el, p, from)
	default:
		f.Link.Send(iqError(el, "cancel", "service-unavailable", ""))
	}
}

// fleetQuery answers an operator's query about the whole fleet over link
// (the component's domain or an instance's own): with shards, on a
// goroutine of its own, since the peers take a while.
func fleetQuery(link *Link, accounts *devices.Store, geo *geoloc.Store, shard *Shard, el, p *xmlnode.Node, from string) {
	viewer := bareOf(from)
	sees, ok := seer(accounts, viewer)
	if !ok {
		link.Send(iqError(el, "auth", "forbidden", "queries are for operators"))
		return
	}
	q, err := parseQuery(p)
	if err != nil {
		link.Send(iqError(el, "modify", "bad-request", err.Error()))
		return
	}
	answer := func(hits []hit, statuses []shardStatus) {
		b := append(iqHead("result", link.Domain(), from, el.Attr("id")), "><"+q.kind+" xmlns='"+NSShard+"'>"...)
		b = q.appendHits(b, hits, nil, nil)
		b = appendStatuses(b, statuses)
		link.Send(append(b, "</"+q.kind+"></iq>"...))
	}
	if shard == nil {
		answer(q.merge(q.run(geo, sees)), []shardStatus{{Instance: link.Domain(), Status: "ok"}})
		return
	}
	go func() { answer(shard.ask(q, viewer, sees)) }()
}

// ownNodes are the nodes an account publishes its own state to: at the
// component's domain they stand for the account's own (PEP) nodes, where a
// device connected to the hub itself publishes, so a fix takes the same
// path whichever door it came through.
var ownNodes = map[string]bool{geoloc.NS: true, geoloc.NSSensorData: true}

// ownPublish publishes an account's item to one of its own nodes through
// the hub's PublishPEP, and answers for the component. It reports false
// for any other publish.
func (f *Front) ownPublish(iq, ps *xmlnode.Node, from string) bool {
	pub := ps.Child(pubsub.NS, "publish")
	if pub == nil || !ownNodes[pub.Attr("node")] {
		return false
	}
	account, ok := f.account(from)
	if !ok {
		f.Link.Send(iqError(iq, "auth", "forbidden", "only GeoHub's accounts publish positions and readings"))
		return true
	}
	item := pub.Child(pubsub.NS, "item")
	if item == nil || len(item.Children) != 1 || len(pub.Children) != 1 {
		f.Link.Send(iqError(iq, "modify", "bad-request", "publish one item with one payload"))
		return true
	}
	node, id := pub.Attr("node"), item.Attr("id")
	f.Hub.PublishPEP(account, node, id, item.Children[0].Raw, func(err error) {
		if err != nil {
			pe := err.(*hub.PublishError)
			f.Link.Send(iqError(iq, pe.Type, pe.Condition, pe.Text))
			return
		}
		b := iqHead("result", f.Link.Domain(), iq.Attr("from"), iq.Attr("id"))
		b = append(b, "><pubsub xmlns='"+pubsub.NS+"'><publish"...)
		b = xmlesc.Attr(b, "node", node)
		if id != "" {
			b = append(b, "><item"...)
			b = xmlesc.Attr(b, "id", id)
			b = append(b, "/></publish></pubsub></iq>"...)
		} else {
			b = append(b, "/></pubsub></iq>"...)
		}
		f.Link.Send(b)
	})
	return true
}

func (f *Front) message(el *xmlnode.Node, from, to string) {
	if f.chat == nil {
		f.chat = newChat(f.Link, f.Accounts, f.Messages, f.Shard != nil)
	}
	f.chat.message(el, from, to)
}

func attrs(from, to, id string) []byte {
	b := xmlesc.Attr(nil, "from", from)
	b = xmlesc.Attr(b, "to", to)
	if id != "" {
		b = xmlesc.Attr(b, "id", id)
	}
	return b
}

// iqHead is an IQ's start tag without its closing '>'.
func iqHead(typ, from, to, id string) []byte {
	return append([]byte("<iq type='"+typ+"'"), attrs(from, to, id)...)
}

func iqResult(iq *xmlnode.Node) []byte {
	return append(iqHead("result", iq.Attr("to"), iq.Attr("from"), iq.Attr("id")), "/>"...)
}

func iqError(iq *xmlnode.Node, typ, cond, text string) []byte {
	b := append(iqHead("error", iq.Attr("to"), iq.Attr("from"), iq.Attr("id")), '>')
	b = appendError(b, typ, cond, text)
	return append(b, "</iq>"...)
}

func appendError(b []byte, typ, cond, text string) []byte {
	b = append(b, "<error"...)
	b = xmlesc.Attr(b, "type", typ)
	b = append(b, "><"+cond+" xmlns='"+nsStanzas+"'/>"...)
	if text != "" {
		b = append(b, "<text xmlns='"+nsStanzas+"'>"...)
		b = xmlesc.Text(b, text)
		b = append(b, "</text>"...)
	}
	return append(b, "</error>"...)
}
