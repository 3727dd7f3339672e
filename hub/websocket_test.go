package hub_test

// XMPP over WebSocket (RFC 7395), spoken by hand: each test dials the hub's
// WebSocketHandler with coder/websocket's client and checks every message
// it gets, so that the framing itself is under test (one complete element
// per message, <open/> and <close/>, namespaces declared on each element).

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"

	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
	"mellium.im/sasl"
)

const (
	nsFraming = "urn:ietf:params:xml:ns:xmpp-framing"
	nsStreams = "http://etherx.jabber.org/streams"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
)

// wsServe serves h's WebSocket handler on a loopback port, over TLS when
// secure, and returns its ws:// or wss:// URL and the client to dial with.
// wrap, when given, wraps the handler.
func wsServe(t testing.TB, h *hubtest.Hub, secure bool, wrap ...func(http.Handler) http.Handler) (string, *http.Client) {
	t.Helper()
	srv := httpServe(t, "/xmpp-websocket", h.WebSocketHandler(), secure, wrap...)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/xmpp-websocket", srv.Client()
}

// wsClient is a raw RFC 7395 client.
type wsClient struct {
	t   *testing.T
	c   *websocket.Conn
	jid string
}

func wsDial(t *testing.T, url string, hc *http.Client) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), xmpptest.Timeout)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"xmpp"}, HTTPClient: hc})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "xmpp" {
		t.Fatalf("subprotocol %q, want xmpp (RFC 7395 §3.2)", got)
	}
	c.SetReadLimit(-1)
	w := &wsClient{t: t, c: c}
	t.Cleanup(func() { c.CloseNow() })
	return w
}

func (w *wsClient) send(format string, args ...any) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), xmpptest.Timeout)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, format, args...)); err != nil {
		w.t.Fatalf("send: %v", err)
	}
}

// read returns the next message, or the error that ended the connection.
func (w *wsClient) read() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), xmpptest.Timeout)
	defer cancel()
	typ, b, err := w.c.Read(ctx)
	if err == nil && typ != websocket.MessageText {
		return nil, fmt.Errorf("a %v message, want text (RFC 7395 §3.2)", typ)
	}
	return b, err
}

// next returns the next message as a node. It fails the test unless the
// message is exactly one well-formed element that declares its namespace.
func (w *wsClient) next() (*xmpptest.Node, string) {
	w.t.Helper()
	b, err := w.read()
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return parseOne(w.t, b), string(b)
}

