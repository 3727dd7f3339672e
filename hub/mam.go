package hub

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
	"mellium.im/xmpp/jid"
)

// Message archive management (XEP-0313, urn:xmpp:mam:2, with the extended
// after-id, before-id and ids fields, flip-page and the archive's
// metadata): an account queries its own archive (mam_store.go) with the
// data form fields with, start and end, paged by result set management
// (XEP-0059); a query with a node reads that node's history
// (mam_pubsub.go).

const (
	nsMAM         = "urn:xmpp:mam:2"
	nsMAMExtended = "urn:xmpp:mam:2#extended"
	nsRSM         = "http://jabber.org/protocol/rsm"
	nsData        = "jabber:x:data"

	mamDefaultPage = 50  // results when the query sets no max
	mamMaxPage     = 250 // the most results one page holds
)

// mamQuery is a MAM query, read and checked.
type mamQuery struct {
	id         string // queryid, echoed in every result
	node       string // a pubsub node: mam_pubsub.go
	with       string // a JID, normalized; "" for anyone
	withFull   bool   // with has a resource: match it exactly
	start, end int64  // unix nanoseconds, inclusive
	max        int
	after      []string // ids to page after: RSM after, the after-id field
	before     []string // ids to stay before: RSM before, the before-id field
	backward   bool     // an RSM before was given, even empty: the page before it, or the last page
	ids        []string // the ids field: these messages only
	flip       bool     // flip-page: the page's results newest first
	rsmAfter   bool     // an RSM after was given: no RSM before with it
}

// mamError is a query the hub refuses, with what is wrong.
type mamError struct{ e stanzaErr }

func (m mamError) Error() string { return m.e.text }

func badQuery(text string) error { return mamError{errBadRequest.withText(text)} }

// parseMAMQuery reads a <query xmlns='urn:xmpp:mam:2'/>.
func parseMAMQuery(q *xmlnode.Node) (*mamQuery, error) {
	mq := &mamQuery{id: q.Attr("queryid"), node: q.Attr("node"), start: 0, end: math.MaxInt64, max: mamDefaultPage}
	for _, c := range q.Children {
		switch {
		case c.Space == nsData && c.Local == "x":
			if err := mq.readForm(c); err != nil {
				return nil, err
			}
		case c.Space == nsRSM && c.Local == "set":
			if err := mq.readRSM(c); err != nil {
				return nil, err
			}
		case c.Space == nsMAM && c.Local == "flip-page":
			mq.flip = true
		default:
			return nil, badQuery("unexpected <" + c.Local + "/> in the query")
		}
	}
	if mq.start > mq.end {
		return nil, badQuery("start is after end")
	}
	return mq, nil
}

func (mq *mamQuery) readForm(x *xmlnode.Node) error {
	if t := x.Attr("type"); t != "submit" {
		return badQuery("the query form must be of type submit, not " + strconv.Quote(t))
	}
	for _, f := range x.Children {
		if f.Space != nsData || f.Local != "field" {
			continue
		}
		var values []string
		for _, v := range f.Children {
			if v.Space == nsData && v.Local == "value" {
				values = append(values, v.Text)
			}
		}
		name := f.Attr("var")
		if name == "ids" {
			if len(values) > mamMaxPage {
				return badQuery("ids takes at most " + strconv.Itoa(mamMaxPage) + " ids")
			}
			mq.ids = values
			continue
		}
		if len(values) > 1 {
			return badQuery("field " + name + " takes one value")
		}
		value := ""
		if len(values) == 1 {
			value = strings.TrimSpace(values[0])
		}
		switch name {
		case "FORM_TYPE":
			if value != nsMAM {
				return badQuery("FORM_TYPE must be " + nsMAM)
			}
		case "with":
			if value == "" {
				continue
			}
			j, err := jid.Parse(value)
			if err != nil {
				return badQuery("with is not a JID: " + value)
			}
			mq.with, mq.withFull = j.String(), j.Resourcepart() != ""
		case "start", "end":
			if value == "" {
				continue
			}
			t, err := time.Parse(time.RFC3339Nano, value)
			if err != nil {
				return badQuery(name + " is not an XEP-0082 date and time: " + value)
			}
			if name == "start" {
				mq.start = t.UnixNano()
			} else {
				mq.end = t.UnixNano()
			}
		case "after-id", "before-id":
			if value == "" {
				continue
			}
			if name == "after-id" {
				mq.after = append(mq.after, value)
			} else {
				mq.before = append(mq.before, value)
			}
		default:
			return mamError{errBadRequest.withText("field " + strconv.Quote(name) + " is not supported; the fields are with, start, end, after-id, before-id and ids")}
		}
	}
	return nil
}

