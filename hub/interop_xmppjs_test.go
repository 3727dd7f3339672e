package hub_test

// Interoperability with the real JavaScript client @xmpp/client (xmpp.js),
// pinned in testdata/xmppjs/package-lock.json. Each test starts its own hub
// and runs one of the scripts in testdata/xmppjs with node; a script reports
// what its clients saw as JSON lines on stdout (see testdata/xmppjs/lib.mjs)
// and the test asserts on them. Some tests also put a Go client on the other
// end, so that the two implementations talk to each other through the hub.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
	"github.com/geohub/geohub/internal/xmpptest"
)

// xmppjsTimeout bounds one script; its own waits are bounded by 20s each.
const xmppjsTimeout = 60 * time.Second

// jsEvent is one JSON line a script printed.
type jsEvent map[string]any

// S returns the string at a dotted path ("session.authMechanism"), or "".
func (e jsEvent) S(path string) string {
	s, _ := e.get(path).(string)
	return s
}

// B returns the boolean at a dotted path.
func (e jsEvent) B(path string) bool {
	b, _ := e.get(path).(bool)
	return b
}

// Strings returns the list of strings at a dotted path.
func (e jsEvent) Strings(path string) []string {
	l, _ := e.get(path).([]any)
	out := []string{}
	for _, v := range l {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// E returns the object at a dotted path.
func (e jsEvent) E(path string) jsEvent {
	m, _ := e.get(path).(map[string]any)
	return m
}

func (e jsEvent) get(path string) any {
	var cur any = map[string]any(e)
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func (e jsEvent) String() string {
	b, _ := json.Marshal(e)
	return string(b)
}

// jsRun is a running script.
type jsRun struct {
	t      *testing.T
	script string
	events chan jsEvent // closed when stdout ends
	queue  []jsEvent    // received, not yet taken by Next

	mu     sync.Mutex
	stdout []string
	stderr bytes.Buffer
	done   chan struct{}
	quit   chan struct{} // closed when the test ends: stop delivering events
	err    error         // the exit status, once done is closed
}

// Write collects the script's stderr.
func (r *jsRun) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.Write(p)
}

// startXmppjs runs node on a script in testdata/xmppjs against h. env adds
// NAME=value pairs to the script's environment. When the test fails, the
// script's stdout and stderr (the XML its clients sent and received) go to
// the test log.
func startXmppjs(t *testing.T, h *hubtest.Hub, script string, env ...string) *jsRun {
	t.Helper()
	return startNode(t, h, "hub/testdata/xmppjs", script, env...)
}

// startNode runs script in dir (from the repository's root) the same way,
// for the other JavaScript clients.
func startNode(t *testing.T, h *hubtest.Hub, dir, script string, env ...string) *jsRun {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed to run %s: %v", script, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), xmppjsTimeout)
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = filepath.Join(peers.Root(t), dir)
	cmd.Env = append(os.Environ(),
		"NODE_EXTRA_CA_CERTS="+h.CertFile,
		"XMPP_SERVICE=xmpp://"+h.Addr,
		"XMPP_DOMAIN="+h.Domain(),
	)
	cmd.Env = append(cmd.Env, env...)
	r := &jsRun{t: t, script: script, events: make(chan jsEvent, 100), done: make(chan struct{}), quit: make(chan struct{})}
	cmd.Stderr = r
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", script, err)
	}
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			r.mu.Lock()
			r.stdout = append(r.stdout, line)
			r.mu.Unlock()
			var e jsEvent
			if json.Unmarshal([]byte(line), &e) == nil && e.S("event") != "" {
				select {
				case r.events <- e:
				case <-r.quit: // nobody will read it; it is in r.stdout for the log
				}
			}
		}
		close(r.events)
		r.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		close(r.quit)
		cancel()
		<-r.done
		if t.Failed() {
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Logf("%s exited with %v\n--- stdout:\n%s\n--- stderr:\n%s", script, r.err,
				strings.Join(r.stdout, "\n"), r.stderr.String())
		}
	})
	return r
}