// parseOne decodes a message that must hold one complete element, which
// starts the message (RFC 7395 §3.3.3: the first character is '<').
func parseOne(t *testing.T, b []byte) *xmpptest.Node {
	t.Helper()
	if len(b) == 0 || b[0] != '<' {
		t.Fatalf("message %q does not start with '<'", b)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	var n xmpptest.Node
	if err := d.Decode(&n); err != nil {
		t.Fatalf("message %q: %v", b, err)
	}
	if tok, err := d.Token(); err != io.EOF {
		t.Fatalf("message %q holds more than one element: %v %v", b, tok, err)
	}
	if n.XMLName.Space == "" {
		t.Fatalf("message %q: the element declares no namespace", b)
	}
	return &n
}

// expect reads a message and fails unless it is space/local.
func (w *wsClient) expect(space, local string) *xmpptest.Node {
	w.t.Helper()
	n, raw := w.next()
	if n.XMLName.Space != space || n.XMLName.Local != local {
		w.t.Fatalf("got %s, want {%s}%s", raw, space, local)
	}
	return n
}

// open sends <open/> and checks the hub's <open/>; it returns the
// features that follow.
func (w *wsClient) open() *xmpptest.Node {
	w.t.Helper()
	w.send(`<open xmlns='%s' to='localhost' version='1.0' xml:lang='en'/>`, nsFraming)
	o := w.expect(nsFraming, "open")
	if o.Attr("from") != "localhost" || o.Attr("version") != "1.0" || o.Attr("id") == "" || o.Attr("lang") != "en" {
		w.t.Fatalf("open %s: want from localhost, version 1.0, an id and xml:lang en (RFC 7395 §3.4, RFC 6120 §4.7.4)", o)
	}
	return w.expect(nsStreams, "features")
}

func mechanisms(features *xmpptest.Node) []string {
	var out []string
	if m := features.Child(nsSASL, "mechanisms"); m != nil {
		for _, c := range m.All("mechanism") {
			out = append(out, c.Text)
		}
	}
	return out
}

// auth runs SCRAM-SHA-256 and returns the last SASL element the hub sent
// (success or failure).
func (w *wsClient) auth(user, password string) *xmpptest.Node {
	w.t.Helper()
	return saslSCRAM(w.t, sasl.ScramSha256, user, password, func(payload string) (*xmpptest.Node, string) {
		w.send("%s", payload)
		return w.next()
	})
}

// login authenticates with SCRAM-SHA-256 on a plain ws:// stream (no
// STARTTLS, no PLAIN offered), restarts the stream and binds resource.
func (w *wsClient) login(user, password, resource string) {
	w.t.Helper()
	f := w.open()
	if f.Child("urn:ietf:params:xml:ns:xmpp-tls", "starttls") != nil {
		w.t.Fatalf("features %s offer STARTTLS over WebSocket", f)
	}
	if n := w.auth(user, password); n.XMLName.Local != "success" {
		w.t.Fatalf("login as %s: %s", user, n)
	}
	f = w.open()
	if f.Child("urn:ietf:params:xml:ns:xmpp-bind", "bind") == nil {
		w.t.Fatalf("features after SASL %s: no bind", f)
	}
	w.send(`<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>%s</resource></bind></iq>`, resource)
	res := w.expect("jabber:client", "iq")
	w.jid = res.Find("bind/jid").Text
	if res.Attr("type") != "result" || w.jid != user+"@localhost/"+resource {
		w.t.Fatalf("bind: %s", res)
	}
}

// waitStanza reads messages until one named local arrives.
func (w *wsClient) waitStanza(local string) *xmpptest.Node {
	w.t.Helper()
	for {
		n, _ := w.next()
		if n.XMLName.Local == local {
			return n
		}
	}
}

// ping sends an XEP-0199 ping to the hub and waits for its answer.
func (w *wsClient) ping() {
	w.t.Helper()
	w.send(`<iq xmlns='jabber:client' type='get' id='ping1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	for {
		n, raw := w.next()
		if n.Name() == "iq" && n.Attr("id") == "ping1" {
			if n.Attr("type") != "result" {
				w.t.Fatalf("ping: %s", raw)
			}
			return
		}
	}
}

// expectEnd checks that the hub ends the stream with a stream error of
// cond (when not empty), then <close/>, then closes the WebSocket.
func (w *wsClient) expectEnd(cond string) {
	w.t.Helper()
	if cond != "" {
		e := w.expect(nsStreams, "error")
		if e.Child("urn:ietf:params:xml:ns:xmpp-streams", cond) == nil {
			w.t.Fatalf("stream error %s, want %s", e, cond)
		}
	}
	w.expect(nsFraming, "close")
	w.expectClosed()
}

// expectClosed reads until the WebSocket ends, which must be a normal
// closure.
func (w *wsClient) expectClosed() {
	w.t.Helper()
	b, err := w.read()
	if err == nil {
		w.t.Fatalf("after <close/>: %q, want the WebSocket to close", b)
	}
	if s := websocket.CloseStatus(err); s != websocket.StatusNormalClosure {
		w.t.Fatalf("the WebSocket ended with %v (status %v), want a normal closure", err, s)
	}
}

func TestWebSocketLoginAndRouteBothWays(t *testing.T) {
	h := hubtest.Start(t)
	url, _ := wsServe(t, h, false)
	pw := h.Account(t, "browser", devices.RoleOperator)
	bob := h.Login(t, "bob", devices.RoleOperator)

	w := wsDial(t, url, nil)
	f := w.open()
	checkPlainHTTPFeatures(t, f, "ws://")
	if n := w.auth("browser", pw); n.XMLName.Local != "success" {
		t.Fatalf("SCRAM-SHA-256: %s", n)
	}
	f = w.open()
	if f.Child("urn:ietf:params:xml:ns:xmpp-sasl", "mechanisms") != nil {
		t.Errorf("features after SASL still offer SASL: %s", f)
	}
	w.send(`<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>tab</resource></bind></iq>`)
	res := w.expect("jabber:client", "iq")
	if j := res.Find("bind/jid"); res.Attr("type") != "result" || j == nil || j.Text != "browser@localhost/tab" {
		t.Fatalf("bind: %s", res)
	}

	// WebSocket -> TCP: stamped with the bound JID like any client's.
	w.send(`<message xmlns='jabber:client' to='%s' from='mallory@localhost/x' type='chat' id='w1'><body>from the browser</body></message>`, bob.JID)
	got := bob.WaitFor("message", isMessage)
	if got.Attr("from") != "browser@localhost/tab" || got.Attr("id") != "w1" || got.Find("body").Text != "from the browser" {
		t.Errorf("bob got %s", got)
	}
	// TCP -> WebSocket: one message, declaring jabber:client.
	bob.Send(`<message to='browser@localhost/tab' type='chat' id='b1'><body>from a TCP client &amp; co</body></message>`)
	m := w.waitStanza("message")
	if m.XMLName.Space != "jabber:client" || m.Attr("from") != bob.JID.String() || m.Attr("id") != "b1" || m.Find("body").Text != "from a TCP client & co" {
		t.Errorf("the browser got %s", m)
	}
	if h.Sessions() != 2 {
		t.Errorf("%d sessions, want 2", h.Sessions())
	}
}

// Stanzas larger than any write buffer, and many small ones written at
// once, each arrive as exactly one message.
func TestWebSocketOneStanzaPerMessage(t *testing.T) {
	h := hubtest.Start(t)
	url, _ := wsServe(t, h, false)
	pw := h.Account(t, "browser", devices.RoleOperator)
	bob := h.Login(t, "bob", devices.RoleOperator)
	w := wsDial(t, url, nil)
	w.login("browser", pw, "tab")

	big := strings.Repeat("0123456789abcdef", 3<<10) // 48 KiB
	bob.Send(`<message to='%s' id='big'><body>%s</body></message>`, w.jid, big)
	m := w.waitStanza("message")
	if m.Attr("id") != "big" || m.Find("body").Text != big {
		t.Fatalf("a 48 KiB stanza arrived as %d bytes of body in its first message", len(m.Find("body").Text))
	}
	// And the other way.
	w.send(`<message xmlns='jabber:client' to='%s' id='big2'><body>%s</body></message>`, bob.JID, big)
	if got := bob.WaitFor("message", isMessage); got.Find("body").Text != big {
		t.Errorf("bob got %d bytes of body", len(got.Find("body").Text))
	}

	// A burst: the session coalesces these into few writes; the framing
	// must cut them apart again.
	const n = 200
	var burst strings.Builder
	for i := range n {
		fmt.Fprintf(&burst, "<message to='%s' id='m%d'><body>%d</body></message>", w.jid, i, i)
	}
	bob.Send("%s", burst.String())
	for i := range n {
		m := w.waitStanza("message")
		if m.Attr("id") != fmt.Sprintf("m%d", i) {
			t.Fatalf("message %d: %s", i, m)
		}
	}
}

func TestWebSocketWrongPassword(t *testing.T) {
	h := hubtest.Start(t)
	url, _ := wsServe(t, h, false)
	h.Account(t, "browser", devices.RoleOperator)
	w := wsDial(t, url, nil)
	w.open()
	n := w.auth("browser", "not the password")
	if n.XMLName.Local != "failure" || n.Child(nsSASL, "not-authorized") == nil {
		t.Fatalf("wrong password: %s, want a failure with not-authorized", n)
	}
}

// A message above the stanza limit ends the stream with policy-violation,
// during negotiation and after it; a message that is not one well-formed
// element ends it with not-well-formed. Other sessions go on.
func TestWebSocketBadInput(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Limits.MaxStanzaSize = 8 << 10 })
	url, _ := wsServe(t, h, false)
	pw := h.Account(t, "browser", devices.RoleOperator)
	bob := h.Login(t, "bob", devices.RoleOperator)
	other := wsDial(t, url, nil)
	other.login("browser", pw, "other")

	huge := strings.Repeat("x", 9<<10)
	for _, tc := range []struct {
		name, send, cond string
		login            bool
	}{
		{"oversized before login", `<open xmlns='` + nsFraming + `' to='localhost' version='1.0' x='` + huge + `'/>`, "policy-violation", false},
		{"oversized stanza", `<message xmlns='jabber:client' to='bob@localhost'><body>` + huge + `</body></message>`, "policy-violation", true},
		{"unclosed element", `<message xmlns='jabber:client'><body>x</message>`, "not-well-formed", true},
		{"two stanzas in one message", `<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>`, "not-well-formed", true},
		{"duplicate attribute", `<message xmlns='jabber:client' to='a@localhost' to='b@localhost'/>`, "not-well-formed", true},
		{"text", `hello`, "not-well-formed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := wsDial(t, url, nil)
			if tc.login {
				w.login("browser", pw, "bad")
			}
			w.send("%s", tc.send)
			if !tc.login {
				w.expect(nsFraming, "open") // RFC 7395 §3.6.2: <open/> before the error
			}
			for {
				n, raw := w.next()
				if n.XMLName.Space == nsStreams && n.Name() == "error" {
					if n.Child("urn:ietf:params:xml:ns:xmpp-streams", tc.cond) == nil {
						t.Fatalf("stream error %s, want %s", raw, tc.cond)
					}
					break
				}
				if n.Name() != "presence" && n.Name() != "iq" {
					t.Fatalf("got %s, want a stream error", raw)
				}
			}
			w.expect(nsFraming, "close")
			w.expectClosed()
			// The other sessions do not notice.
			other.ping()
			other.send(`<message xmlns='jabber:client' to='%s' id='still'><body>ok</body></message>`, bob.JID)
			if got := bob.WaitFor("message", isMessage); got.Attr("id") != "still" {
				t.Fatalf("bob got %s", got)
			}
		})
	}
	// A binary message is not XMPP.
	w := wsDial(t, url, nil)
	w.open()
	ctx, cancel := context.WithTimeout(context.Background(), xmpptest.Timeout)
	defer cancel()
	w.c.Write(ctx, websocket.MessageBinary, []byte("<presence/>"))
	w.expectEnd("unsupported-encoding")
}

// <close/> from the client is answered with <close/> and the WebSocket
// closes; the hub's own <close/> (here after a conflict) comes after its
// stream error, and the client's answer is taken.
func TestWebSocketClose(t *testing.T) {
	h := hubtest.Start(t)
	url, _ := wsServe(t, h, false)
	pw := h.Account(t, "browser", devices.RoleOperator)

	w := wsDial(t, url, nil)
	w.login("browser", pw, "tab")
	w.send(`<close xmlns='%s'/>`, nsFraming)
	w.expect(nsFraming, "close")
	w.expectClosed()
	waitFor(t, "the session to end", func() bool { return h.Sessions() == 0 })

	first := wsDial(t, url, nil)
	first.login("browser", pw, "tab")
	second := wsDial(t, url, nil)
	second.login("browser", pw, "tab")
	first.expect(nsStreams, "error")
	first.expect(nsFraming, "close")
	first.send(`<close xmlns='%s'/>`, nsFraming)
	first.expectClosed()
	second.ping()
}

// Over wss:// the stream is secure: PLAIN is offered and works.
func TestWebSocketSecurePlain(t *testing.T) {
	h := hubtest.Start(t)
	url, hc := wsServe(t, h, true)
	pw := h.Account(t, "browser", devices.RoleOperator)
	w := wsDial(t, url, hc)
	f := w.open()
	if got := mechanisms(f); !strings.Contains(strings.Join(got, ","), "PLAIN") {
		t.Fatalf("mechanisms over wss:// %v, want PLAIN among them", got)
	}
	w.send(`<auth xmlns='%s' mechanism='PLAIN'>%s</auth>`, nsSASL, base64.StdEncoding.EncodeToString([]byte("\x00browser\x00"+pw)))
	w.expect(nsSASL, "success")
}

// Plain ws:// from another host is refused unless plain is allowed: the
// password exchange would cross the network unencrypted.
func TestWebSocketPlainFromElsewhere(t *testing.T) {
	elsewhere := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.RemoteAddr = "192.0.2.7:40000" // TEST-NET-1
			next.ServeHTTP(w, r)
		})
	}
	h := hubtest.Start(t)
	url, _ := wsServe(t, h, false, elsewhere)
	w := wsDial(t, url, nil)
	w.send(`<open xmlns='%s' to='localhost' version='1.0'/>`, nsFraming)
	w.expect(nsFraming, "open")
	w.expectEnd("policy-violation")

	h2 := hubtest.Start(t, func(c *hub.Config) { c.AllowPlain = true })
	url2, _ := wsServe(t, h2, false, elsewhere)
	pw := h2.Account(t, "browser", devices.RoleOperator)
	w2 := wsDial(t, url2, nil)
	w2.login("browser", pw, "tab")
}

// Behind a trusted proxy the client's address and TLS leg count, not the
// proxy's: a client elsewhere over plain HTTP is refused although the proxy
// is on loopback, and one that reached the proxy over TLS gets PLAIN.
func TestWebSocketBehindAProxy(t *testing.T) {
	via := func(secure bool) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				next.ServeHTTP(w, hub.Forwarded(r, netip.MustParseAddr("192.0.2.7"), secure))
			})
		}
	}
	h := hubtest.Start(t)
	url, _ := wsServe(t, h, false, via(false))
	w := wsDial(t, url, nil)
	w.send(`<open xmlns='%s' to='localhost' version='1.0'/>`, nsFraming)
	w.expect(nsFraming, "open")
	w.expectEnd("policy-violation")

	url2, _ := wsServe(t, h, false, via(true))
	pw := h.Account(t, "browser", devices.RoleOperator)
	w2 := wsDial(t, url2, nil)
	if got := mechanisms(w2.open()); !strings.Contains(strings.Join(got, ","), "PLAIN") {
		t.Fatalf("mechanisms for a client on TLS to the proxy: %v, want PLAIN among them", got)
	}
	w2.send(`<auth xmlns='%s' mechanism='PLAIN'>%s</auth>`, nsSASL, base64.StdEncoding.EncodeToString([]byte("\x00browser\x00"+pw)))
	w2.expect(nsSASL, "success")
}

// Before its session is bound a client may send small messages only: an
// unauthenticated client cannot make the hub hold its full stanza size. The
// full size applies from the bind on.
func TestWebSocketSmallMessagesBeforeLogin(t *testing.T) {
	h := hubtest.Start(t) // 256 KiB stanzas
	url, _ := wsServe(t, h, false)
	w := wsDial(t, url, nil)
	w.open()
	w.send(`<auth xmlns='%s' mechanism='SCRAM-SHA-256'>%s</auth>`, nsSASL, strings.Repeat("A", 20<<10))
	w.expectEnd("policy-violation")

	pw := h.Account(t, "browser", devices.RoleOperator)
	bob := h.Login(t, "bob", devices.RoleOperator)
	bob.Send("<presence/>")
	bob.Sync()
	w2 := wsDial(t, url, nil)
	w2.login("browser", pw, "tab")
	w2.send(`<message xmlns='jabber:client' to='bob@localhost' type='chat'><body>%s</body></message>`, strings.Repeat("y", 100<<10))
	if m := bob.WaitFor("the large message", isMessage); len(m.Child("", "body").Text) != 100<<10 {
		t.Errorf("bob got a body of %d bytes", len(m.Child("", "body").Text))
	}
}

// The per-address limits and timeouts of TCP apply.
func TestWebSocketLimits(t *testing.T) {
	t.Run("connections per address", func(t *testing.T) {
		h := hubtest.Start(t, func(c *hub.Config) { c.Limits.MaxConnsPerIP = 1 })
		url, _ := wsServe(t, h, false)
		pw := h.Account(t, "browser", devices.RoleOperator)
		a := wsDial(t, url, nil)
		a.login("browser", pw, "a")
		b := wsDial(t, url, nil)
		b.expect(nsFraming, "open")
		b.expectEnd("policy-violation")
		a.ping()
	})
	t.Run("negotiation timeout", func(t *testing.T) {
		h := hubtest.Start(t, func(c *hub.Config) { c.Limits.NegotiationTimeout = 300 * time.Millisecond })
		url, _ := wsServe(t, h, false)
		w := wsDial(t, url, nil)
		w.expect(nsFraming, "open")
		w.expectEnd("connection-timeout")
	})
	t.Run("idle timeout", func(t *testing.T) {
		h := hubtest.Start(t, func(c *hub.Config) { c.Limits.IdleTimeout = 300 * time.Millisecond })
		url, _ := wsServe(t, h, false)
		pw := h.Account(t, "browser", devices.RoleOperator)
		w := wsDial(t, url, nil)
		w.login("browser", pw, "tab")
		// The hub pings first (XEP-0199 §4.2): the read deadline that
		// passed left the connection usable. Unanswered, it gives up.
		ping := w.waitStanza("iq")
		if ping.Child("urn:xmpp:ping", "ping") == nil {
			t.Fatalf("after idling: %s, want a ping", ping)
		}
		w.expectEnd("connection-timeout")
	})
	t.Run("failed logins", func(t *testing.T) {
		h := hubtest.Start(t, func(c *hub.Config) { c.Limits.MaxAuthFailures = 1 })
		url, _ := wsServe(t, h, false)
		h.Account(t, "browser", devices.RoleOperator)
		w := wsDial(t, url, nil)
		w.open()
		if n := w.auth("browser", "wrong"); n.Child(nsSASL, "not-authorized") == nil {
			t.Fatalf("wrong password: %s", n)
		}
		again := wsDial(t, url, nil)
		again.expect(nsFraming, "open")
		again.expectEnd("policy-violation")
	})
}

// A plain GET is told to upgrade; a WebSocket without subprotocol xmpp is
// refused before the upgrade.
func TestWebSocketHandshakeChecks(t *testing.T) {
	h := hubtest.Start(t)
	url, hc := wsServe(t, h, false)
	resp, err := hc.Get("http" + strings.TrimPrefix(url, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("GET: %s, want 426", resp.Status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), xmpptest.Timeout)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, nil)
	if err == nil {
		c.CloseNow()
		t.Fatal("a WebSocket without subprotocol xmpp was accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("without subprotocol: %v, want 400", err)
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(xmpptest.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkWebSocketMessage measures messages routed from one WebSocket
// client through the hub to another (plain ws:// on loopback), each
// message its own WebSocket message both ways.
func BenchmarkWebSocketMessage(b *testing.B) {
	h := hubtest.Start(b, unshaped)
	url, _ := wsServe(b, h, false)
	spw := h.Account(b, "sender", devices.RoleDevice)
	rpw := h.Account(b, "receiver", devices.RoleOperator)
	sender, _ := benchWSLogin(b, url, sasl.ScramSha256, "sender", spw, "s")
	receiver, _ := benchWSLogin(b, url, sasl.ScramSha256, "receiver", rpw, "r")
	send, recv := sender.c, receiver.c
	b.Cleanup(func() { send.CloseNow(); recv.CloseNow() })
	msg := []byte("<message xmlns='jabber:client' to='receiver@localhost/r' type='chat' id='m'><body>52.5200,13.4050 42km/h</body></message>")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	errc := make(chan error, 1)
	go func() {
		for range b.N {
			if err := send.Write(ctx, websocket.MessageText, msg); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := 0; i < b.N; {
		_, m, err := recv.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if bytes.HasPrefix(m, []byte("<message")) {
			i++
		}
	}
	b.StopTimer()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// benchWS is a raw RFC 7395 client for benchmarks, without a testing.T.
type benchWS struct {
	b *testing.B
	c *websocket.Conn
}

func (w benchWS) write(s string) {
	if err := w.c.Write(context.Background(), websocket.MessageText, []byte(s)); err != nil {
		w.b.Fatal(err)
	}
}

func (w benchWS) read() string {
	_, m, err := w.c.Read(context.Background())
	if err != nil {
		w.b.Fatal(err)
	}
	return string(m)
}

// open sends <open/> and skips the hub's <open/> and features.
func (w benchWS) open() {
	w.write(`<open xmlns='` + nsFraming + `' to='localhost' version='1.0'/>`)
	w.read()
	w.read()
}

// benchWSLogin logs in over WebSocket with mech (a SCRAM-SHA-256
// client), binds resource (one the hub picks when "") and returns the
// client and the bound JID.
func benchWSLogin(b *testing.B, url string, mech sasl.Mechanism, user, pw, resource string) (benchWS, string) {
	c, _, err := websocket.Dial(context.Background(), url, &websocket.DialOptions{Subprotocols: []string{"xmpp"}})
	if err != nil {
		b.Fatal(err)
	}
	c.SetReadLimit(-1)
	w := benchWS{b: b, c: c}
	w.open()
	n := saslSCRAM(b, mech, user, pw, func(payload string) (*xmpptest.Node, string) {
		w.write(payload)
		m := w.read()
		var n xmpptest.Node
		xml.Unmarshal([]byte(m), &n)
		return &n, m
	})
	if n.XMLName.Local != "success" {
		b.Fatalf("login as %s: %s", user, n)
	}
	w.open()
	if resource != "" {
		resource = "<resource>" + resource + "</resource>"
	}
	w.write(`<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>` + resource + `</bind></iq>`)
	bound := w.read()
	return w, bound[strings.Index(bound, "<jid>")+5 : strings.Index(bound, "</jid>")]
}
