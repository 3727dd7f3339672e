package hub_test

import (
	"encoding/xml"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// chaosProxy forwards TCP connections to a hub and, on demand, black-holes
// them: from then on nothing passes either way and nothing is closed, as
// when a vehicle drives into a tunnel. The hub learns of it only when the
// client resumes its session from a new connection.
type chaosProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	links  []*proxyLink
}

type proxyLink struct {
	client, server net.Conn
	dead           atomic.Bool
}

func startChaosProxy(t testing.TB, target string) *chaosProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &chaosProxy{ln: ln, target: target}
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, l := range p.links {
			l.client.Close()
			l.server.Close()
		}
	})
	return p
}

func (p *chaosProxy) addr() string { return p.ln.Addr().String() }

func (p *chaosProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		l := &proxyLink{client: c, server: s}
		p.mu.Lock()
		p.links = append(p.links, l)
		p.mu.Unlock()
		go l.pipe(c, s)
		go l.pipe(s, c)
	}
}

// pipe copies from to to until the link is black-holed; then it reads and
// drops. A client that gives up a black-holed link closes only its side.
func (l *proxyLink) pipe(from, to net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 && !l.dead.Load() {
			if _, werr := to.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			if !l.dead.Load() || from == l.server {
				to.Close()
				from.Close()
			}
			return
		}
	}
}

// hangUp closes the hub's end of the silenced links, as the hub does once
// its pings go unanswered.
func (p *chaosProxy) hangUp() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		if l.dead.Load() {
			l.server.Close()
		}
	}
}

// blackhole silences every live link.
func (p *chaosProxy) blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		l.dead.Store(true)
	}
}

// chaosDevice is a device behind a bad link: it publishes fixes and reads
// messages, with stream management on, and when its link goes quiet it
// gives it up and resumes from a new connection, sending again what the hub
// did not acknowledge.
type chaosDevice struct {
	t         *testing.T
	addr, pw  string
	h         *hubtest.Hub
	mu        sync.Mutex
	conn      net.Conn
	lastRead  time.Time
	in        uint32   // stanzas handled from the hub
	out       []string // stanzas sent and not acknowledged by the hub
	acked     uint32   // the hub's last h
	id        string
	bodies    map[string]int
	results   map[string]int
	taken     map[string]bool // publishes the hub said it handled (its h)
	resumes   int
	rebinds   int
	resumeDur []time.Duration
}

const fixNode = "http://jabber.org/protocol/geoloc"

// connect opens a link and resumes the session, or binds a new one.
func (d *chaosDevice) connect() error {
	r := xmpptest.DialRaw(d.t, d.addr)
	r.StartTLS("localhost", d.h.ClientTLS)
	if out := r.AuthPlain("dev", d.pw); !strings.Contains(out, "<success") {
		return fmt.Errorf("login: %s", out)
	}
	if features := r.Open("localhost"); !strings.Contains(features, "urn:xmpp:sm:3") {
		return fmt.Errorf("no stream management: %s", features)
	}
	conn := r.Conn()
	conn.SetReadDeadline(time.Time{})
	dec := xml.NewDecoder(conn)
	d.mu.Lock()
	id, in := d.id, d.in
	d.mu.Unlock()
	if id != "" {
		start := time.Now()
		fmt.Fprintf(conn, "<resume xmlns='urn:xmpp:sm:3' previd='%s' h='%d'/>", id, in)
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := nextNode(dec)
		if err != nil {
			conn.Close()
			return err
		}
		if n.XMLName.Local == "resumed" {
			h, _ := strconv.ParseUint(n.Attr("h"), 10, 32)
			d.mu.Lock()
			d.ackTo(uint32(h))
			d.resumes++
			d.resumeDur = append(d.resumeDur, time.Since(start))
			d.conn, d.lastRead = conn, time.Now()
			for _, s := range d.out {
				io.WriteString(conn, s)
			}
			d.mu.Unlock()
			conn.SetReadDeadline(time.Time{})
			go d.read(conn, dec)
			return nil
		}
		// The session is gone (the window ended): the hub says what it
		// handled, and the rest is sent again on a new session.
		if h, err := strconv.ParseUint(n.Attr("h"), 10, 32); err == nil {
			d.mu.Lock()
			d.ackTo(uint32(h))
			d.mu.Unlock()
		}
	}
	fmt.Fprintf(conn, "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>gps</resource></bind></iq>")
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := nextNode(dec); err != nil || n.Attr("type") != "result" {
		conn.Close()
		return fmt.Errorf("bind: %v %v", n, err)
	}
	io.WriteString(conn, "<presence/><enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	var en *xmpptest.Node
	var err error
	for en == nil || en.XMLName.Local != "enabled" {
		if en, err = nextNode(dec); err != nil {
			conn.Close()
			return err
		}
		d.mu.Lock()
		d.note(en)
		d.mu.Unlock()
	}
	conn.SetReadDeadline(time.Time{})
	d.mu.Lock()
	pending := d.out
	d.id, d.in, d.acked, d.out = en.Attr("id"), 0, 0, nil
	d.conn, d.lastRead = conn, time.Now()
	if id != "" {
		d.rebinds++
	}
	for _, s := range pending {
		d.sendLocked(s)
	}
	d.mu.Unlock()
	go d.read(conn, dec)
	return nil
}

func nextNode(dec *xml.Decoder) (*xmpptest.Node, error) {
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		if start, ok := tok.(xml.StartElement); ok {
			n := new(xmpptest.Node)
			return n, dec.DecodeElement(n, &start)
		}
	}
}

