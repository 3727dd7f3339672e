package hub_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

const (
	nsMAM = "urn:xmpp:mam:2"
	nsRSM = "http://jabber.org/protocol/rsm"
)

// mamPage is one answered MAM query.
type mamPage struct {
	results     []*xmpptest.Node // the forwarded stanzas, in order
	ids         []string         // their result ids
	fin         *xmpptest.Node
	first, last string
	complete    bool
}

// mamForm builds a query form from field/value pairs.
func mamForm(fields ...string) string {
	if len(fields) == 0 {
		return ""
	}
	f := "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>" + nsMAM + "</value></field>"
	for i := 0; i+1 < len(fields); i += 2 {
		f += "<field var='" + fields[i] + "'><value>" + fields[i+1] + "</value></field>"
	}
	return f + "</x>"
}

// queryMAM sends a MAM query (to may be empty, node may be empty, rsm is
// the inside of <set/>) and collects the page, or returns the error IQ.
func queryMAM(t *testing.T, c *xmpptest.Client, to, node, form, rsm string) (*mamPage, *xmpptest.Node) {
	t.Helper()
	qid := c.ID()
	attrs := ""
	if to != "" {
		attrs = " to='" + to + "'"
	}
	nodeAttr := ""
	if node != "" {
		nodeAttr = " node='" + node + "'"
	}
	set := ""
	if rsm != "" {
		set = "<set xmlns='" + nsRSM + "'>" + rsm + "</set>"
	}
	iq := c.IQ(fmt.Sprintf("<iq type='set' id='ID'%s><query xmlns='%s' queryid='%s'%s>%s%s</query></iq>", attrs, nsMAM, qid, nodeAttr, form, set))
	if iq.Attr("type") != "result" {
		return nil, iq
	}
	p := &mamPage{fin: iq.Child(nsMAM, "fin")}
	if p.fin == nil {
		t.Fatalf("no fin: %s", iq)
	}
	p.complete = p.fin.Attr("complete") == "true"
	if s := p.fin.Child(nsRSM, "set"); s != nil {
		if f := s.Child(nsRSM, "first"); f != nil {
			p.first = f.Text
		}
		if l := s.Child(nsRSM, "last"); l != nil {
			p.last = l.Text
		}
	}
	for _, n := range c.Drain() {
		r := n.Child(nsMAM, "result")
		if r == nil || r.Attr("queryid") != qid {
			continue
		}
		fwd := r.Child(nsForward, "forwarded")
		if fwd == nil || fwd.Child("urn:xmpp:delay", "delay") == nil {
			t.Fatalf("result without forwarded and delay: %s", n)
		}
		p.ids = append(p.ids, r.Attr("id"))
		p.results = append(p.results, fwd.Child("jabber:client", "message"))
	}
	return p, nil
}

func mustMAM(t *testing.T, c *xmpptest.Client, to, node, form, rsm string) *mamPage {
	t.Helper()
	p, e := queryMAM(t, c, to, node, form, rsm)
	if e != nil {
		t.Fatalf("MAM query refused: %s", e)
	}
	return p
}

func (p *mamPage) bodies() []string {
	var out []string
	for _, m := range p.results {
		if m == nil || m.Find("body") == nil {
			out = append(out, "?")
			continue
		}
		out = append(out, m.Find("body").Text)
	}
	return out
}

func wantBodies(t *testing.T, what string, p *mamPage, want ...string) {
	t.Helper()
	if got := strings.Join(p.bodies(), ","); got != strings.Join(want, ",") {
		t.Errorf("%s: got %s, want %s", what, got, strings.Join(want, ","))
	}
}