func (mq *mamQuery) readRSM(set *xmlnode.Node) error {
	for _, c := range set.Children {
		if c.Space != nsRSM {
			continue
		}
		v := strings.TrimSpace(c.Text)
		switch c.Local {
		case "max":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return badQuery("RSM max must be a number, 0 or more")
			}
			mq.max = min(n, mamMaxPage)
		case "after":
			if v == "" {
				return badQuery("RSM after needs an id")
			}
			mq.after, mq.rsmAfter = append(mq.after, v), true
		case "before":
			mq.backward = true
			if v != "" {
				mq.before = append(mq.before, v)
			}
		case "index":
			return mamError{stanzaErr{"cancel", "feature-not-implemented", "RSM index is not supported: page with after and before"}}
		default:
			return badQuery("RSM <" + c.Local + "/> is not understood")
		}
	}
	if mq.rsmAfter && mq.backward {
		return badQuery("RSM after and before cannot be used together")
	}
	return nil
}

// mamIQ answers a MAM request to the account's own bare JID (or with no
// to): the form of its fields, or a query of its archive or of one of its
// PEP nodes.
func (s *Server) mamIQ(ss *session, req *iqRequest) {
	if req.to.kind == addrServer {
		ss.send(errorReply(ss, req.el, errServiceUnavailable.withText("the domain has no archive: query your own bare JID")))
		return
	}
	if !req.set {
		ss.send(iqResult(ss, req.el, mamForm()))
		return
	}
	q, err := parseMAMQuery(req.payload)
	if err != nil {
		ss.send(errorReply(ss, req.el, err.(mamError).e))
		return
	}
	if q.node != "" {
		s.nodeHistoryQuery(ss, req, ss.bare, q)
		return
	}
	if !s.archive.on() {
		ss.send(errorReply(ss, req.el, errServiceUnavailable.withText("the message archive is off")))
		return
	}
	s.archiveQuery(ss, req, q)
}

// mamForm lists the fields a query may use (XEP-0313 §6.1).
func mamForm() []byte {
	return []byte("<query xmlns='" + nsMAM + "'><x xmlns='" + nsData + "' type='form'>" +
		"<field type='hidden' var='FORM_TYPE'><value>" + nsMAM + "</value></field>" +
		"<field type='jid-single' var='with'/><field type='text-single' var='start'/>" +
		"<field type='text-single' var='end'/><field type='text-single' var='after-id'/>" +
		"<field type='text-single' var='before-id'/><field type='text-multi' var='ids'/></x></query>")
}

// archiveQuery answers a query of the account's own archive.
func (s *Server) archiveQuery(ss *session, req *iqRequest, q *mamQuery) {
	s.archive.settle()
	lo, hi := q.start, q.end
	for _, b := range [...]struct {
		ids   []string
		after bool
	}{{q.after, true}, {q.before, false}} {
		for _, v := range b.ids {
			id, ok := parseID(v)
			if !ok || !s.archive.has(ss.local, id) {
				ss.send(errorReply(ss, req.el, errItemNotFound.withText("no archived message has the id "+v)))
				return
			}
			if b.after {
				lo = max(lo, id+1)
			} else {
				hi = min(hi, id-1)
			}
		}
	}
	if q.ids != nil {
		s.archiveByIDs(ss, req, q)
		return
	}
	var keep func(*archived) bool
	if q.with != "" {
		keep = func(a *archived) bool {
			if q.withFull {
				return a.With == q.with
			}
			bare, _, _ := strings.Cut(a.With, "/")
			return bare == q.with
		}
	}
	page, more := s.archive.page(ss.local, lo, hi, q.max, q.backward, keep)
	results := make([]mamResult, len(page))
	for i, e := range page {
		results[i] = mamResult{id: formatID(e.id), at: time.Unix(0, e.id), stanza: []byte(e.Raw)}
	}
	s.sendMAMPage(ss, req, q, ss.bare, results, !more)
}