// read handles what the hub sends on one link until it ends.
func (d *chaosDevice) read(conn net.Conn, dec *xml.Decoder) {
	for {
		n, err := nextNode(dec)
		if err != nil {
			return
		}
		d.mu.Lock()
		if d.conn != conn {
			d.mu.Unlock()
			return
		}
		d.lastRead = time.Now()
		switch n.XMLName.Local {
		case "message", "presence", "iq":
			d.in++
			d.note(n)
		case "r":
			fmt.Fprintf(conn, "<a xmlns='urn:xmpp:sm:3' h='%d'/>", d.in)
		case "a":
			h, _ := strconv.ParseUint(n.Attr("h"), 10, 32)
			d.ackTo(uint32(h))
		}
		d.mu.Unlock()
	}
}

// note records a message's body or a publish's result. d.mu is held.
func (d *chaosDevice) note(n *xmpptest.Node) {
	if b := n.Child("", "body"); n.XMLName.Local == "message" && b != nil {
		d.bodies[b.Text]++
	}
	if n.XMLName.Local == "iq" && n.Attr("type") == "result" && strings.HasPrefix(n.Attr("id"), "fix") {
		d.results[n.Attr("id")]++
	}
}

// ackTo drops what the hub's h acknowledges. d.mu is held.
func (d *chaosDevice) ackTo(h uint32) {
	n := int(h - d.acked)
	if n < 0 || n > len(d.out) {
		d.t.Errorf("the hub acknowledged %d stanzas, %d were sent", h-d.acked, len(d.out))
		return
	}
	for _, s := range d.out[:n] {
		if id, ok := strings.CutPrefix(s, "<iq type='set' id='"); ok {
			d.taken[id[:strings.IndexByte(id, '\'')]] = true
		}
	}
	d.out, d.acked = d.out[n:], h
}

// confirmed is the number of publishes the hub answered or said it
// handled. d.mu is held.
func (d *chaosDevice) confirmed() int {
	n := len(d.results)
	for id := range d.taken {
		if d.results[id] == 0 {
			n++
		}
	}
	return n
}

// sendLocked sends a stanza and keeps it until acknowledged. d.mu is held.
func (d *chaosDevice) sendLocked(s string) {
	d.out = append(d.out, s)
	d.conn.SetWriteDeadline(time.Now().Add(time.Second))
	io.WriteString(d.conn, s)
}

func (d *chaosDevice) publish(i int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sendLocked(fmt.Sprintf("<iq type='set' id='fix%d'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='%s'><item id='fix%d'>"+
		"<geoloc xmlns='%s'><lat>%.5f</lat><lon>13.4</lon></geoloc></item></publish></pubsub></iq>", i, fixNode, i, fixNode, 50+float64(i)/1e4))
}

// alive asks for an ack and reports false when the link has said nothing
// for too long: the device gives it up.
func (d *chaosDevice) alive(quiet time.Duration) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Since(d.lastRead) > quiet {
		d.conn.Close()
		return false
	}
	d.conn.SetWriteDeadline(time.Now().Add(time.Second))
	io.WriteString(d.conn, "<r xmlns='urn:xmpp:sm:3'/>")
	return true
}