func TestMAMArchivePagingAndFilters(t *testing.T) {
	h := hubtest.Start(t)
	alice := h.Login(t, "alice", devices.RoleOperator, "fleet")
	bob := h.Login(t, "bob", devices.RoleOperator, "fleet")
	carol := h.Login(t, "carol", devices.RoleOperator, "fleet")
	alice.Send("<presence/>")
	bob.Send("<presence/>")

	// The archive is advertised on the account's bare JID.
	info := ok(t, "disco", alice.IQ("<iq type='get' to='alice@localhost' id='ID'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"))
	if !hasFeature(info, nsMAM) {
		t.Errorf("disco#info of the bare JID lacks %s: %s", nsMAM, info)
	}

	// In and out, and the hub's answers; a chat state is not archived.
	var stanzaIDs []string
	for i := 1; i <= 5; i++ {
		bob.Send("<message type='chat' to='alice@localhost'><body>b%d</body></message>", i)
		m := alice.WaitFor("b", isChat(fmt.Sprintf("b%d", i)))
		stanzaIDs = append(stanzaIDs, m.Child(nsSID, "stanza-id").Attr("id"))
	}
	alice.Send("<message type='chat' to='bob@localhost'><body>a1</body></message>")
	alice.Send("<message type='chat' to='bob@localhost'><active xmlns='http://jabber.org/protocol/chatstates'/></message>")
	bob.WaitFor("a1", isChat("a1"))
	carol.Send("<message to='alice@localhost'><body>c1</body></message>")
	alice.WaitFor("c1", isChat("c1"))

	all := mustMAM(t, alice, "", "", "", "")
	wantBodies(t, "everything", all, "b1", "b2", "b3", "b4", "b5", "a1", "c1")
	if !all.complete || all.first != all.ids[0] || all.last != all.ids[6] {
		t.Errorf("fin: %s", all.fin)
	}
	for i, id := range stanzaIDs {
		if all.ids[i] != id {
			t.Errorf("result %d has id %s, the delivered stanza-id was %s", i, all.ids[i], id)
		}
	}
	if m := all.results[5]; m.Attr("from") != alice.JID.String() || m.Attr("to") != "bob@localhost" {
		t.Errorf("outgoing message as archived: %s", m)
	}
	// The same query to the own bare JID.
	wantBodies(t, "to the bare JID", mustMAM(t, alice, "alice@localhost", "", "", ""), "b1", "b2", "b3", "b4", "b5", "a1", "c1")

	// Forward paging with after, to the end.
	p1 := mustMAM(t, alice, "", "", "", "<max>3</max>")
	wantBodies(t, "page 1", p1, "b1", "b2", "b3")
	p2 := mustMAM(t, alice, "", "", "", "<max>3</max><after>"+p1.last+"</after>")
	wantBodies(t, "page 2", p2, "b4", "b5", "a1")
	p3 := mustMAM(t, alice, "", "", "", "<max>3</max><after>"+p2.last+"</after>")
	wantBodies(t, "page 3", p3, "c1")
	if p1.complete || p2.complete || !p3.complete {
		t.Errorf("complete: %v %v %v", p1.complete, p2.complete, p3.complete)
	}
	// Backward: the empty before is the last page; then before its first.
	l1 := mustMAM(t, alice, "", "", "", "<max>2</max><before/>")
	wantBodies(t, "last page", l1, "a1", "c1")
	l2 := mustMAM(t, alice, "", "", "", "<max>4</max><before>"+l1.first+"</before>")
	wantBodies(t, "page before", l2, "b2", "b3", "b4", "b5")
	l3 := mustMAM(t, alice, "", "", "", "<max>4</max><before>"+l2.first+"</before>")
	wantBodies(t, "first page backwards", l3, "b1")
	if l1.complete || l2.complete || !l3.complete {
		t.Errorf("complete backwards: %v %v %v", l1.complete, l2.complete, l3.complete)
	}
	// The extended fields: after-id, before-id (which keeps the order),
	// both together, ids; flip-page; the archive's metadata.
	wantBodies(t, "after-id", mustMAM(t, alice, "", "", mamForm("after-id", p2.last), ""), "c1")
	wantBodies(t, "before-id", mustMAM(t, alice, "", "", mamForm("before-id", all.ids[2]), ""), "b1", "b2")
	wantBodies(t, "between", mustMAM(t, alice, "", "", mamForm("after-id", all.ids[1], "before-id", all.ids[5]), ""), "b3", "b4", "b5")
	ids := "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>" + nsMAM + "</value></field>" +
		"<field var='ids'><value>" + all.ids[6] + "</value><value>" + all.ids[0] + "</value><value>1</value></field></x>"
	wantBodies(t, "ids", mustMAM(t, alice, "", "", ids, ""), "b1", "c1")
	_, e := queryMAM(t, alice, "", "", mamForm("before-id", "0000000000000000001"), "")
	wantError(t, "before-id unknown", e, "item-not-found", "")
	flipped := mustMAM(t, alice, "", "", "<flip-page xmlns='"+nsMAM+"'/>", "<max>2</max><before/>")
	wantBodies(t, "flip-page", flipped, "c1", "a1")
	meta := ok(t, "metadata", alice.IQ("<iq type='get' id='ID'><metadata xmlns='"+nsMAM+"'/></iq>")).Child(nsMAM, "metadata")
	if meta.Child(nsMAM, "start").Attr("id") != all.ids[0] || meta.Child(nsMAM, "end").Attr("id") != all.ids[6] {
		t.Errorf("metadata: %s", meta)
	}

	// with: both directions with bob; a full JID matches that resource.
	wantBodies(t, "with bob", mustMAM(t, alice, "", "", mamForm("with", "bob@localhost"), ""), "b1", "b2", "b3", "b4", "b5", "a1")
	wantBodies(t, "with carol's resource", mustMAM(t, alice, "", "", mamForm("with", carol.JID.String()), ""), "c1")
	wantBodies(t, "with nobody", mustMAM(t, alice, "", "", mamForm("with", "dave@localhost"), ""))
	// start and end, from the archive's ids (nanoseconds).
	at := func(id string) string {
		var ns int64
		fmt.Sscan(id, &ns)
		return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
	}
	wantBodies(t, "start..end", mustMAM(t, alice, "", "", mamForm("start", at(all.ids[2]), "end", at(all.ids[4])), ""), "b3", "b4", "b5")

	// The other side has its own archive.
	wantBodies(t, "bob's", mustMAM(t, bob, "", "", "", ""), "b1", "b2", "b3", "b4", "b5", "a1")

	// The preferences: everything is archived, and stays so.
	prefs := ok(t, "prefs", alice.IQ("<iq type='get' id='ID'><prefs xmlns='"+nsMAM+"'/></iq>")).Child(nsMAM, "prefs")
	if prefs == nil || prefs.Attr("default") != "always" {
		t.Errorf("prefs: %v", prefs)
	}
	wantError(t, "prefs set", alice.IQ("<iq type='set' id='ID'><prefs xmlns='"+nsMAM+"' default='never'/></iq>"), "feature-not-implemented", "")

	// Removing an account removes its archive: a new account of that
	// name starts empty.
	if err := h.Accounts.Remove("bob"); err != nil {
		t.Fatal(err)
	}
	bobPW := h.Account(t, "bob", devices.RoleOperator, "fleet")
	bob = xmpptest.Dial(t, h.Options(), "bob", bobPW)
	wantBodies(t, "a new bob's archive", mustMAM(t, bob, "", "", "", ""))

	// A restart keeps it.
	h = hubtest.Restart(t, h)
	alice = xmpptest.Dial(t, h.Options(), "alice", mustPassword(t, h, "alice"))
	wantBodies(t, "after a restart", mustMAM(t, alice, "", "", "", ""), "b1", "b2", "b3", "b4", "b5", "a1", "c1")
}

