package hub_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
	"mellium.im/sasl"
)

// stillServes checks that a bystander's session keeps working.
func stillServes(t *testing.T, c *xmpptest.Client) {
	t.Helper()
	res := c.IQ("<iq type='get' id='ID' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	if res.Attr("type") != "result" {
		t.Fatalf("bystander's ping: %s", res)
	}
}

func TestBadStanzasEndOnlyTheirStream(t *testing.T) {
	for _, tc := range []struct {
		name, send, cond string
	}{
		{"malformed XML", "<message><body>unclosed</message>", "not-well-formed"},
		{"undefined entity", "<message><body>&nbsp;</body></message>", "not-well-formed"},
		{"comment", "<message><!-- x --></message>", "restricted-xml"},
		{"oversized stanza", "<message><body>" + strings.Repeat("x", 20000) + "</body></message>", "policy-violation"},
		{"nested too deeply", "<message>" + strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40) + "</message>", "policy-violation"},
		{"unknown top-level element", "<hello/>", "unsupported-stanza-type"},
		{"undeclared prefix", "<message><x:geo/></message>", "not-well-formed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hubtest.Start(t, func(c *hub.Config) { c.Limits.MaxStanzaSize = 10000; c.Limits.MaxDepth = 32 })
			bystander := h.Login(t, "bystander", devices.RoleOperator)
			bystander.Send("<presence/>")
			bad := h.Login(t, "bad", devices.RoleDevice)
			bad.Send("%s", tc.send)
			err := bad.Ended()
			if got := xmpptest.StreamErrorCondition(err); got != tc.cond {
				t.Errorf("stream error %q (%v), want %q", got, err, tc.cond)
			}
			stillServes(t, bystander)
			for _, n := range bystander.Drain() {
				if n.Name() == "message" {
					t.Errorf("the bad stanza reached someone: %s", n)
				}
			}
		})
	}
}

func TestMalformedXMLBeforeLogin(t *testing.T) {
	h := hubtest.Start(t)
	r := xmpptest.DialRaw(t, h.Addr)
	r.Send("<?xml version='1.0'?><stream:stream to='localhost' version='1.0 xmlns='jabber:client'>")
	out := r.ReadToEOF()
	if !strings.Contains(out, "<not-well-formed") || !strings.Contains(out, "</stream:stream>") {
		t.Errorf("got %q", out)
	}
	// Garbage instead of a stream header still gets a proper stream.
	r = xmpptest.DialRaw(t, h.Addr)
	r.Send("GET / HTTP/1.1\r\n\r\n")
	out = r.ReadToEOF()
	if !strings.HasPrefix(out, "<?xml") || !strings.Contains(out, "<stream:error>") {
		t.Errorf("got %q", out)
	}
}

func TestWrongPasswordAndRepeatedFailures(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Limits.MaxAuthFailures = 3 })
	h.Account(t, "car", devices.RoleDevice)
	for _, mech := range []sasl.Mechanism{sasl.ScramSha256, sasl.ScramSha1, sasl.Plain} {
		o := h.Options()
		o.Mechanism = mech
		if _, err := xmpptest.DialErr(t, o, "car", "wrong"); err == nil || !strings.Contains(err.Error(), "not-authorized") {
			t.Errorf("%s with a wrong password: %v", mech.Name, err)
		}
	}
	// Three failures from this address: the next connection is refused
	// before it can guess again.
	r := xmpptest.DialRaw(t, h.Addr)
	out := r.ReadToEOF()
	if !strings.Contains(out, "<policy-violation") || !strings.Contains(out, "failed logins") {
		t.Errorf("after too many failures: %q", out)
	}
}

func TestFailureDelayGrows(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Limits.MaxAuthFailures = 10 })
	h.Account(t, "car", devices.RoleDevice)
	o := h.Options()
	var took []time.Duration
	for range 3 {
		start := time.Now()
		xmpptest.DialErr(t, o, "car", "wrong")
		took = append(took, time.Since(start))
	}
	// 100 ms, 200 ms, 400 ms of delay: each attempt waits longer.
	if took[2] < 400*time.Millisecond || took[1] < 200*time.Millisecond {
		t.Errorf("failures were not slowed down: %v", took)
	}
}

