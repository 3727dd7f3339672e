package hub_test

// Figures for federation, in one run: one device at b.test sends chats
// and publishes fixes; a local operator at b.test and a remote operator at
// a.test (a remote account of b.test's fleet, subscribed to the device's
// geoloc node) receive them over loopback, the remote one through the s2s
// stream between the two hubs. Small by default; the figures:
//
//	GEOHUB_FIGURES=1 go test -run TestFederationFigures -v ./hub/

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/internal/xmpptest"
)

// counter counts tokens in what a raw client receives, on its own
// goroutine, and notes when each was last counted.
type counter struct {
	tokens []string
	n      []atomic.Int64
	at     []atomic.Int64 // Unix nanoseconds of the read that last counted the token
}

func countTokens(r io.Reader, tokens ...string) *counter {
	c := &counter{tokens: tokens, n: make([]atomic.Int64, len(tokens)), at: make([]atomic.Int64, len(tokens))}
	go func() {
		buf := make([]byte, 64<<10)
		var tail []byte
		for {
			n, err := r.Read(buf)
			now := time.Now().UnixNano()
			data := append(tail, buf[:n]...)
			keep := 0
			for _, tok := range c.tokens {
				keep = max(keep, len(tok)-1)
			}
			// The last keep bytes are read again with the next read, so
			// that a token cut by a read is counted whole; what lies
			// within them was counted already. (Cutting only before the
			// last '<' lost tokens that do not start with one, such as
			// id='f300', when a read ended inside them: CI saw it.)
			for i, tok := range c.tokens {
				if k := int64(bytes.Count(data, []byte(tok)) - bytes.Count(tail, []byte(tok))); k > 0 {
					c.at[i].Store(now) // before the count, which wait reads first
					c.n[i].Add(k)
				}
			}
			tail = append([]byte(nil), data[max(0, len(data)-keep):]...)
			if err != nil {
				return
			}
		}
	}()
	return c
}

// wait waits until token i was counted want times and returns when the
// read that counted it last came: the time it was reached, when no more
// came meanwhile, as is the case for every wait of the test.
func (c *counter) wait(t *testing.T, i int, want int64) time.Time {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for c.n[i].Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d", c.tokens[i], c.n[i].Load(), want)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return time.Unix(0, c.at[i].Load())
}

const (
	tokBody = iota
	tokItem
	tokSub
	tokLast // the last fix
)

func rawLogin(t *testing.T, h *fedHub, name string, role devices.Role, groups ...string) (*xmpptest.Raw, string) {
	t.Helper()
	pw := h.Account(t, name, role, groups...)
	r := xmpptest.DialRaw(t, h.Addr)
	full := r.Login(h.domain, h.client, name, pw, "bench")
	r.Send("<presence/>")
	r.ReadUntil("</presence>")
	return r, full
}

// A token cut by a read is counted once, whether or not it starts with '<'.
func TestCountTokensAcrossReads(t *testing.T) {
	r, w := io.Pipe()
	c := countTokens(r, "id='f300'", "<body>")
	for _, part := range []string{"<item id='f30", "0'/><bo", "dy>x</body><item id='f300'/>", "<body>"} {
		w.Write([]byte(part)) // a pipe hands each write to one read
	}
	c.wait(t, 1, 2)
	c.wait(t, 0, 2)
	w.Close()
	if got := c.n[0].Load(); got != 2 {
		t.Errorf("id='f300' counted %d times, want 2", got)
	}
}