// mustPassword resets an account's password, for logging in again after
// a restart.
func mustPassword(t *testing.T, h *hubtest.Hub, name string) string {
	t.Helper()
	pw := "pw-" + name + "-again-long-enough"
	if _, err := h.Accounts.SetPassword(name, pw); err != nil {
		t.Fatal(err)
	}
	return pw
}

func TestMAMRefusesOthersAndBadQueries(t *testing.T) {
	h := hubtest.Start(t)
	alice := h.Login(t, "alice", devices.RoleOperator, "fleet")
	bob := h.Login(t, "bob", devices.RoleOperator, "fleet")
	alice.Send("<presence/>")
	bob.Send("<message type='chat' to='alice@localhost'><body>secret</body></message>")
	alice.WaitFor("secret", isChat("secret"))

	// Only the account reads its archive.
	_, e := queryMAM(t, bob, "alice@localhost", "", "", "")
	wantError(t, "bob queries alice's archive", e, "forbidden", "")
	_, e = queryMAM(t, bob, "localhost", "", "", "")
	wantError(t, "query to the domain", e, "service-unavailable", "")

	for _, c := range []struct{ what, form, rsm, cond string }{
		{"negative max", "", "<max>-1</max>", "bad-request"},
		{"max not a number", "", "<max>ten</max>", "bad-request"},
		{"after an unknown id", "", "<after>0000000000000000042</after>", "item-not-found"},
		{"after garbage", "", "<after>'; drop table</after>", "item-not-found"},
		{"before an unknown id", "", "<before>1234</before>", "item-not-found"},
		{"after and before", "", "<after>1</after><before>2</before>", "bad-request"},
		{"index", "", "<index>3</index>", "feature-not-implemented"},
		{"bad start", mamForm("start", "yesterday"), "", "bad-request"},
		{"start after end", mamForm("start", "2030-01-01T00:00:00Z", "end", "2020-01-01T00:00:00Z"), "", "bad-request"},
		{"bad with", mamForm("with", "@@"), "", "bad-request"},
		{"unknown field", mamForm("fulltext", "x"), "", "bad-request"},
		{"wrong FORM_TYPE", "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x>", "", "bad-request"},
		{"form not submitted", "<x xmlns='jabber:x:data' type='form'/>", "", "bad-request"},
	} {
		p, e := queryMAM(t, alice, "", "", c.form, c.rsm)
		if e == nil {
			t.Errorf("%s: answered %v", c.what, p.bodies())
			continue
		}
		wantError(t, c.what, e, c.cond, "")
		if e.Find("error/text") == nil {
			t.Errorf("%s: no text says what is wrong: %s", c.what, e)
		}
	}

	// A stanza-id a client writes in the hub's name is taken out.
	bob.Send("<message type='chat' to='alice@localhost'><body>forged</body><stanza-id xmlns='" + nsSID + "' id='fake' by='alice@localhost'/></message>")
	m := alice.WaitFor("forged", isChat("forged"))
	for _, sid := range m.All("stanza-id") {
		if sid.Attr("id") == "fake" {
			t.Errorf("forged stanza-id delivered: %s", m)
		}
	}
	wantBodies(t, "the archive", mustMAM(t, alice, "", "", "", ""), "secret", "forged")
	if got := mustMAM(t, alice, "", "", "", ""); got.ids[1] != m.Child(nsSID, "stanza-id").Attr("id") {
		t.Errorf("archive id %s, delivered %s", got.ids[1], m)
	}
}