// Next returns the next event called name, failing the test if the script
// ends or takes too long first. Events with other names stay queued.
func (r *jsRun) Next(name string) jsEvent {
	r.t.Helper()
	for i, e := range r.queue {
		if e.S("event") == name {
			r.queue = append(r.queue[:i:i], r.queue[i+1:]...)
			return e
		}
	}
	timeout := time.After(xmppjsTimeout)
	for {
		select {
		case e, ok := <-r.events:
			if !ok {
				<-r.done
				r.t.Fatalf("%s ended (%v) before reporting %q", r.script, r.err, name)
			}
			if e.S("event") == name {
				return e
			}
			r.queue = append(r.queue, e)
		case <-timeout:
			r.t.Fatalf("%s did not report %q in %v", r.script, name, xmppjsTimeout)
		}
	}
}

// Wait waits for the script to end and returns its exit status.
func (r *jsRun) Wait() error {
	r.t.Helper()
	for range r.events {
		// Keep reading so that the script is never blocked on its stdout;
		// the events are in r.stdout for the log.
	}
	<-r.done
	return r.err
}

// MustSucceed waits for the script and fails the test unless it exited 0.
func (r *jsRun) MustSucceed() {
	r.t.Helper()
	if err := r.Wait(); err != nil {
		r.t.Fatalf("%s: %v", r.script, err)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestXmppjsLogin logs @xmpp/client in over STARTTLS with every SASL
// mechanism it has that the hub offers, each forced in turn, with a resource
// of its choosing, and checks that wrong passwords are refused.
func TestXmppjsLogin(t *testing.T) {
	peers.Require(t, "xmppjs")
	// The hub records the server name each TLS client asks for.
	var (
		sniMu sync.Mutex
		sni   string
	)
	lastSNI := func() string {
		sniMu.Lock()
		defer sniMu.Unlock()
		return sni
	}
	h := hubtest.Start(t, func(c *hub.Config) {
		c.TLS.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			sniMu.Lock()
			sni = hello.ServerName
			sniMu.Unlock()
			return nil, nil
		}
	})
	pw := h.Account(t, "js-user", devices.RoleOperator)

	// First with the client's own choice: learn what it has.
	r := startXmppjs(t, h, "login.mjs", "XMPP_USER=js-user", "XMPP_PASSWORD="+pw, "XMPP_RESOURCE=js-default")
	clientMechs := r.Next("client").Strings("mechanisms")
	online := r.Next("online")
	r.MustSucceed()
	t.Logf("@xmpp/client SASL mechanisms: %v; the hub offered %v; usable %v; chosen %s",
		clientMechs, online.Strings("session.offered"), online.Strings("session.usable"), online.S("session.authMechanism"))
	for _, m := range []string{"SCRAM-SHA-1", "PLAIN"} {
		if !slices.Contains(clientMechs, m) {
			t.Errorf("@xmpp/client does not have %s: %v", m, clientMechs)
		}
	}
	offered := online.Strings("session.offered")
	for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"} {
		if !slices.Contains(offered, m) {
			t.Errorf("the hub did not offer %s after STARTTLS: %v", m, offered)
		}
	}
	if got := online.S("jid"); got != "js-user@localhost/js-default" {
		t.Errorf("default mechanism: bound %q, want js-user@localhost/js-default", got)
	}

	var mechs []string
	for _, m := range clientMechs {
		if slices.Contains(offered, m) {
			mechs = append(mechs, m)
		}
	}
	for _, mech := range mechs {
		t.Run(mech, func(t *testing.T) {
			resource := "js-" + strings.ToLower(mech)
			r := startXmppjs(t, h, "login.mjs", "XMPP_USER=js-user", "XMPP_PASSWORD="+pw,
				"XMPP_RESOURCE="+resource, "XMPP_MECHANISM="+mech)
			e := r.Next("online")
			s := e.E("session")
			if !s.B("starttls") || !s.B("secure") || !s.B("tlsAuthorized") {
				t.Errorf("not over verified STARTTLS: %s", s)
			}
			// @xmpp/starttls 0.14 gives node the domain as host, not as
			// servername: the certificate is checked for "localhost" but no
			// SNI is sent. Either way the name is never the address.
			if sni := lastSNI(); sni != "" && sni != "localhost" {
				t.Errorf("TLS server name (SNI) %q, want localhost or none", sni)
			}
			if s.S("authMechanism") != mech {
				t.Errorf("authenticated with %q, want %s", s.S("authMechanism"), mech)
			}
			// The hub must honour the requested resource (RFC 6120 §7.7.2.2
			// lets it override, but nothing here conflicts).
			if got, want := e.S("jid"), "js-user@localhost/"+resource; got != want {
				t.Errorf("bound JID %q, want %q", got, want)
			}
			if p := r.Next("ping"); p.S("type") != "result" || p.S("from") != "localhost" {
				t.Errorf("ping answer: %s", p)
			}
			if c := r.Next("closed"); !c.B("byHub") {
				t.Errorf("the hub did not close its stream when the client closed its own (RFC 6120 §4.4): %s", c)
			}
			r.MustSucceed()
		})
		t.Run(mech+" wrong password", func(t *testing.T) {
			r := startXmppjs(t, h, "login.mjs", "XMPP_USER=js-user", "XMPP_PASSWORD=not-"+pw,
				"XMPP_RESOURCE=js-bad", "XMPP_MECHANISM="+mech)
			e := r.Next("login-failed")
			if e.S("name") != "SASLError" || e.S("condition") != "not-authorized" {
				t.Errorf("wrong password: got %s, want SASLError not-authorized (RFC 6120 §6.5.10)", e)
			}
			if got := e.S("session.authMechanism"); got != mech {
				t.Errorf("tried %q, want %s", got, mech)
			}
			if code := exitCode(r.Wait()); code != 3 {
				t.Errorf("exit status %d, want 3 (login failed)", code)
			}
		})
	}
	t.Run("unknown user", func(t *testing.T) {
		r := startXmppjs(t, h, "login.mjs", "XMPP_USER=nobody", "XMPP_PASSWORD="+pw, "XMPP_MECHANISM=SCRAM-SHA-1")
		if e := r.Next("login-failed"); e.S("condition") != "not-authorized" {
			t.Errorf("unknown user: got %s, want not-authorized", e)
		}
		r.Wait()
	})
	// A mechanism the hub did not offer (@xmpp/client has ANONYMOUS) is
	// refused with invalid-mechanism (RFC 6120 §6.5.5).
	t.Run("mechanism not offered", func(t *testing.T) {
		// The lock file pins a client with ANONYMOUS, and the hub must never
		// offer it: either failing is a change to look at, not to skip.
		if !slices.Contains(clientMechs, "ANONYMOUS") || slices.Contains(offered, "ANONYMOUS") {
			t.Fatalf("want a client with ANONYMOUS and a hub without: client has %v, hub offers %v", clientMechs, offered)
		}
		r := startXmppjs(t, h, "login.mjs", "XMPP_USER=js-user", "XMPP_PASSWORD="+pw, "XMPP_MECHANISM=ANONYMOUS")
		if e := r.Next("login-failed"); e.S("condition") != "invalid-mechanism" {
			t.Errorf("ANONYMOUS: got %s, want invalid-mechanism", e)
		}
		r.Wait()
	})
	// Without the hub's certificate among its CAs, node refuses the TLS
	// connection: verification is on, and nothing is authenticated.
	t.Run("untrusted certificate", func(t *testing.T) {
		r := startXmppjs(t, h, "login.mjs", "XMPP_USER=js-user", "XMPP_PASSWORD="+pw, "NODE_EXTRA_CA_CERTS=")
		e := r.Next("login-failed")
		if e.S("code") == "" || e.S("session.authMechanism") != "" {
			t.Errorf("untrusted certificate: got %s, want a TLS verification error before SASL", e)
		}
		r.Wait()
	})
	// Without a resource, the hub generates one.
	t.Run("no resource", func(t *testing.T) {
		r := startXmppjs(t, h, "login.mjs", "XMPP_USER=js-user", "XMPP_PASSWORD="+pw)
		jid := r.Next("online").S("jid")
		if !strings.HasPrefix(jid, "js-user@localhost/") || len(jid) == len("js-user@localhost/") {
			t.Errorf("bound %q, want js-user@localhost/<generated>", jid)
		}
		r.MustSucceed()
	})
}

