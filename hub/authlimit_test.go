package hub_test

import (
	"encoding/base64"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/scram"
	"github.com/geohub/geohub/internal/xmpptest"
	"mellium.im/sasl"
)

// scramConn is one raw SCRAM-SHA-256 exchange over a plain stream, driven
// step by step so that many can be interleaved. Errors are returned, not
// reported, so that it can run on any goroutine.
type scramConn struct {
	conn   net.Conn
	got    string
	client *sasl.Negotiator
}

func dialSCRAM(addr, user, password string) (*scramConn, error) {
	c, err := net.DialTimeout("tcp", addr, xmpptest.Timeout)
	if err != nil {
		return nil, err
	}
	sc := &scramConn{conn: c, client: sasl.NewClient(scram.ClientMechanism(scram.SHA256, nil),
		sasl.Credentials(func() ([]byte, []byte, []byte) { return []byte(user), []byte(password), nil }))}
	if err := sc.send(xmpptest.Header("localhost")); err != nil {
		return sc, err
	}
	_, err = sc.readUntil(xmpptest.Timeout, "</stream:features>")
	return sc, err
}

func (sc *scramConn) send(s string) error {
	sc.conn.SetWriteDeadline(time.Now().Add(xmpptest.Timeout))
	_, err := io.WriteString(sc.conn, s)
	return err
}

func (sc *scramConn) readUntil(wait time.Duration, want ...string) (string, error) {
	buf := make([]byte, 4096)
	sc.conn.SetReadDeadline(time.Now().Add(wait))
	for {
		for _, w := range want {
			if i := strings.Index(sc.got, w); i >= 0 {
				out := sc.got[:i+len(w)]
				sc.got = sc.got[i+len(w):]
				return out, nil
			}
		}
		n, err := sc.conn.Read(buf)
		sc.got += string(buf[:n])
		if err != nil {
			return sc.got, err
		}
	}
}

// first sends the client-first message and returns the hub's answer: a
// challenge or a failure.
func (sc *scramConn) first() (string, error) {
	_, msg, err := sc.client.Step(nil)
	if err != nil {
		return "", err
	}
	if err := sc.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>" +
		base64.StdEncoding.EncodeToString(msg) + "</auth>"); err != nil {
		return "", err
	}
	return sc.readUntil(xmpptest.Timeout, "</challenge>", "</failure>")
}

// final answers the challenge with the right proof, or a wrong one, and
// returns the hub's answer.
func (sc *scramConn) final(challenge string, right bool) (string, error) {
	i := strings.Index(challenge, ">")
	payload, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(challenge[i+1:], "</challenge>"))
	if err != nil {
		return "", err
	}
	_, msg, err := sc.client.Step(payload)
	if err != nil {
		return "", err
	}
	if !right {
		p := strings.LastIndex(string(msg), ",p=")
		msg = append(msg[:p+3:p+3], base64.StdEncoding.EncodeToString(make([]byte, 32))...)
	}
	if err := sc.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" +
		base64.StdEncoding.EncodeToString(msg) + "</response>"); err != nil {
		return "", err
	}
	// A failure comes after a delay of up to 5 s, on a hub answering 200
	// connections at once.
	return sc.readUntil(3*xmpptest.Timeout, "</success>", "</failure>")
}