func TestStreamFromNamingAnotherAccountIsIgnored(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "bob", devices.RoleOperator)
	h.Account(t, "alice", devices.RoleOperator)
	r := xmpptest.DialRaw(t, h.Addr)
	r.Send("<?xml version='1.0'?><stream:stream to='localhost' from='alice@localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
	r.ReadUntil("</stream:features>")
	r.Send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	r.ReadUntil("<proceed")
	r.ReadUntil(">")
	r.UpgradeTLS(h.ClientTLS)
	r.Send("<?xml version='1.0'?><stream:stream to='localhost' from='alice@localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
	r.ReadUntil("</stream:features>")
	if out := r.AuthPlain("bob", pw); !strings.Contains(out, "<success") {
		t.Fatalf("auth: %q", out)
	}
	r.Send("<?xml version='1.0'?><stream:stream to='localhost' from='alice@localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
	r.ReadUntil("</stream:features>")
	r.Send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>laptop</resource></bind></iq>")
	out := r.ReadUntil("</iq>")
	if !strings.Contains(out, "<jid>bob@localhost/laptop</jid>") {
		t.Errorf("bound: %q, want bob@localhost/laptop", out)
	}
	r.Send("<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
	if out := r.ReadUntil("id='s1'/>"); !strings.Contains(out, "type='result'") {
		t.Errorf("legacy session: %q", out)
	}
}

func TestUnofferedMechanismsAreRefused(t *testing.T) {
	h := hubtest.Start(t)
	h.Account(t, "car", devices.RoleDevice)
	for _, mech := range []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "DIGEST-MD5", ""} {
		r := xmpptest.DialRaw(t, h.Addr)
		features := r.StartTLS("localhost", h.ClientTLS)
		if strings.Contains(features, "PLUS") {
			t.Fatalf("a channel-binding mechanism is offered: %q", features)
		}
		r.Send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='" + mech + "'>biwsbj1jYXIscj1hYmM=</auth>")
		if out := r.ReadUntil("</failure>"); !strings.Contains(out, "<invalid-mechanism") {
			t.Errorf("%q: %q", mech, out)
		}
	}
	stillServes(t, h.Login(t, "after", devices.RoleOperator))
}

func TestTLSIsRequiredAndPlainNeedsTLS(t *testing.T) {
	h := hubtest.Start(t)
	r := xmpptest.DialRaw(t, h.Addr)
	features := r.Open("localhost")
	if !strings.Contains(features, "<required") || strings.Contains(features, "<mechanism") {
		t.Errorf("before TLS the hub must require STARTTLS and offer no SASL: %q", features)
	}
	// With plain connections allowed, PLAIN is still only offered over TLS.
	h = hubtest.Start(t, func(c *hub.Config) { c.AllowPlain = true })
	r = xmpptest.DialRaw(t, h.Addr)
	features = r.Open("localhost")
	if strings.Contains(features, "<required") || !strings.Contains(features, "SCRAM-SHA-256") || strings.Contains(features, ">PLAIN<") {
		t.Errorf("plain allowed: %q", features)
	}
	pw := h.Account(t, "dev", devices.RoleDevice)
	o := h.Options()
	o.NoTLS = true
	stillServes(t, xmpptest.Dial(t, o, "dev", pw))
	features = xmpptest.DialRaw(t, h.Addr).StartTLS("localhost", h.ClientTLS)
	if !strings.Contains(features, ">PLAIN<") {
		t.Errorf("PLAIN not offered over TLS: %q", features)
	}
}

func TestStreamHeaderChecks(t *testing.T) {
	h := hubtest.Start(t)
	for _, tc := range []struct{ header, cond string }{
		{xmpptest.Header("elsewhere.example"), "host-unknown"},
		{"<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>", "invalid-namespace"},
	} {
		r := xmpptest.DialRaw(t, h.Addr)
		r.Send(tc.header)
		if out := r.ReadToEOF(); !strings.Contains(out, "<"+tc.cond) {
			t.Errorf("%s: %q", tc.cond, out)
		}
	}
}

func TestNegotiationTimeout(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Limits.NegotiationTimeout = 300 * time.Millisecond })
	r := xmpptest.DialRaw(t, h.Addr)
	r.Send(xmpptest.Header("localhost"))
	if out := r.ReadToEOF(); !strings.Contains(out, "<connection-timeout") {
		t.Errorf("got %q", out)
	}
}