// Over many black-holed links, every message sent to a device arrives
// exactly once and every publish it made is taken exactly once.
func TestSMChaosLosesAndDuplicatesNothing(t *testing.T) {
	cuts := 30
	if testing.Short() {
		cuts = 10
	}
	if n, err := strconv.Atoi(os.Getenv("GEOHUB_SM_CUTS")); err == nil {
		cuts = n // for the figures: GEOHUB_SM_CUTS=500
	}
	t.Run("resumed", func(t *testing.T) { chaos(t, cuts, 0) })
	// Every other time the device stays away longer than the window: its
	// messages wait in offline storage and it logs in afresh.
	t.Run("window ends", func(t *testing.T) { chaos(t, cuts, 100*time.Millisecond) })
}

// chaos runs a device through cuts black-holed links; with window set, the
// hub's resumption window is that short and every other time the device
// comes back only after it ended.
func chaos(t *testing.T, cuts int, window time.Duration) {
	h := hubtest.Start(t, unlimited, func(c *hub.Config) {
		c.Limits.StallTimeout = time.Second
		// Room for what waits while the device is away (a message every
		// 2 ms): this test is about losing nothing, not about the caps.
		c.OfflineCap, c.Limits.OfflineBytes = 1<<20, 256<<20
		if window > 0 {
			c.SM.ResumeWindow = window
		}
	})
	pw := h.Account(t, "dev", devices.RoleDevice)
	sender := h.Login(t, "dispatch", devices.RoleOperator)
	proxy := startChaosProxy(t, h.Addr)
	d := &chaosDevice{t: t, addr: proxy.addr(), pw: pw, h: h, bodies: map[string]int{}, results: map[string]int{}, taken: map[string]bool{}}
	if err := d.connect(); err != nil {
		t.Fatal(err)
	}

	var sent, fixes int
	stop := make(chan struct{})
	senderDone := make(chan struct{})
	go func() { // the dispatcher writes to the device all along
		defer close(senderDone)
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			sender.Send("<message to='dev@localhost/gps' type='chat'><body>m%d</body></message>", sent)
			sent++
		}
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	for cut := 0; cut < cuts; {
		// Under load for a while, then the tunnel.
		until := time.Now().Add(time.Duration(50+rng.IntN(200)) * time.Millisecond)
		for time.Now().Before(until) {
			d.publish(fixes)
			fixes++
			time.Sleep(5 * time.Millisecond) // the device's pace, not synchronisation
		}
		proxy.blackhole()
		cut++
		for d.alive(300 * time.Millisecond) {
			time.Sleep(50 * time.Millisecond) // the device's ack cadence
		}
		if window > 0 && cut%2 == 0 {
			proxy.hangUp()
			time.Sleep(3 * window) // in the tunnel: the window ends meanwhile
		}
		for d.connect() != nil {
		}
	}
	close(stop)
	<-senderDone
	// The link stays up now: everything arrives.
	for deadline := time.Now().Add(xmpptest.Timeout); ; time.Sleep(10 * time.Millisecond) {
		d.alive(time.Hour)
		d.mu.Lock()
		if len(d.bodies) == sent && d.confirmed() == fixes && len(d.out) == 0 {
			break
		}
		if time.Now().After(deadline) {
			var missing []string
			for i := range sent {
				if d.bodies[fmt.Sprintf("m%d", i)] == 0 && len(missing) < 10 {
					missing = append(missing, fmt.Sprintf("m%d", i))
				}
			}
			for i := range fixes {
				if id := fmt.Sprintf("fix%d", i); d.results[id] == 0 && !d.taken[id] && len(missing) < 20 {
					missing = append(missing, fmt.Sprintf("fix%d", i))
				}
			}
			t.Fatalf("%d of %d messages, %d of %d results, %d unacknowledged; missing %v", len(d.bodies), sent, len(d.results), fixes, len(d.out), missing)
		}
		d.mu.Unlock()
	}
	defer d.mu.Unlock()
	for b, n := range d.bodies {
		if n != 1 {
			t.Errorf("%s arrived %d times", b, n)
		}
	}
	for id, n := range d.results {
		if n != 1 {
			t.Errorf("the result of %s arrived %d times", id, n)
		}
	}
	waitFor(t, "every fix taken", func() bool { return h.Geo.Ingested() >= uint64(fixes) })
	if n := h.Geo.Ingested(); n != uint64(fixes) {
		t.Errorf("%d fixes taken for %d published", n, fixes)
	}
	var total time.Duration
	for _, r := range d.resumeDur {
		total += r
	}
	t.Logf("%d cuts: %d resumed, %d new sessions; %d messages, %d fixes; lost 0, duplicated 0; mean resumption %v",
		cuts, d.resumes, d.rebinds, sent, fixes, total/time.Duration(max(1, len(d.resumeDur))))
}