// TestXmppjsMessages has two @xmpp/client users exchange messages, and one
// of them exchange messages with a Go client: the hub stamps each with the
// sender's full JID (RFC 6120 §8.1.2.1).
func TestXmppjsMessages(t *testing.T) {
	peers.Require(t, "xmppjs")
	h := hubtest.Start(t)
	alicePw := h.Account(t, "alice", devices.RoleOperator)
	bobPw := h.Account(t, "bob", devices.RoleOperator)
	carol := h.Login(t, "carol", devices.RoleOperator)
	r := startXmppjs(t, h, "messages.mjs", "ALICE_PASSWORD="+alicePw, "BOB_PASSWORD="+bobPw, "GO_PEER="+carol.JID.String())

	online := r.Next("online")
	alice, bob := online.S("alice"), online.S("bob")
	if alice != "alice@localhost/js-alice" || bob != "bob@localhost/js-bob" {
		t.Fatalf("bound %s and %s, want the resources asked for", alice, bob)
	}
	if m := r.Next("bob.received"); m.S("from") != alice || m.S("to") != bob || m.S("type") != "chat" || m.S("body") != "hello bob, from xmpp.js" {
		t.Errorf("bob received %s, want a chat from %s to %s", m, alice, bob)
	}
	if m := r.Next("alice.received"); m.S("from") != bob || m.S("to") != "alice@localhost" || m.S("body") != "hello alice" {
		t.Errorf("alice received %s, want a chat from %s to alice@localhost", m, bob)
	}

	// xmpp.js to Go and back.
	id := r.Next("sent-to-go").S("id")
	got := carol.WaitFor("alice's message", func(n *xmpptest.Node) bool { return n.Name() == "message" && n.Attr("id") == id })
	if got.Attr("from") != alice || got.Attr("to") != carol.JID.String() || got.Find("body").Text != "hello Go, from xmpp.js" {
		t.Errorf("the Go client received %s, want a message from %s", got, alice)
	}
	carol.Send("<message to='%s' type='chat' id='go-1'><body>hello xmpp.js, from Go</body></message>", got.Attr("from"))
	if m := r.Next("alice.from-go"); m.S("from") != carol.JID.String() || m.S("to") != alice || m.S("body") != "hello xmpp.js, from Go" {
		t.Errorf("alice received %s, want a message from %s", m, carol.JID)
	}
	r.MustSucceed()
}

