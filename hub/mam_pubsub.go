package hub

import (
	"encoding/xml"
	"math"
	"time"

	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/pubsub"
)

// MAM on PEP nodes (XEP-0313 §5.1.2): a query with node='...' to an
// account's bare JID pages through the node's past items, which the
// application keeps (a device's trail for its geoloc node) and hands over
// through a NodeHistory. Whoever may read the node's items may query it;
// others get the error an items request gets. Result ids are the items'
// times in nanoseconds, 19 digits, like the message archive's ids.

// NodeHistory is the past of the PEP nodes of one name.
type NodeHistory interface {
	// Between returns what owner (a bare JID at this hub) published to
	// the node between from and to, both included, oldest first. It is
	// called on a session's read loop and must be quick for short spans.
	Between(owner string, from, to time.Time) []HistoryItem
	// Bounds returns a time range that holds all of owner's items (it
	// may be wider), so that paging from an open end starts near them;
	// ok is false when there are none.
	Bounds(owner string) (from, to time.Time, ok bool)
}

// HistoryItem is one past item of a node: when it was published and its
// payload, one element declaring its namespace.
type HistoryItem struct {
	Time    time.Time
	Payload []byte
}

// HandleNodeHistory makes MAM queries on PEP nodes named node read h. Call
// it before Start.
func (s *Server) HandleNodeHistory(node string, h NodeHistory) {
	if s.histories == nil {
		s.histories = map[string]NodeHistory{}
	}
	s.histories[node] = h
}

var nameMAMQuery = xml.Name{Space: nsMAM, Local: "query"}

// accountMAM answers a MAM request to another account's bare JID: its
// PEP nodes' history, never its message archive.
func (s *Server) accountMAM(ss *session, req *iqRequest, owner string) {
	if !req.set {
		ss.send(iqResult(ss, req.el, mamForm()))
		return
	}
	q, err := parseMAMQuery(req.payload)
	if err != nil {
		ss.send(errorReply(ss, req.el, err.(mamError).e))
		return
	}
	if q.node == "" {
		ss.send(errorReply(ss, req.el, errForbidden.withText("only the account itself may query its message archive")))
		return
	}
	s.nodeHistoryQuery(ss, req, owner, q)
}

// serviceMAM answers a MAM query to the pubsub service: its nodes keep no
// history (trails belong to devices, on their PEP nodes).
func (s *Server) serviceMAM(ss *session, req *iqRequest) {
	r := pubsubRequest(ss, req.el, req.iq, s.pubsub.Host(), false)
	node := req.payload.Attr("node")
	if node == "" {
		ss.send(r.Refuse(&pubsub.Error{Type: "modify", Cond: "bad-request", Text: "a MAM query to the pubsub service needs a node"}))
		return
	}
	if e := s.pubsub.ReadAccess(s.pubsub.Host(), node, ss.bare); e != nil {
		ss.send(r.Refuse(e))
		return
	}
	ss.send(r.Refuse(&pubsub.Error{Type: "cancel", Cond: "feature-not-implemented",
		Text: "service nodes keep no history; a device's trail is on its own geoloc node (PEP)"}))
}

// nodeHistoryQuery answers a MAM query on owner's PEP node q.node.
func (s *Server) nodeHistoryQuery(ss *session, req *iqRequest, owner string, q *mamQuery) {
	r := pubsubRequest(ss, req.el, req.iq, owner, req.to.kind == addrNone)
	if e := s.pubsub.ReadAccess(owner, q.node, ss.bare); e != nil {
		ss.send(r.Refuse(e))
		return
	}
	h := s.histories[q.node]
	if h == nil {
		ss.send(r.Refuse(&pubsub.Error{Type: "cancel", Cond: "feature-not-implemented", Text: "this node keeps no history"}))
		return
	}
	lo, hi := max(q.start, 0), q.end
	if q.ids != nil {
		ss.send(r.Refuse(&pubsub.Error{Type: "cancel", Cond: "feature-not-implemented", Text: "the ids field is for message archives"}))
		return
	}
	for _, b := range [...]struct {
		ids   []string
		after bool
	}{{q.after, true}, {q.before, false}} {
		for _, v := range b.ids {
			t, ok := parseID(v)
			if !ok {
				ss.send(r.Refuse(&pubsub.Error{Type: "cancel", Cond: "item-not-found", Text: "not an item id of this node: " + v}))
				return
			}
			if b.after {
				lo = max(lo, t+1)
			} else {
				hi = min(hi, t-1)
			}
		}
	}
	var items []HistoryItem
	more := false
	if from, to, ok := h.Bounds(owner); ok && (q.with == "" || !q.withFull && q.with == owner) {
		lo, hi = max(lo, from.UnixNano()), min(hi, to.UnixNano())
		items, more = historyPage(h, owner, lo, hi, q.max, q.backward)
	}
	results := make([]mamResult, len(items))
	for i, it := range items {
		id := formatID(it.Time.UnixNano())
		b := []byte("<message")
		b = xmlesc.Attr(b, "from", owner)
		b = append(b, "><event xmlns='"+pubsub.NSEvent+"'><items"...)
		b = xmlesc.Attr(b, "node", q.node)
		b = append(b, "><item"...)
		b = xmlesc.Attr(b, "id", id)
		b = xmlesc.Attr(b, "publisher", owner)
		b = append(b, '>')
		b = append(b, it.Payload...)
		b = append(b, "</item></items></event></message>"...)
		results[i] = mamResult{id: id, at: it.Time, stanza: b}
	}
	s.sendMAMPage(ss, req, q, owner, results, !more)
}

// historyPage reads at most n items published in [lo, hi] (unix ns), the
// oldest ones, or backward the newest ones; more reports further items in
// the direction read. It reads time windows that grow until the page is
// full, so a page of a long trail costs about the page, not the trail.
func historyPage(h NodeHistory, owner string, lo, hi int64, n int, backward bool) (page []HistoryItem, more bool) {
	if lo > hi {
		return nil, false
	}
	need := n + 1
	w := int64(time.Minute)
	for rest := true; rest && len(page) < need; {
		from, to := lo, hi
		if hi-lo > w {
			if backward {
				from = hi - w
			} else {
				to = lo + w
			}
		} else {
			rest = false // this window reaches the end of the range
		}
		if backward {
			hi = from - 1
		} else {
			lo = to + 1
		}
		part := h.Between(owner, time.Unix(0, from), time.Unix(0, to))
		if backward {
			page = append(part, page...)
		} else {
			page = append(page, part...)
		}
		w = nextWindow(w, len(part), need-len(page))
	}
	if len(page) > n {
		more = true
		if backward {
			page = page[len(page)-n:]
		} else {
			page = page[:n]
		}
	}
	return page, more
}

// nextWindow sizes the next time window: from the density seen so far, a
// little more than what the missing items should take, at most 8 times the
// last one; 4 times the last one after an empty window.
func nextWindow(w int64, got, missing int) int64 {
	f := 4.0
	if got > 0 {
		f = min(8, max(1, 1.25*float64(missing)/float64(got)))
	}
	next := float64(w) * f
	if next > math.MaxInt64/16 {
		return math.MaxInt64 / 16
	}
	return int64(next)
}