func TestMAMCapAndRetention(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Archive = hub.ArchiveConfig{Cap: 10, Retention: 2 * time.Second} })
	alice := h.Login(t, "alice", devices.RoleOperator, "fleet")
	bob := h.Login(t, "bob", devices.RoleOperator, "fleet")
	alice.Send("<presence/>")
	for i := 1; i <= 12; i++ {
		bob.Send("<message type='chat' to='alice@localhost'><body>m%d</body></message>", i)
		alice.WaitFor("m", isChat(fmt.Sprintf("m%d", i)))
	}
	// Past the cap, the oldest tenth went: m1 and m2.
	wantBodies(t, "capped", mustMAM(t, alice, "", "", "", ""), "m3", "m4", "m5", "m6", "m7", "m8", "m9", "m10", "m11", "m12")
	// Past the retention, nothing.
	waitFor(t, "the archive to expire", func() bool { return len(mustMAM(t, alice, "", "", "", "").results) == 0 })
}

func TestMAMOffCanBeTurnedOff(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Archive.Retention = -1 })
	alice := h.Login(t, "alice", devices.RoleOperator, "fleet")
	bob := h.Login(t, "bob", devices.RoleOperator, "fleet")
	alice.Send("<presence/>")
	bob.Send("<message type='chat' to='alice@localhost'><body>hi</body></message>")
	if m := alice.WaitFor("hi", isChat("hi")); m.Child(nsSID, "stanza-id") != nil {
		t.Errorf("stanza-id without an archive: %s", m)
	}
	_, e := queryMAM(t, alice, "", "", "", "")
	wantError(t, "archive off", e, "service-unavailable", "")
	info := ok(t, "disco", alice.IQ("<iq type='get' to='alice@localhost' id='ID'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"))
	if hasFeature(info, nsMAM) {
		t.Errorf("archive off but advertised: %s", info)
	}
}
