package hub_test

// XMPP over BOSH (XEP-0124, XEP-0206), spoken by hand: each test posts
// <body/> elements to the hub's BOSHHandler over HTTP and checks every
// response, so that the binding itself is under test (rids, holding,
// restarts, terminal conditions).

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
	"mellium.im/sasl"
)

const (
	nsHTTPBind = "http://jabber.org/protocol/httpbind"
	nsXBOSH    = "urn:xmpp:xbosh"
)

// boshEnv is a hub's BOSH endpoint on a loopback port.
type boshEnv struct {
	handler http.Handler
	url     string
	hc      *http.Client
}

// boshServe serves h's BOSH handler at /http-bind, over TLS when secure;
// wrap, when given, wraps the handler.
func boshServe(t testing.TB, h *hubtest.Hub, cfg hub.BOSHConfig, secure bool, wrap ...func(http.Handler) http.Handler) *boshEnv {
	t.Helper()
	e := &boshEnv{handler: h.BOSHHandler(cfg)}
	srv := httpServe(t, "/http-bind", e.handler, secure, wrap...)
	e.url, e.hc = srv.URL+"/http-bind", srv.Client()
	e.hc.Timeout = 2 * xmpptest.Timeout
	return e
}

// boshClient is a raw BOSH client: it numbers its requests and checks
// that every answer is one <body/> in the httpbind namespace.
type boshClient struct {
	t   testing.TB
	e   *boshEnv
	sid string
	rid int64
	jid string
}

// boshResp is an answer: the parsed <body/> and its bytes.
type boshResp struct {
	body *xmpptest.Node
	raw  string
	err  error
}

func (r boshResp) String() string { return r.raw }

// terminated reports the condition of a terminate body ("" for none),
// and whether it is one.
func (r boshResp) terminated() (string, bool) {
	return r.body.Attr("condition"), r.body.Attr("type") == "terminate"
}

// postRaw posts raw and returns the answer, checking the HTTP layer.
func (e *boshEnv) postRaw(raw string) boshResp {
	b, err := e.postBytes(raw)
	if err != nil {
		return boshResp{raw: string(b), err: err}
	}
	var n xmpptest.Node
	if err := xml.Unmarshal(b, &n); err != nil {
		return boshResp{raw: string(b), err: fmt.Errorf("answer %q: %v", b, err)}
	}
	if n.XMLName.Space != nsHTTPBind || n.XMLName.Local != "body" {
		return boshResp{raw: string(b), err: fmt.Errorf("answer %q is not an httpbind <body/>", b)}
	}
	return boshResp{body: &n, raw: string(b)}
}

// postBytes posts raw and returns the answer unparsed, checking the HTTP
// layer.
func (e *boshEnv) postBytes(raw string) ([]byte, error) {
	req, err := http.NewRequest("POST", e.url, strings.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	res, err := e.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return b, fmt.Errorf("HTTP %d: %s", res.StatusCode, b)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/xml; charset=utf-8" {
		return b, fmt.Errorf("Content-Type %q", ct)
	}
	return b, nil
}

// must fails the test on an error of the HTTP or BOSH layer.
func (c *boshClient) must(r boshResp) boshResp {
	c.t.Helper()
	if r.err != nil {
		c.t.Fatal(r.err)
	}
	return r
}

// body builds the next request: sid, the next rid, attrs and payload.
func (c *boshClient) body(attrs, payload string) string {
	rid := c.rid
	c.rid++
	return fmt.Sprintf("<body xmlns='%s' xmlns:xmpp='%s' sid='%s' rid='%d'%s>%s</body>", nsHTTPBind, nsXBOSH, c.sid, rid, attrs, payload)
}

// post sends the next request and waits for its answer.
func (c *boshClient) post(attrs, payload string) boshResp {
	c.t.Helper()
	return c.must(c.e.postRaw(c.body(attrs, payload)))
}