// TestParallelSCRAMGuessesAreBounded attacks the lockout with 200
// connections that all send a client-first message before any sends its
// client-final one with a wrong proof: only MaxAuthFailures proofs may be
// judged, and a connection that began before the lockout is refused even
// with the right password.
func TestParallelSCRAMGuessesAreBounded(t *testing.T) {
	const attackers, maxFailures = 200, 10
	h := hubtest.Start(t, func(c *hub.Config) {
		c.AllowPlain = true
		c.Limits.MaxAuthFailures = maxFailures
	})
	pw := h.Account(t, "car", devices.RoleDevice)

	// The owner starts a login before the attack.
	owner, err := dialSCRAM(h.Addr, "car", pw)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.conn.Close()
	ownerChallenge, err := owner.first()
	if err != nil || !strings.Contains(ownerChallenge, "<challenge") {
		t.Fatalf("owner's client-first: %q, %v", ownerChallenge, err)
	}

	conns := make([]*scramConn, attackers)
	challenges := make([]string, attackers)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			sc, err := dialSCRAM(h.Addr, "car", "guess")
			if sc != nil {
				conns[i] = sc
			}
			if err == nil {
				challenges[i], err = sc.first()
			}
			if err != nil || !strings.Contains(challenges[i], "<challenge") {
				t.Errorf("attacker %d client-first: %q, %v", i, challenges[i], err)
			}
		})
	}
	wg.Wait()
	defer func() {
		for _, sc := range conns {
			if sc != nil {
				sc.conn.Close()
			}
		}
	}()
	if t.Failed() {
		t.FailNow()
	}
	answers := make([]string, attackers)
	for i, sc := range conns {
		wg.Go(func() {
			var err error
			if answers[i], err = sc.final(challenges[i], false); err != nil {
				t.Errorf("attacker %d client-final: %q, %v", i, answers[i], err)
			}
		})
	}
	wg.Wait()
	for i, a := range answers {
		if !strings.Contains(a, "<not-authorized") {
			t.Fatalf("attacker %d got %q", i, a)
		}
	}
	st := h.Stats()
	if st.AuthFailures > maxFailures || st.AuthFailures+st.AuthRefused != attackers {
		t.Errorf("%d wrong proofs judged and %d refused unchecked; want at most %d judged of %d",
			st.AuthFailures, st.AuthRefused, maxFailures, attackers)
	}
	if got, err := owner.final(ownerChallenge, true); err != nil || !strings.Contains(got, "<not-authorized") {
		t.Errorf("the right password while the address is locked out: %q, %v", got, err)
	}
}

// TestAuthsInFlightBoundedAfterFailure: once an address has failed a login,
// it may have only a few SASL exchanges open at once; the next is told to
// come back later and may, on the same stream, when one has ended.
func TestAuthsInFlightBoundedAfterFailure(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) {
		c.AllowPlain = true
		c.Limits.MaxAuthFailures = 100
	})
	pw := h.Account(t, "car", devices.RoleDevice)
	o := h.Options()
	if _, err := xmpptest.DialErr(t, o, "car", "wrong"); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	// Connected before the others start: it is admitted, and refused at
	// its exchange.
	extra, err := dialSCRAM(h.Addr, "car", pw)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.conn.Close()
	var open []*scramConn
	for i := range 4 {
		sc, err := dialSCRAM(h.Addr, "car", pw)
		if err != nil {
			t.Fatal(err)
		}
		defer sc.conn.Close()
		if got, err := sc.first(); err != nil || !strings.Contains(got, "<challenge") {
			t.Fatalf("exchange %d: %q, %v", i, got, err)
		}
		open = append(open, sc)
	}
	if got, err := extra.first(); err != nil || !strings.Contains(got, "<temporary-auth-failure") {
		t.Fatalf("a fifth exchange at once: %q, %v", got, err)
	}
	// Connecting now, it is refused before TLS or SASL cost anything.
	late, err := dialSCRAM(h.Addr, "car", pw)
	if err == nil || !strings.Contains(late.got, "policy-violation") || !strings.Contains(late.got, "in progress") {
		t.Fatalf("a connection while four exchanges are open after a failure: %q, %v", late.got, err)
	}
	late.conn.Close()
	if st := h.Server.Stats(); st.Refused == 0 {
		t.Errorf("the refusal was not counted: %+v", st)
	}
	open[0].conn.Close()
	for deadline := time.Now().Add(xmpptest.Timeout); ; {
		extra.client.Reset()
		got, err := extra.first()
		if err != nil {
			t.Fatalf("retry: %q, %v", got, err)
		}
		if strings.Contains(got, "<challenge") {
			if got, err := extra.final(got, true); err != nil || !strings.Contains(got, "<success") {
				t.Fatalf("the right password after the retry: %q, %v", got, err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused after one exchange ended: %q", got)
		}
		// Each refusal is a SASL attempt; the stream allows three.
		time.Sleep(10 * time.Millisecond) // between polls
		extra.conn.Close()
		// Refused at connect until the closed exchange has ended.
		for extra, err = dialSCRAM(h.Addr, "car", pw); err != nil; extra, err = dialSCRAM(h.Addr, "car", pw) {
			extra.conn.Close()
			if time.Now().After(deadline) {
				t.Fatalf("connections still refused after one exchange ended: %q, %v", extra.got, err)
			}
			time.Sleep(10 * time.Millisecond) // between polls
		}
		defer extra.conn.Close()
	}
}