// TestXmppjsIQ routes IQs between clients: @xmpp/client's iqCaller asks
// another @xmpp/client (iqCallee) and a Go client in a namespace the hub
// does not know, and the Go client asks the @xmpp/client.
func TestXmppjsIQ(t *testing.T) {
	peers.Require(t, "xmppjs")
	h := hubtest.Start(t)
	alicePw := h.Account(t, "alice", devices.RoleOperator)
	bobPw := h.Account(t, "bob", devices.RoleOperator)
	carol := h.Login(t, "carol", devices.RoleOperator)
	r := startXmppjs(t, h, "iq.mjs", "ALICE_PASSWORD="+alicePw, "BOB_PASSWORD="+bobPw, "GO_PEER="+carol.JID.String())

	online := r.Next("online")
	alice, bob := online.S("alice"), online.S("bob")
	if alice != "alice@localhost/js-alice" || bob != "bob@localhost/js-bob" {
		t.Fatalf("bound %s and %s, want the resources asked for", alice, bob)
	}
	// xmpp.js to xmpp.js.
	if e := r.Next("bob.served"); e.S("from") != alice || e.S("to") != bob || e.S("text") != "from xmpp.js to xmpp.js" {
		t.Errorf("bob was asked %s, want a request from %s", e, alice)
	}
	if e := r.Next("alice.result"); e.S("peer") != "bob" || e.S("type") != "result" || e.S("from") != bob || e.S("text") != "from xmpp.js to xmpp.js" {
		t.Errorf("alice got %s, want bob's echo from %s", e, bob)
	}

	// Go asks bob (the answer is checked last), while alice asks Go.
	carol.Send("<iq type='get' id='go-q1' to='%s'><echo xmlns='urn:geohub:interop:echo'>from Go to xmpp.js</echo></iq>", bob)

	// xmpp.js to Go.
	q := carol.WaitFor("alice's iq", func(n *xmpptest.Node) bool {
		return n.Name() == "iq" && n.Attr("type") == "get" && n.Child("urn:geohub:interop:echo", "echo") != nil
	})
	echo := q.Child("urn:geohub:interop:echo", "echo")
	if q.Attr("from") != alice || q.Attr("to") != carol.JID.String() || echo == nil || echo.Text != "from xmpp.js to Go" {
		t.Errorf("the Go client was asked %s, want an echo request from %s", q, alice)
	}
	carol.Send("<iq type='result' id='%s' to='%s'><echo xmlns='urn:geohub:interop:echo'><said>%s</said></echo></iq>", q.Attr("id"), q.Attr("from"), echo.Text)
	if e := r.Next("alice.result"); e.S("peer") != "go" || e.S("type") != "result" || e.S("from") != carol.JID.String() || e.S("text") != "from xmpp.js to Go" {
		t.Errorf("alice got %s, want the Go client's echo from %s", e, carol.JID)
	}

	// An error from the other client comes back as it was sent.
	if e := r.Next("alice.error"); e.S("condition") != "service-unavailable" || e.S("type") != "cancel" || e.S("from") != bob {
		t.Errorf("alice got %s, want bob's service-unavailable from %s", e, bob)
	}

	// Go to xmpp.js.
	if e := r.Next("bob.served"); e.S("from") != carol.JID.String() || e.S("to") != bob || e.S("text") != "from Go to xmpp.js" {
		t.Errorf("bob was asked %s, want a request from %s", e, carol.JID)
	}
	res := carol.WaitFor("bob's answer", func(n *xmpptest.Node) bool { return n.Name() == "iq" && n.Attr("id") == "go-q1" })
	if res.Attr("type") != "result" || res.Attr("from") != bob || res.Find("echo/said").Text != "from Go to xmpp.js" {
		t.Errorf("the Go client got %s, want bob's echo from %s", res, bob)
	}
	r.MustSucceed()
}