// start sends the next request in the background.
func (c *boshClient) start(attrs, payload string) <-chan boshResp {
	ch := make(chan boshResp, 1)
	raw := c.body(attrs, payload)
	go func() { ch <- c.e.postRaw(raw) }()
	return ch
}

func (c *boshClient) wait(ch <-chan boshResp) boshResp {
	c.t.Helper()
	select {
	case r := <-ch:
		return c.must(r)
	case <-time.After(2 * xmpptest.Timeout):
		c.t.Fatal("no answer to a BOSH request")
		return boshResp{}
	}
}

const boshCreate = "<body xmlns='" + nsHTTPBind + "' xmlns:xmpp='" + nsXBOSH + "' content='text/xml; charset=utf-8' hold='1' rid='%d' to='localhost' ver='1.6' wait='%d' xml:lang='en' xmpp:version='1.0'/>"

// boshCreateSession opens a session asking for wait seconds and returns
// the creation response (which carries the features).
func boshCreateSession(t testing.TB, e *boshEnv, wait int) (*boshClient, boshResp) {
	t.Helper()
	c := &boshClient{t: t, e: e, rid: 1000}
	r := c.must(e.postRaw(fmt.Sprintf(boshCreate, c.rid, wait)))
	c.rid++
	c.sid = r.body.Attr("sid")
	if c.sid == "" {
		t.Fatalf("session creation answered %s", r)
	}
	return c, r
}

// stanza returns the first child of r named local, or fails.
func (r boshResp) child(t testing.TB, space, local string) *xmpptest.Node {
	t.Helper()
	if n := r.body.Child(space, local); n != nil {
		return n
	}
	t.Fatalf("%s: no {%s}%s", r, space, local)
	return nil
}

// auth runs SCRAM-SHA-256 and returns the last SASL answer.
func (c *boshClient) auth(user, password string) *xmpptest.Node {
	c.t.Helper()
	return saslSCRAM(c.t, sasl.ScramSha256, user, password, c.saslExchange)
}

// saslExchange posts one SASL element and returns the answer's, which
// must be the body's only child.
func (c *boshClient) saslExchange(payload string) (*xmpptest.Node, string) {
	c.t.Helper()
	r := c.post("", payload)
	if len(r.body.Nodes) != 1 {
		c.t.Fatalf("during SASL: %s", r)
	}
	return &r.body.Nodes[0], r.raw
}

// restartAndBind restarts the stream after SASL (XEP-0206 §5) and binds
// resource.
func (c *boshClient) restartAndBind(user, resource string) {
	c.t.Helper()
	r := c.post(" to='localhost' xml:lang='en' xmpp:restart='true'", "")
	f := r.child(c.t, nsStreams, "features")
	if f.Child("urn:ietf:params:xml:ns:xmpp-bind", "bind") == nil {
		c.t.Fatalf("features after the restart: %s", r)
	}
	r = c.post("", fmt.Sprintf(`<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>%s</resource></bind></iq>`, resource))
	res := r.child(c.t, "jabber:client", "iq")
	c.jid = res.Find("bind/jid").Text
	if res.Attr("type") != "result" || c.jid != user+"@localhost/"+resource {
		c.t.Fatalf("bind: %s", r)
	}
}

// boshLogin opens a session and logs in with SCRAM-SHA-256.
func boshLogin(t testing.TB, e *boshEnv, user, password, resource string) *boshClient {
	t.Helper()
	c, r := boshCreateSession(t, e, 60)
	r.child(t, nsStreams, "features")
	if n := c.auth(user, password); n.XMLName.Local != "success" {
		t.Fatalf("login as %s: %s", user, n)
	}
	c.restartAndBind(user, resource)
	return c
}

// stanzas returns the children of r named local.
func (r boshResp) stanzas(local string) []*xmpptest.Node {
	var out []*xmpptest.Node
	for i := range r.body.Nodes {
		if r.body.Nodes[i].XMLName.Local == local {
			out = append(out, &r.body.Nodes[i])
		}
	}
	return out
}