func TestIdleClientIsPingedThenDropped(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Limits.IdleTimeout = 300 * time.Millisecond })
	c := h.Login(t, "sleepy", devices.RoleDevice)
	ping := c.WaitFor("server ping", func(n *xmpptest.Node) bool { return n.Child("urn:xmpp:ping", "ping") != nil })
	if ping.Attr("from") != "localhost" || ping.Attr("type") != "get" {
		t.Errorf("ping: %s", ping)
	}
	if got := xmpptest.StreamErrorCondition(c.Ended()); got != "connection-timeout" {
		t.Errorf("ended with %q", got)
	}
	// A client that answers stays.
	awake := h.Login(t, "awake", devices.RoleDevice)
	for range 2 {
		p := awake.WaitFor("server ping", func(n *xmpptest.Node) bool { return n.Child("urn:xmpp:ping", "ping") != nil })
		awake.Send("<iq type='result' id='%s' to='localhost'/>", p.Attr("id"))
	}
	stillServes(t, awake)
}

func TestConnectionsPerAddressAreLimited(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Limits.MaxConnsPerIP = 2 })
	a := xmpptest.DialRaw(t, h.Addr)
	a.Open("localhost")
	b := xmpptest.DialRaw(t, h.Addr)
	b.Open("localhost")
	c := xmpptest.DialRaw(t, h.Addr)
	if out := c.ReadToEOF(); !strings.Contains(out, "<policy-violation") || !strings.Contains(out, "too many connections") {
		t.Errorf("third connection: %q", out)
	}
}

func TestConflictingResourceReplacesOldSession(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "car", devices.RoleDevice)
	login := func() *xmpptest.Raw {
		r := xmpptest.DialRaw(t, h.Addr)
		r.StartTLS("localhost", h.ClientTLS)
		r.AuthPlain("car", pw)
		r.Open("localhost")
		r.Send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>gps</resource></bind></iq>")
		r.ReadUntil("</iq>")
		return r
	}
	old := login()
	login()
	if out := old.ReadToEOF(); !strings.Contains(out, "<conflict") {
		t.Errorf("old session: %q", out)
	}
}

func TestSASLRetriesOnTheSameStream(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "car", devices.RoleDevice)
	r := xmpptest.DialRaw(t, h.Addr)
	r.StartTLS("localhost", h.ClientTLS)
	// Garbage where a SCRAM client-first-message belongs.
	r.Send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>Z2FyYmFnZQ==</auth>")
	if out := r.ReadUntil("</failure>"); !strings.Contains(out, "<malformed-request") {
		t.Errorf("malformed SCRAM: %q", out)
	}
	if out := r.AuthPlain("car", "wrong"); !strings.Contains(out, "<not-authorized") {
		t.Errorf("wrong password: %q", out)
	}
	if out := r.AuthPlain("car", pw); !strings.Contains(out, "<success") {
		t.Errorf("third attempt with the right password: %q", out)
	}
	// A fourth failure on one stream is one too many.
	r = xmpptest.DialRaw(t, h.Addr)
	r.StartTLS("localhost", h.ClientTLS)
	for range 3 {
		if out := r.AuthPlain("car", "wrong"); !strings.Contains(out, "<not-authorized") {
			t.Fatalf("wrong password: %q", out)
		}
	}
	if out := r.ReadToEOF(); !strings.Contains(out, "</stream:stream>") {
		t.Errorf("after three failures: %q", out)
	}
}

func TestLockoutAppliesToConnectionsAlreadyOpen(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Limits.MaxAuthFailures = 2 })
	pw := h.Account(t, "car", devices.RoleDevice)
	early := xmpptest.DialRaw(t, h.Addr)
	early.StartTLS("localhost", h.ClientTLS)
	o := h.Options()
	for range 2 {
		xmpptest.DialErr(t, o, "car", "wrong")
	}
	if out := early.AuthPlain("car", pw); !strings.Contains(out, "<not-authorized") {
		t.Errorf("the right password on a connection opened before the lockout: %q", out)
	}
}

// Many refused at once each get their stream error: nothing left over from
// negotiation (mellium once moved the connection's deadline into the past
// as it ended) may destroy it.
func TestGarbageRefusedUnderLoadGetsStreamErrors(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Limits.MaxConnsPerIP, c.Limits.ConnRate = 0, 0 })
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 40 {
				r := xmpptest.DialRaw(t, h.Addr)
				r.Send("GET / HTTP/1.1\r\n\r\n")
				if out := r.ReadToEOF(); !strings.Contains(out, "<not-well-formed") {
					t.Errorf("got %q", out)
					return
				}
			}
		})
	}
	wg.Wait()
}