// TestXmppjsRosterAndSubscription has @xmpp/client manage a roster and
// complete presence subscriptions both ways with another @xmpp/client, as
// RFC 6121 §2 and §3 say.
func TestXmppjsRosterAndSubscription(t *testing.T) {
	peers.Require(t, "xmppjs")
	h := hubtest.Start(t)
	// No shared group: the subscription is only what the clients make
	// (beside the hub's own contact, which every operator has).
	alicePw := h.Account(t, "alice", devices.RoleOperator)
	bobPw := h.Account(t, "bob", devices.RoleOperator)
	r := startXmppjs(t, h, "roster.mjs", "ALICE_PASSWORD="+alicePw, "BOB_PASSWORD="+bobPw)

	online := r.Next("online")
	alice, bob := online.S("alice"), online.S("bob")
	if alice != "alice@localhost/js-alice" || bob != "bob@localhost/js-bob" {
		t.Fatalf("bound %s and %s, want the resources asked for", alice, bob)
	}
	for _, step := range []string{"alice.roster.initial", "bob.roster.initial"} {
		if items := withoutHub(t, r.Next(step)); len(items) != 0 {
			t.Errorf("%s: %v, want only the hub's contact", step, items)
		}
	}

	// The roster set and its push (RFC 6121 §2.3.2).
	r.Next("alice.roster.set")
	added := r.Next("alice.push.added")
	checkItem(t, "push of the added item", added.E("item"), "bob@localhost", "none", "", "Bob", "Friends")
	if f := added.S("from"); f != "" && f != "alice@localhost" {
		t.Errorf("push from %q: a push comes from the account or the server (RFC 6121 §2.1.6)", f)
	}
	checkRoster(t, r.Next("alice.roster.added"), "bob@localhost", "none", "")

	// alice subscribes to bob (RFC 6121 §3.1.2, §3.1.3).
	checkItem(t, "push of the pending subscription", r.Next("alice.push.asked").E("item"), "bob@localhost", "none", "subscribe", "Bob", "Friends")
	if p := r.Next("bob.subscribe"); p.S("from") != "alice@localhost" || p.S("to") != "bob@localhost" {
		t.Errorf("bob received the request as %s, want from alice@localhost (bare) to bob@localhost", p)
	}
	// bob approves (RFC 6121 §3.1.5, §3.1.6).
	checkItem(t, "bob's push after approving", r.Next("bob.push.approved").E("item"), "alice@localhost", "from", "", "", "")
	checkItem(t, "alice's push after approval", r.Next("alice.push.approved").E("item"), "bob@localhost", "to", "", "Bob", "Friends")
	if p := r.Next("alice.subscribed"); p.S("from") != "bob@localhost" || p.S("to") != "alice@localhost" {
		t.Errorf("alice received the approval as %s, want from bob@localhost (bare) to alice@localhost", p)
	}
	if p := r.Next("alice.presence"); p.S("from") != bob || p.S("show") != "chat" || p.S("status") != "bob via xmpp.js" {
		t.Errorf("alice received bob's presence as %s, want his available presence from %s", p, bob)
	}
	checkRoster(t, r.Next("alice.roster.to"), "bob@localhost", "to", "")
	checkRoster(t, r.Next("bob.roster.from"), "alice@localhost", "from", "")

	// bob subscribes back; alice approves: both.
	checkItem(t, "bob's push of the pending subscription", r.Next("bob.push.asked").E("item"), "alice@localhost", "from", "subscribe", "", "")
	if p := r.Next("alice.subscribe"); p.S("from") != "bob@localhost" || p.S("to") != "alice@localhost" {
		t.Errorf("alice received the request as %s, want from bob@localhost (bare)", p)
	}
	checkItem(t, "alice's push after approving", r.Next("alice.push.both").E("item"), "bob@localhost", "both", "", "Bob", "Friends")
	checkItem(t, "bob's push after approval", r.Next("bob.push.both").E("item"), "alice@localhost", "both", "", "", "")
	if p := r.Next("bob.subscribed"); p.S("from") != "alice@localhost" || p.S("to") != "bob@localhost" {
		t.Errorf("bob received the approval as %s, want from alice@localhost (bare)", p)
	}
	if p := r.Next("bob.presence"); p.S("from") != alice || p.S("status") != "alice via xmpp.js" {
		t.Errorf("bob received alice's presence as %s, want her available presence from %s", p, alice)
	}
	checkRoster(t, r.Next("alice.roster.both"), "bob@localhost", "both", "")
	checkRoster(t, r.Next("bob.roster.both"), "alice@localhost", "both", "")
	if p := r.Next("bob.presence.away"); p.S("from") != alice || p.S("show") != "away" {
		t.Errorf("bob received alice's change as %s, want away from %s", p, alice)
	}
	if p := r.Next("alice.presence.gone"); p.S("from") != bob || p.S("type") != "unavailable" {
		t.Errorf("alice received bob's logout as %s, want unavailable from %s", p, bob)
	}
	r.MustSucceed()
}