func TestFederationFigures(t *testing.T) {
	n := 300
	if os.Getenv("GEOHUB_FIGURES") != "" {
		n = 20000
	}
	unlimited := func(c *hub.Config) {
		c.Limits.StanzaRate, c.Limits.MessageRate, c.Limits.ByteRate = -1, -1, -1
	}
	hubs := startFederated(t, newTestCA(t), map[string]string{}, []string{"a.test", "b.test"}, unlimited)
	a, b := hubs[0], hubs[1]
	if _, err := b.Accounts.Add(devices.NewAccount{Name: "alice@a.test", Role: devices.RoleOperator, Groups: []string{"fleet"}}); err != nil {
		t.Fatal(err)
	}
	remote, remoteJID := rawLogin(t, a, "alice", devices.RoleOperator)
	local, localJID := rawLogin(t, b, "op", devices.RoleOperator, "fleet")
	car := b.login(t, "car", devices.RoleDevice, "fleet")
	last := fmt.Sprintf("id='f%d'", n)
	rc := countTokens(remote.Conn(), "<body>", "<item ", "id='sub'", last)
	lc := countTokens(local.Conn(), "<body>", "<item ", "id='sub'", last)

	// Time to first delivery to a new domain: find, connect, TLS,
	// authenticate, deliver; then the same with the stream up.
	start := time.Now()
	car.Send("<message to='%s' type='chat'><body>first</body></message>", remoteJID)
	first := rc.wait(t, tokBody, 1).Sub(start)
	start = time.Now()
	car.Send("<message to='%s' type='chat'><body>second</body></message>", remoteJID)
	warm := rc.wait(t, tokBody, 2).Sub(start)
	t.Logf("first delivery to a new remote domain: %v (connect, STARTTLS, SASL EXTERNAL, deliver); the next one: %v", first, warm)

	// Messages: n to each operator, interleaved, in one write.
	var batch strings.Builder
	for i := range n {
		fmt.Fprintf(&batch, "<message to='%s' type='chat'><body>m%d</body></message><message to='%s' type='chat'><body>m%d</body></message>",
			localJID, i, remoteJID, i)
	}
	start = time.Now()
	car.Send("%s", batch.String())
	lt := lc.wait(t, tokBody, int64(n)).Sub(start)
	rt := rc.wait(t, tokBody, int64(n)+2).Sub(start)
	t.Logf("messages, %d to each: local operator %.0f/s (%v), federated operator %.0f/s (%v)",
		n, float64(n)/lt.Seconds(), lt.Round(time.Millisecond), float64(n)/rt.Seconds(), rt.Round(time.Millisecond))

	// Geoloc notifications: both subscribe to the car's node (and get its
	// last item), then the car publishes n fixes back to back.
	ok(t, "first fix", publishGeoloc(car, "f0", 52.5, 13.4))
	for _, s := range []struct {
		r   *xmpptest.Raw
		c   *counter
		jid string
	}{{local, lc, localJID}, {remote, rc, remoteJID}} {
		bare, _, _ := strings.Cut(s.jid, "/")
		s.r.Send(fmt.Sprintf("<iq type='set' id='sub' to='car@b.test'><pubsub xmlns='%s'><subscribe node='%s' jid='%s'/></pubsub></iq>", nsPubSub, nsGeoloc, bare))
		s.c.wait(t, tokSub, 1)
		s.c.wait(t, tokItem, 1)
	}
	batch.Reset()
	for i := range n {
		fmt.Fprintf(&batch, "<iq type='set' id='p%d'><pubsub xmlns='%s'><publish node='%s'><item id='f%d'>%s</item></publish></pubsub></iq>",
			i, nsPubSub, nsGeoloc, i+1, geoloc(52.5+float64(i%1000)/1e5, 13.4))
	}
	start = time.Now()
	car.Send("%s", batch.String())
	// A subscriber that falls behind gets the newest fix in place of the
	// queued ones (conflation): the figure is fixes covered per second,
	// up to the last one, and how many notifications carried them.
	lt = lc.wait(t, tokLast, 1).Sub(start)
	rt = rc.wait(t, tokLast, 1).Sub(start)
	t.Logf("geoloc, %d fixes published back to back: local operator up to the last in %v (%.0f fixes/s, %d notifications), "+
		"federated operator in %v (%.0f fixes/s, %d notifications)",
		n, lt.Round(time.Millisecond), float64(n)/lt.Seconds(), lc.n[tokItem].Load()-1,
		rt.Round(time.Millisecond), float64(n)/rt.Seconds(), rc.n[tokItem].Load()-1)
}