// ping sends an XEP-0199 ping and checks that its answer comes back in the
// response.
func (c *boshClient) ping(id string) boshResp {
	c.t.Helper()
	r := c.post("", fmt.Sprintf(`<iq xmlns='jabber:client' type='get' id='%s' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`, id))
	for _, iq := range r.stanzas("iq") {
		if iq.Attr("id") == id && iq.Attr("type") == "result" {
			return r
		}
	}
	c.t.Fatalf("ping %s answered %s", id, r)
	return r
}

func TestBOSHLoginAndRouteBothWays(t *testing.T) {
	h := hubtest.Start(t)
	e := boshServe(t, h, hub.BOSHConfig{}, false)
	pw := h.Account(t, "browser", devices.RoleOperator)
	bob := h.Login(t, "bob", devices.RoleOperator)

	// Session creation: the client asks for more than the hub gives.
	c := &boshClient{t: t, e: e, rid: 4242}
	r := c.must(e.postRaw(fmt.Sprintf("<body xmlns='%s' xmlns:xmpp='%s' hold='5' rid='4242' to='localhost' ver='1.11' wait='300' xmpp:version='1.0'/>", nsHTTPBind, nsXBOSH)))
	c.rid++
	b := r.body
	c.sid = b.Attr("sid")
	for attr, want := range map[string]string{
		"wait": "60", "hold": "1", "requests": "2", "inactivity": "60", "polling": "2",
		"maxpause": "120", "ver": "1.11", "from": "localhost", "secure": "true",
	} {
		if got := b.Attr(attr); got != want {
			t.Errorf("creation response %s: %s=%q, want %q", r, attr, got, want)
		}
	}
	xattr := func(local string) string {
		for _, a := range b.Attrs {
			if a.Name.Space == nsXBOSH && a.Name.Local == local {
				return a.Value
			}
		}
		return ""
	}
	if len(c.sid) < 32 || b.Attr("authid") == "" || xattr("version") != "1.0" || xattr("restartlogic") != "true" {
		t.Errorf("creation response %s: want a long sid, an authid, xmpp:version 1.0 and xmpp:restartlogic", r)
	}
	f := r.child(t, nsStreams, "features")
	checkPlainHTTPFeatures(t, f, "http://")
	if n := c.auth("browser", pw); n.XMLName.Local != "success" {
		t.Fatalf("SCRAM-SHA-256: %s", n)
	}
	c.restartAndBind("browser", "tab")

	// BOSH -> TCP, stamped with the bound JID. The request is held (the
	// hub has nothing for the client) until the next one releases it.
	held := c.start("", fmt.Sprintf(`<message xmlns='jabber:client' to='%s' from='mallory@localhost/x' type='chat' id='w1'><body>from the browser</body></message>`, bob.JID))
	got := bob.WaitFor("message", isMessage)
	if got.Attr("from") != "browser@localhost/tab" || got.Attr("id") != "w1" || got.Find("body").Text != "from the browser" {
		t.Errorf("bob got %s", got)
	}
	poll := c.start("", "")
	if r := c.wait(held); len(r.body.Nodes) != 0 || r.body.Attr("type") != "" {
		t.Errorf("the held request released by a new one: %s, want an empty body", r)
	}
	// TCP -> BOSH: the held poll gets what the hub has, several stanzas
	// in one response when they come together.
	bob.Send(`<message to='browser@localhost/tab' type='chat' id='b1'><body>from a TCP client &amp; co</body></message>`)
	r = c.wait(poll)
	m := r.stanzas("message")
	if len(m) == 0 || m[0].XMLName.Space != "jabber:client" || m[0].Attr("from") != bob.JID.String() || m[0].Find("body").Text != "from a TCP client & co" {
		t.Fatalf("the browser got %s", r)
	}
	r = c.post("", `<iq xmlns='jabber:client' type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq><iq xmlns='jabber:client' type='get' id='p2' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	for len(r.stanzas("iq")) < 2 {
		more := c.post("", "")
		r.body.Nodes = append(r.body.Nodes, more.body.Nodes...)
	}
	if iqs := r.stanzas("iq"); iqs[0].Attr("id") != "p1" || iqs[1].Attr("id") != "p2" {
		t.Errorf("two pings answered %v", r.body.Nodes)
	}
	if h.Sessions() != 2 {
		t.Errorf("%d sessions, want 2", h.Sessions())
	}
}

// A request waits for its wait (capped by the hub), then comes back empty.
func TestBOSHWait(t *testing.T) {
	h := hubtest.Start(t)
	e := boshServe(t, h, hub.BOSHConfig{MaxWait: time.Second}, false)
	pw := h.Account(t, "browser", devices.RoleOperator)
	c := boshLogin(t, e, "browser", pw, "tab")
	start := time.Now()
	r := c.post("", "")
	if len(r.body.Nodes) != 0 || time.Since(start) < 900*time.Millisecond {
		t.Errorf("an empty request answered %s after %v, want an empty body after the 1 s wait", r, time.Since(start))
	}
	c.ping("after-wait")
}

// Over HTTPS the stream is secure and PLAIN is offered; from elsewhere
// over plain HTTP the stream is refused, as over ws://.
func TestBOSHSecurityRules(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "browser", devices.RoleOperator)
	e := boshServe(t, h, hub.BOSHConfig{}, true)
	c, r := boshCreateSession(t, e, 60)
	if got := mechanisms(r.child(t, nsStreams, "features")); !strings.Contains(strings.Join(got, ","), "PLAIN") {
		t.Fatalf("mechanisms over https:// %v, want PLAIN among them", got)
	}
	// Pretty-printed, as some clients send their bodies.
	r = c.post("", fmt.Sprintf("\n  <auth xmlns='%s' mechanism='PLAIN'>%s</auth>\n", nsSASL, base64.StdEncoding.EncodeToString([]byte("\x00browser\x00"+pw))))
	r.child(t, nsSASL, "success")
	c.restartAndBind("browser", "tls")

	elsewhere := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, hub.Forwarded(r, netip.MustParseAddr("192.0.2.7"), false))
		})
	}
	e2 := boshServe(t, h, hub.BOSHConfig{}, false, elsewhere)
	r = e2.postRaw(fmt.Sprintf(boshCreate, 1, 60))
	if cond, ok := r.terminated(); r.err != nil || !ok || cond != "remote-stream-error" ||
		r.body.Find("error/policy-violation") == nil {
		t.Errorf("plain http:// from elsewhere: %s %v, want terminate remote-stream-error with policy-violation", r, r.err)
	}
}

// Requests are processed in rid order, whatever order they arrive in.
func TestBOSHRidOrder(t *testing.T) {
	h := hubtest.Start(t)
	e := boshServe(t, h, hub.BOSHConfig{}, false)
	pw := h.Account(t, "browser", devices.RoleOperator)
	bob := h.Login(t, "bob", devices.RoleOperator)
	c := boshLogin(t, e, "browser", pw, "tab")

	msg := func(id string) string {
		return fmt.Sprintf(`<message xmlns='jabber:client' to='%s' type='chat' id='%s'><body>%s</body></message>`, bob.JID, id, id)
	}
	first := c.body("", msg("first"))
	second := c.body("", msg("second"))
	late := make(chan boshResp, 1)
	go func() { late <- e.postRaw(second) }()
	waitFor(t, "the second request to wait for the first", func() bool { parked, _ := hub.BOSHWaiting(e.handler, c.sid); return parked == 1 })
	early := make(chan boshResp, 1)
	go func() { early <- e.postRaw(first) }()
	for _, want := range []string{"first", "second"} {
		if m := bob.WaitFor("message", isMessage); m.Attr("id") != want {
			t.Fatalf("bob got %s, want message %s: rids out of order", m, want)
		}
	}
	c.wait(early)
	c.ping("after")
	c.wait(late)
}

// A repeated rid gets the same answer again, and what it carried is not
// processed twice.
func TestBOSHReplay(t *testing.T) {
	h := hubtest.Start(t)
	e := boshServe(t, h, hub.BOSHConfig{}, false)
	pw := h.Account(t, "browser", devices.RoleOperator)
	c := boshLogin(t, e, "browser", pw, "tab")
	raw := c.body("", `<iq xmlns='jabber:client' type='get' id='once' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	r1 := c.must(e.postRaw(raw))
	if len(r1.stanzas("iq")) != 1 {
		t.Fatalf("ping answered %s", r1)
	}
	r2 := c.must(e.postRaw(raw))
	if r2.raw != r1.raw {
		t.Errorf("the repeated rid got\n%s\nthe first time\n%s", r2, r1)
	}
	// Had the ping run twice, its second answer would come now.
	r := c.ping("next")
	for _, iq := range r.stanzas("iq") {
		if iq.Attr("id") == "once" {
			t.Errorf("the repeated request was processed again: %s", r)
		}
	}
	// Older than the window: refused.
	old := c.rid - 3
	r = c.must(e.postRaw(fmt.Sprintf("<body xmlns='%s' sid='%s' rid='%d'/>", nsHTTPBind, c.sid, old)))
	if cond, ok := r.terminated(); !ok || cond != "item-not-found" {
		t.Errorf("a rid older than the window: %s, want terminate item-not-found", r)
	}
}

// A rid beyond the window ends the session, and its XMPP session.
func TestBOSHRidOutOfWindow(t *testing.T) {
	h := hubtest.Start(t)
	e := boshServe(t, h, hub.BOSHConfig{}, false)
	pw := h.Account(t, "browser", devices.RoleOperator)
	c := boshLogin(t, e, "browser", pw, "tab")
	waitFor(t, "the session", func() bool { return h.Sessions() == 1 })
	c.rid += 2 // next+2 with requests=2
	r := c.post("", "")
	if cond, ok := r.terminated(); !ok || cond != "item-not-found" {
		t.Errorf("a rid beyond the window: %s, want terminate item-not-found", r)
	}
	waitFor(t, "the XMPP session to end", func() bool { return h.Sessions() == 0 })
	c.rid -= 3
	if cond, ok := c.post("", "").terminated(); !ok || cond != "item-not-found" {
		t.Errorf("a request to the ended session: want item-not-found")
	}
}

// Bad requests end their own session with a terminal condition, with
// HTTP 200, and leave other sessions alone.
func TestBOSHBadRequests(t *testing.T) {
	h := hubtest.Start(t)
	e := boshServe(t, h, hub.BOSHConfig{}, false)
	pw := h.Account(t, "browser", devices.RoleOperator)
	other := boshLogin(t, e, "browser", pw, "other")

	for _, tc := range []struct{ name, body, cond string }{
		{"not XML", "hello", "bad-request"},
		{"unclosed", "<body xmlns='" + nsHTTPBind + "' rid='1' to='localhost' wait='60' hold='1'>", "bad-request"},
		{"wrong namespace", "<body xmlns='jabber:client' rid='1' to='localhost' wait='60' hold='1'/>", "bad-request"},
		{"no rid", "<body xmlns='" + nsHTTPBind + "' to='localhost' wait='60' hold='1'/>", "bad-request"},
		{"no wait", "<body xmlns='" + nsHTTPBind + "' rid='1' to='localhost' hold='1'/>", "bad-request"},
		{"bad rid", "<body xmlns='" + nsHTTPBind + "' rid='x' to='localhost' wait='60' hold='1'/>", "bad-request"},
		{"comment", "<body xmlns='" + nsHTTPBind + "' rid='1' to='localhost' wait='60' hold='1'><!-- hi --></body>", "bad-request"},
		{"text in body", "<body xmlns='" + nsHTTPBind + "' rid='1' to='localhost' wait='60' hold='1'>text</body>", "bad-request"},
		{"wrong host", "<body xmlns='" + nsHTTPBind + "' rid='1' to='example.org' wait='60' hold='1'/>", "host-unknown"},
		{"unknown sid", "<body xmlns='" + nsHTTPBind + "' rid='1' sid='nosuchsession'/>", "item-not-found"},
	} {
		r := e.postRaw(tc.body)
		if cond, ok := r.terminated(); r.err != nil || !ok || cond != tc.cond {
			t.Errorf("%s: %s %v, want terminate %s", tc.name, r, r.err, tc.cond)
		}
	}

	// Malformed XML in a session's body ends that session only.
	c, _ := boshCreateSession(t, e, 60)
	r := e.postRaw(c.body("", "<message xmlns='jabber:client'><body>broken</message>"))
	if cond, ok := r.terminated(); r.err != nil || !ok || cond != "bad-request" {
		t.Errorf("a malformed body: %s %v, want terminate bad-request", r, r.err)
	}
	if cond, ok := c.post("", "").terminated(); !ok || cond != "item-not-found" {
		t.Errorf("the session of the malformed body goes on")
	}
	// Before bind a body is limited to 16 KiB.
	c, _ = boshCreateSession(t, e, 60)
	big := "<message xmlns='jabber:client'><body>" + strings.Repeat("x", 17<<10) + "</body></message>"
	if cond, ok := c.post("", big).terminated(); !ok || cond != "policy-violation" {
		t.Errorf("a 17 KiB body before bind: want terminate policy-violation")
	}
	// A body above the stanza limit is refused even without a session.
	r = e.postRaw("<body xmlns='" + nsHTTPBind + "' rid='1'>" + strings.Repeat(" ", 300<<10) + "</body>")
	if cond, ok := r.terminated(); r.err != nil || !ok || cond != "policy-violation" {
		t.Errorf("a 300 KiB body: %s %v, want terminate policy-violation", r, r.err)
	}
	other.ping("still-here")
}

// After bind, a body may be as large as a stanza may be.
func TestBOSHLargeStanzaAfterBind(t *testing.T) {
	h := hubtest.Start(t)
	e := boshServe(t, h, hub.BOSHConfig{}, false)
	pw := h.Account(t, "browser", devices.RoleOperator)
	bob := h.Login(t, "bob", devices.RoleOperator)
	c := boshLogin(t, e, "browser", pw, "tab")
	text := strings.Repeat("y", 100<<10)
	held := c.start("", fmt.Sprintf(`<message xmlns='jabber:client' to='%s' type='chat' id='big'><body>%s</body></message>`, bob.JID, text))
	if m := bob.WaitFor("message", isMessage); m.Find("body").Text != text {
		t.Errorf("bob got a body of %d bytes, want %d", len(m.Find("body").Text), len(text))
	}
	c.ping("after")
	c.wait(held)
}

// Too many simultaneous requests end the session with policy-violation.
func TestBOSHTooManyRequests(t *testing.T) {
	h := hubtest.Start(t)
	e := boshServe(t, h, hub.BOSHConfig{}, false)
	pw := h.Account(t, "browser", devices.RoleOperator)
	c := boshLogin(t, e, "browser", pw, "tab")
	// Repeats of one held request: each is one more open request.
	raw := c.body("", "")
	var chs []chan boshResp
	for range 4 {
		ch := make(chan boshResp, 1)
		go func() { ch <- e.postRaw(raw) }()
		chs = append(chs, ch)
	}
	conds := map[string]int{}
	for _, ch := range chs {
		r := c.wait(ch)
		cond, _ := r.terminated()
		conds[cond]++
	}
	if conds["policy-violation"] == 0 {
		t.Errorf("four requests at once with requests=2: conditions %v, want policy-violation", conds)
	}
}

// The client's terminate ends the BOSH session and the XMPP session, with
// unavailable presence to its contacts.
func TestBOSHTerminate(t *testing.T) {
	h := hubtest.Start(t)
	e := boshServe(t, h, hub.BOSHConfig{}, false)
	pw := h.Account(t, "car", devices.RoleDevice, "fleet")
	op := h.Login(t, "op", devices.RoleOperator, "fleet")
	op.Send("<presence/>")
	c := boshLogin(t, e, "car", pw, "gps")
	held := c.start("", "<presence xmlns='jabber:client'/>")
	op.WaitFor("car online", isPresenceFrom(c.jid, ""))
	r := c.post(" type='terminate'", "<presence xmlns='jabber:client' type='unavailable'/>")
	if cond, ok := r.terminated(); !ok || cond != "" {
		t.Errorf("terminate answered %s, want a terminate body without condition", r)
	}
	c.wait(held)
	op.WaitFor("car offline", isPresenceFrom(c.jid, "unavailable"))
	waitFor(t, "the XMPP session to end", func() bool { return h.Sessions() == 1 })
	if cond, ok := c.post("", "").terminated(); !ok || cond != "item-not-found" {
		t.Errorf("a request after terminate: want item-not-found")
	}
}

// A session without requests ends after the inactivity period, with
// unavailable presence; a pause stretches that period once, up to
// maxpause.
func TestBOSHInactivityAndPause(t *testing.T) {
	h := hubtest.Start(t)
	e := boshServe(t, h, hub.BOSHConfig{MaxWait: time.Second, Inactivity: time.Second, MaxPause: 3 * time.Second}, false)
	pw := h.Account(t, "car", devices.RoleDevice, "fleet")
	op := h.Login(t, "op", devices.RoleOperator, "fleet")
	op.Send("<presence/>")

	// The periods start as the hub answers the last request, a moment
	// before the client has the answer: hence the margin.
	c := boshLogin(t, e, "car", pw, "gps")
	c.post("", "<presence xmlns='jabber:client'/>")
	idle := time.Now()
	op.WaitFor("car online", isPresenceFrom(c.jid, ""))
	op.WaitFor("car gone after inactivity", isPresenceFrom(c.jid, "unavailable"))
	if d := time.Since(idle); d < 900*time.Millisecond {
		t.Errorf("the session ended %v after its last request, before the 1 s inactivity", d)
	}

	c = boshLogin(t, e, "car", pw, "gps")
	c.post("", "<presence xmlns='jabber:client'/>")
	op.WaitFor("car online again", isPresenceFrom(c.jid, ""))
	paused := time.Now()
	if r := c.post(" pause='2'", ""); r.body.Attr("type") == "terminate" {
		t.Fatalf("pause: %s", r)
	}
	op.WaitFor("car gone after its pause", isPresenceFrom(c.jid, "unavailable"))
	if d := time.Since(paused); d < 1900*time.Millisecond {
		t.Errorf("the paused session ended after %v, before its 2 s pause", d)
	}

	c = boshLogin(t, e, "car", pw, "gps")
	if cond, ok := c.post(" pause='4'", "").terminated(); !ok || cond != "policy-violation" {
		t.Errorf("a pause beyond maxpause: want terminate policy-violation")
	}
}

// A resumed pause: the next request before the pause ends keeps the
// session.
func TestBOSHPauseResume(t *testing.T) {
	h := hubtest.Start(t)
	e := boshServe(t, h, hub.BOSHConfig{MaxWait: time.Second, Inactivity: time.Second, MaxPause: 10 * time.Second}, false)
	pw := h.Account(t, "car", devices.RoleDevice)
	c := boshLogin(t, e, "car", pw, "gps")
	c.post(" pause='10'", "")
	// Past the inactivity period the session is still there.
	resumed := time.Now().Add(1500 * time.Millisecond)
	waitFor(t, "a moment past the inactivity period", func() bool { return time.Now().After(resumed) })
	if h.Sessions() != 1 {
		t.Fatalf("the paused session ended within its pause")
	}
	c.ping("resumed")
}

// Per-address connection limits count BOSH sessions with TCP connections.
func TestBOSHSharesConnectionLimits(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Limits.MaxConnsPerIP = 1 })
	e := boshServe(t, h, hub.BOSHConfig{}, false)
	h.Login(t, "bob", devices.RoleOperator)
	r := e.postRaw(fmt.Sprintf(boshCreate, 1, 60))
	if cond, ok := r.terminated(); r.err != nil || !ok || cond != "remote-stream-error" || r.body.Find("error/policy-violation") == nil {
		t.Errorf("a BOSH session over the per-address limit: %s %v, want terminate with a policy-violation stream error", r, r.err)
	}
}