// checkItem checks a roster item reported by roster.mjs; empty name or
// group are not checked.
func checkItem(t *testing.T, what string, it jsEvent, jid, sub, ask, name, group string) {
	t.Helper()
	if it == nil {
		t.Errorf("%s: no item", what)
		return
	}
	if it.S("jid") != jid || it.S("subscription") != sub || it.S("ask") != ask ||
		name != "" && it.S("name") != name || group != "" && !slices.Equal(it.Strings("groups"), []string{group}) {
		t.Errorf("%s: %s, want jid %s subscription %q ask %q name %q group %q", what, it, jid, sub, ask, name, group)
	}
}

// withoutHub returns the items of a roster result reported by roster.mjs
// other than the hub's own contact, which it checks is there.
func withoutHub(t *testing.T, e jsEvent) []any {
	t.Helper()
	items, _ := e.get("items").([]any)
	var out []any
	hub := false
	for _, it := range items {
		if m, _ := it.(map[string]any); m["jid"] == hubBare {
			hub = m["subscription"] == "both"
			continue
		}
		out = append(out, it)
	}
	if !hub {
		t.Errorf("%s: %s, want the hub's contact %s (both)", e.S("event"), e, hubBare)
	}
	return out
}

// checkRoster checks a roster result reported by roster.mjs: one item
// beside the hub's contact, with a version since the hub offers roster
// versioning.
func checkRoster(t *testing.T, e jsEvent, jid, sub, ask string) {
	t.Helper()
	items := withoutHub(t, e)
	if len(items) != 1 {
		t.Errorf("%s: %s, want one item", e.S("event"), e)
		return
	}
	it, _ := items[0].(map[string]any)
	checkItem(t, e.S("event"), it, jid, sub, ask, "", "")
	if e.S("ver") == "" {
		t.Errorf("%s: no roster version: %s", e.S("event"), e)
	}
}

// checkChat checks a script client's chat with the TCP client peer: the
// script reports "sent", its message (id, body) reaches peer from jid,
// and peer's answer (id tcp-1) reaches the script as "received". client
// names the script's library in failures.
func checkChat(t *testing.T, r *jsRun, peer *xmpptest.Client, client, jid, id, body string) {
	t.Helper()
	r.Next("sent")
	got := peer.WaitFor("message", isMessage)
	if got.Attr("from") != jid || got.Attr("id") != id || got.Find("body").Text != body {
		t.Fatalf("the TCP client got %s", got)
	}
	peer.Send(`<message to='%s' type='chat' id='tcp-1'><body>hello from TCP</body></message>`, jid)
	if rec := r.Next("received"); rec.S("from") != peer.JID.String() || rec.S("id") != "tcp-1" || rec.S("body") != "hello from TCP" {
		t.Errorf("%s got %s", client, rec)
	}
}