// archiveByIDs answers a query for the messages with the given ids (the
// extended ids field), in archive order; unknown ids are left out.
func (s *Server) archiveByIDs(ss *session, req *iqRequest, q *mamQuery) {
	var results []mamResult
	for _, v := range slices.Sorted(slices.Values(q.ids)) {
		id, ok := parseID(v)
		if !ok {
			continue
		}
		if e, ok := s.archive.get(ss.local, id); ok {
			results = append(results, mamResult{id: v, at: time.Unix(0, id), stanza: []byte(e.Raw)})
		}
	}
	s.sendMAMPage(ss, req, q, ss.bare, results, true)
}

// mamMetadata answers the extended metadata request: the first and last
// message of the account's archive.
func (s *Server) mamMetadata(ss *session, req *iqRequest) {
	if req.set || req.to.kind == addrServer || !s.archive.on() {
		ss.send(errorReply(ss, req.el, errServiceUnavailable))
		return
	}
	s.archive.settle()
	b := []byte("<metadata xmlns='" + nsMAM + "'>")
	first, _ := s.archive.page(ss.local, 0, math.MaxInt64, 1, false, nil)
	if len(first) == 1 {
		last, _ := s.archive.page(ss.local, 0, math.MaxInt64, 1, true, nil)
		for i, e := range []entry{first[0], last[0]} {
			b = append(b, [2]string{"<start", "<end"}[i]...)
			b = xmlesc.Attr(b, "id", formatID(e.id))
			b = xmlesc.Attr(b, "timestamp", time.Unix(0, e.id).UTC().Format(stampFormat))
			b = append(b, "/>"...)
		}
	}
	ss.send(iqResult(ss, req.el, append(b, "</metadata>"...)))
}

// mamPrefs answers the archiving preferences (XEP-0313 §6): every
// message is archived, and that is not for the account to change.
func (s *Server) mamPrefs(ss *session, req *iqRequest) {
	switch {
	case req.to.kind == addrServer || !s.archive.on():
		ss.send(errorReply(ss, req.el, errServiceUnavailable))
	case req.set:
		ss.send(errorReply(ss, req.el, stanzaErr{"cancel", "feature-not-implemented", "this hub archives every message; the preferences cannot be changed"}))
	default:
		ss.send(iqResult(ss, req.el, []byte("<prefs xmlns='"+nsMAM+"' default='always'><always/><never/></prefs>")))
	}
}

// stampFormat is XEP-0082 with microseconds: Python's parsers (slixmpp)
// take no more.
const stampFormat = "2006-01-02T15:04:05.000000Z"

// mamResult is one message of a page: its id, when it was archived (or
// published), and the stanza forwarded.
type mamResult struct {
	id     string
	at     time.Time
	stanza []byte
}

// sendMAMPage sends each result as a message from the archive's JID
// (XEP-0313 §4.2), then the IQ result with the page's bounds.
// With flip-page the results go newest first; the page's bounds are the
// same.
func (s *Server) sendMAMPage(ss *session, req *iqRequest, q *mamQuery, archiveJID string, results []mamResult, complete bool) {
	var b []byte
	for i := range results {
		r := results[i]
		if q.flip {
			r = results[len(results)-1-i]
		}
		b = append(b, "<message"...)
		b = xmlesc.Attr(b, "from", archiveJID)
		b = append(b, ss.toAttr...)
		b = append(b, "><result xmlns='"+nsMAM+"'"...)
		if q.id != "" {
			b = xmlesc.Attr(b, "queryid", q.id)
		}
		b = xmlesc.Attr(b, "id", r.id)
		b = append(b, "><forwarded xmlns='"+nsForward+"'><delay xmlns='"+nsDelay+"'"...)
		b = xmlesc.Attr(b, "stamp", r.at.UTC().Format(stampFormat))
		b = append(b, "/>"...)
		b = appendForwarded(b, r.stanza)
		b = append(b, "</forwarded></result></message>"...)
	}
	fin := []byte("<fin xmlns='" + nsMAM + "'")
	if complete {
		fin = append(fin, " complete='true'"...)
	}
	fin = append(fin, "><set xmlns='"+nsRSM+"'"...)
	if len(results) == 0 {
		fin = append(fin, "/></fin>"...)
	} else {
		fin = append(fin, "><first>"...)
		fin = xmlesc.Text(fin, results[0].id)
		fin = append(fin, "</first><last>"...)
		fin = xmlesc.Text(fin, results[len(results)-1].id)
		fin = append(fin, "</last></set></fin>"...)
	}
	b = append(b, iqResult(ss, req.el, fin)...)
	ss.sendAllowing(b, 0, len(results)+1)
}