// Browsers on other origins may use the endpoint: the preflight is
// answered and every answer allows any origin.
func TestBOSHCORS(t *testing.T) {
	h := hubtest.Start(t)
	e := boshServe(t, h, hub.BOSHConfig{}, false)
	req, _ := http.NewRequest("OPTIONS", e.url, nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	res, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	hd := res.Header
	if res.StatusCode/100 != 2 || hd.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(hd.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(hd.Get("Access-Control-Allow-Headers")), "content-type") {
		t.Errorf("preflight: %d %v", res.StatusCode, hd)
	}
	req, _ = http.NewRequest("POST", e.url, strings.NewReader(fmt.Sprintf(boshCreate, 1, 60)))
	req.Header.Set("Origin", "https://app.example")
	res, err = e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("POST answer: Access-Control-Allow-Origin %q", res.Header.Get("Access-Control-Allow-Origin"))
	}
	res, err = e.hc.Get(e.url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", res.StatusCode)
	}
}

// When the hub ends the stream, held requests learn why: a stream error
// comes inside a terminate body with remote-stream-error (XEP-0206 §7), a
// connection the hub drops without one as remote-connection-failed.
func TestBOSHHubEndsStream(t *testing.T) {
	h := hubtest.Start(t)
	e := boshServe(t, h, hub.BOSHConfig{}, false)
	pw := h.Account(t, "browser", devices.RoleOperator)
	gpw := h.Account(t, "gone2", devices.RoleOperator)

	removed := boshLogin(t, e, "gone2", gpw, "tab")
	held := removed.start("", "")
	waitFor(t, "the request held", func() bool { _, n := hub.BOSHWaiting(e.handler, removed.sid); return n == 1 })
	if err := h.Accounts.Remove("gone2"); err != nil {
		t.Fatal(err)
	}
	r := removed.wait(held)
	if cond, ok := r.terminated(); !ok || cond != "remote-stream-error" || r.body.Find("error/not-authorized") == nil {
		t.Errorf("account removed: %s, want terminate remote-stream-error with not-authorized", r)
	}

	bound := boshLogin(t, e, "browser", pw, "tab")
	boundHeld := bound.start("", "")
	negotiating, _ := boshCreateSession(t, e, 60)
	negHeld := negotiating.start("", "")
	waitFor(t, "both requests held", func() bool {
		_, b := hub.BOSHWaiting(e.handler, bound.sid)
		_, n := hub.BOSHWaiting(e.handler, negotiating.sid)
		return b == 1 && n == 1
	})
	h.Stop()
	r = bound.wait(boundHeld)
	if cond, ok := r.terminated(); !ok || cond != "remote-stream-error" || r.body.Find("error/system-shutdown") == nil {
		t.Errorf("hub shut down, bound session: %s, want terminate remote-stream-error with system-shutdown", r)
	}
	r = negotiating.wait(negHeld)
	if cond, ok := r.terminated(); !ok || cond != "remote-connection-failed" {
		t.Errorf("hub shut down, session still negotiating: %s, want terminate remote-connection-failed", r)
	}
}

// The number of BOSH sessions is bounded.
func TestBOSHMaxSessions(t *testing.T) {
	h := hubtest.Start(t)
	e := boshServe(t, h, hub.BOSHConfig{MaxSessions: 1}, false)
	boshCreateSession(t, e, 60)
	r := e.postRaw(fmt.Sprintf(boshCreate, 1, 60))
	if cond, ok := r.terminated(); r.err != nil || !ok || cond != "policy-violation" {
		t.Errorf("a second session with MaxSessions 1: %s %v, want terminate policy-violation", r, r.err)
	}
}
