package hub_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// Delivery under pressure (issue 13, finding 5): a sender over its rate is
// slowed, a consumer that falls behind gets the latest state, messages are
// never dropped, and only a client that stops reading is cut off.

// A device flooding an operator with chat messages as fast as it can is
// slowed to its message rate, and the operator, reading as fast as it can,
// stays connected.
func TestAFlooderIsSlowedNotItsRecipient(t *testing.T) {
	h := hubtest.Start(t)
	lim := hub.DefaultLimits
	op := h.Login(t, "op", devices.RoleOperator)
	op.Send("<presence/>")
	op.Sync()
	pw := h.Account(t, "flooder", devices.RoleDevice)
	fl := xmpptest.DialRaw(t, h.Addr)
	tcp := fl.Conn().(*net.TCPConn)
	fl.Login("localhost", h.ClientTLS, "flooder", pw, "gps")

	msg := fmt.Sprintf("<message to='%s' type='chat'><body>%s</body></message>", op.JID, strings.Repeat("flood ", 20))
	batch := []byte(strings.Repeat(msg, 64))
	const flood = 4 * time.Second
	in0 := h.Server.Stats().StanzasIn
	start := time.Now()
	fl.Conn().SetWriteDeadline(start.Add(flood))
	go func() {
		for {
			if _, err := fl.Conn().Write(batch); err != nil {
				return // the deadline: the flood is over
			}
		}
	}()
	var inHalf uint64
	got := 0
	for time.Since(start) < flood {
		if inHalf == 0 && time.Since(start) >= flood/2 {
			inHalf = h.Server.Stats().StanzasIn
		}
		if n := op.Next(); n.Name() == "message" {
			got++
		}
	}
	elapsed := time.Since(start)
	in := h.Server.Stats().StanzasIn
	// What the flooder still has in socket buffers is dropped with it.
	tcp.SetLinger(0)
	tcp.Close()

	// The hub read at most the burst and the rate since; in the second half
	// the burst is spent and the rate alone is left. One read's worth of
	// stanzas (up to 2 KiB) may be handled before the pause.
	const slack = 30
	if routed := in - in0; float64(routed) > float64(lim.MessageBurst)+lim.MessageRate*elapsed.Seconds()+slack {
		t.Errorf("the hub took %d messages from the flooder in %v; its limit is %d at once and %.0f/s", routed, elapsed, lim.MessageBurst, lim.MessageRate)
	}
	second := elapsed.Seconds() - (flood / 2).Seconds()
	if rate := float64(in-inHalf) / second; rate > lim.MessageRate*1.1+slack/second {
		t.Errorf("flooder's rate in the second half: %.0f messages/s, above --message-rate %.0f", rate, lim.MessageRate)
	}
	if got < lim.MessageBurst {
		t.Errorf("the operator got only %d messages", got)
	}
	op.Sync() // still connected
	st := h.Server.Stats()
	if st.CutOffOverflow != 0 || st.CutOffStalled != 0 || st.ReadsPaused == 0 {
		t.Errorf("stats: %+v; want the flooder paused and nobody cut off", st)
	}
	t.Logf("flooder: %d stanzas taken in %v (%.0f/s in the second half); operator got %d", in-in0, elapsed.Round(time.Millisecond),
		float64(in-inHalf)/second, got)
}

// A subscriber that stops reading is cut off as stalled once nothing could
// be written to it for the stall timeout, logged with the reason and
// counted; the sender is not affected.
func TestAStalledReaderIsCutOff(t *testing.T) {
	var logs syncBuffer
	h := hubtest.Start(t, func(c *hub.Config) {
		c.Limits.StallTimeout, c.Limits.MaxPending, c.Limits.ByteRate = 500*time.Millisecond, 1<<30, -1
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	alice := h.Login(t, "alice", devices.RoleOperator)
	bob := h.Login(t, "bob", devices.RoleOperator)
	bob.Send("<presence/>")
	bob.Sync()
	bob.StopReading()
	body := strings.Repeat("x", 100<<10)
	for i := 0; i < 1000 && h.Accounts.Online("bob"); i++ {
		alice.Send("<message to='%s' type='chat'><body>%s</body></message>", bob.JID, body)
		if i%20 == 19 {
			alice.Sync()
		}
	}
	waitFor(t, "bob cut off", func() bool { return !h.Accounts.Online("bob") })
	alice.Sync()
	st := h.Server.Stats()
	if st.CutOffStalled != 1 || st.CutOffOverflow != 0 {
		t.Errorf("stats: %+v; want one session cut off as stalled", st)
	}
	waitFor(t, "the cut-off logged", func() bool {
		return strings.Contains(logs.String(), "reason=stalled") && strings.Contains(logs.String(), "jid="+bob.JID.String())
	})
}

// 200 devices publish flat out to one service node whose one subscriber
// falls behind, at the default settings. The subscriber stays connected
// and, once publishing stops, holds every publisher's latest item within a
// second: older ones were conflated. A device's chat messages to it
// meanwhile all arrive, in order.
func TestABehindSubscriberGetsEachPublishersLatestAndEveryMessage(t *testing.T) {
	h := hubtest.Start(t)
	const n, run, chats = 200, 4 * time.Second, 300
	// Each vehicle's state with a note, so that the fleet outpaces the
	// subscriber on any machine.
	note := strings.Repeat("n", 3000)
	const pw = "pressure-test-password"
	reqs := []devices.NewAccount{{Name: "sub", Role: devices.RoleOperator, Password: pw}, {Name: "chatter", Role: devices.RoleDevice, Password: pw}}
	for i := range n {
		reqs = append(reqs, devices.NewAccount{Name: fmt.Sprintf("dev%d", i), Role: devices.RoleDevice, Password: pw})
	}
	if _, err := h.Accounts.Add(reqs...); err != nil {
		t.Fatal(err)
	}

	// The subscriber: a small receive buffer, so that it falls behind
	// in the hub's queue rather than in the kernel's.
	sub := xmpptest.DialRaw(t, h.Addr)
	sub.Conn().(*net.TCPConn).SetReadBuffer(32 << 10)
	subJID := sub.Login("localhost", h.ClientTLS, "sub", pw, "desk")
	sub.Send("<presence/><iq type='set' id='create' to='pubsub.localhost'><pubsub xmlns='" + nsPubSub + "'><create node='fleet'/><configure>" +
		configForm(map[string]string{"access_model": "open", "publish_model": "open", "max_items": "10"}) + "</configure></pubsub></iq>")
	sub.ReadUntil("id='create'")
	sub.Send("<iq type='set' id='sub' to='pubsub.localhost'><pubsub xmlns='" + nsPubSub + "'><subscribe node='fleet' jid='sub@localhost'/></pubsub></iq>")
	sub.ReadUntil("id='sub'")

	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for d := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r := xmpptest.DialRaw(t, h.Addr)
			r.Login("localhost", h.ClientTLS, fmt.Sprintf("dev%d", d), pw, "gps")
			conns[d] = r.Conn()
		})
	}
	chatter := xmpptest.DialRaw(t, h.Addr)
	chatter.Login("localhost", h.ClientTLS, "chatter", pw, "gps")
	wg.Wait()

	// The subscriber reads slowly while the devices publish, then as fast
	// as it can.
	r := newNotes(sub.Conn())
	go r.read()
	defer r.stop()

	stop := time.Now().Add(run)
	last := make([]string, n) // each device's last acknowledged item
	for d := range n {
		wg.Go(func() {
			c, buf := conns[d], make([]byte, 4096)
			c.SetWriteDeadline(time.Time{}) // the login's has passed
			for seq := 0; time.Now().Before(stop); seq++ {
				id := fmt.Sprintf("dev%d-%d", d, seq)
				fix := fmt.Sprintf("<iq type='set' id='%s' to='pubsub.localhost'><pubsub xmlns='%s'><publish node='fleet'><item id='%s'>"+
					"<state xmlns='urn:geohub:test:vehicle'><seq>%d</seq><note>%s</note></state></item></publish></pubsub></iq>", id, nsPubSub, id, seq, note)
				if _, err := c.Write([]byte(fix)); err != nil {
					t.Error(err)
					return
				}
				var got []byte
				for !bytes.Contains(got, []byte("id='"+id+"'")) {
					c.SetReadDeadline(time.Now().Add(xmpptest.Timeout))
					m, err := c.Read(buf)
					if err != nil {
						t.Errorf("dev%d: %v", d, err)
						return
					}
					got = append(got, buf[:m]...)
				}
				if !bytes.Contains(got, []byte("type='result'")) {
					t.Errorf("dev%d: publish refused: %s", d, got)
					return
				}
				last[d] = id
			}
		})
	}
	// One device chats with the subscriber meanwhile.
	for i := range chats {
		chatter.Send(fmt.Sprintf("<message to='%s' type='chat'><body>chat %d</body></message>", subJID, i))
		time.Sleep(run / chats) // load pacing, not synchronisation
	}
	wg.Wait()
	stopped := time.Now()
	r.fast()
	if slices.Contains(last, "") {
		t.Fatal("a device published nothing")
	}

	for {
		missing := r.missing(last)
		if missing == "" {
			break
		}
		if time.Since(stopped) > time.Second {
			st := h.Server.Stats()
			t.Fatalf("a second after publishing stopped the subscriber lacks %s (connected: %v; stats %+v)", missing, h.Accounts.Online("sub"), st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(stopped)
	sub.Send("<iq type='get' id='alive'><ping xmlns='urn:xmpp:ping'/></iq>")
	waitFor(t, "the subscriber's ping answered", func() bool { return r.saw("id='alive'") || !h.Accounts.Online("sub") })
	if !r.saw("id='alive'") {
		t.Fatalf("the subscriber was cut off: %s", r.tail())
	}
	waitFor(t, "every chat message", func() bool { return r.chatCount() == chats })
	if got := r.chatList(); !sortedRun(got, chats) {
		t.Errorf("chat messages out of order or lost: %v", got)
	}
	st := h.Server.Stats()
	if st.Conflated == 0 || st.CutOffOverflow != 0 || st.CutOffStalled != 0 {
		t.Errorf("stats: %+v; want notifications conflated and nobody cut off", st)
	}
	t.Logf("%d stanzas in, %d notifications delivered, %d conflated, pending peak %d KiB; every publisher's latest %v after the last ack", st.StanzasIn,
		r.count(), st.Conflated, st.PendingPeak>>10, took.Round(time.Millisecond))
}

// notes reads a subscriber's stream: each publisher's last item, and chat
// messages in order.
type notes struct {
	conn   net.Conn
	mu     sync.Mutex
	latest map[string]string // publisher's localpart -> last item id
	chat   []int
	n      int
	all    []byte // everything read, for saw
	slow   bool
	done   chan struct{}
}

var itemRE = regexp.MustCompile(`<item id='([^']*)' publisher='([^@']*)@`)
var chatRE = regexp.MustCompile(`<body>chat (\d+)</body>`)

func newNotes(c net.Conn) *notes {
	return &notes{conn: c, latest: map[string]string{}, slow: true, done: make(chan struct{})}
}

func (r *notes) read() {
	buf := make([]byte, 16<<10)
	var carry []byte
	for {
		select {
		case <-r.done:
			return
		default:
		}
		r.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		m, err := r.conn.Read(buf)
		data := append(carry, buf[:m]...)
		end := bytes.LastIndex(data, []byte("</message>"))
		r.mu.Lock()
		r.all = append(r.all[max(0, len(r.all)-4096):], buf[:m]...)
		if end >= 0 {
			for _, s := range bytes.SplitAfter(data[:end+10], []byte("</message>")) {
				if it := itemRE.FindSubmatch(s); it != nil {
					r.latest[string(it[2])] = string(it[1])
					r.n++
				} else if c := chatRE.FindSubmatch(s); c != nil {
					v, _ := strconv.Atoi(string(c[1]))
					r.chat = append(r.chat, v)
				}
			}
			carry = append([]byte(nil), data[end+10:]...)
		} else {
			carry = data
		}
		slow := r.slow
		r.mu.Unlock()
		if err != nil && !isTimeoutErr(err) {
			return
		}
		if slow {
			time.Sleep(200 * time.Millisecond) // a consumer slower than the fleet
		}
	}
}

func (r *notes) fast() { r.mu.Lock(); r.slow = false; r.mu.Unlock() }
func (r *notes) stop() { close(r.done) }

func (r *notes) missing(last []string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	first := ""
	for d, id := range last {
		if id != "" && r.latest[fmt.Sprintf("dev%d", d)] != id {
			if n == 0 {
				first = fmt.Sprintf("dev%d's %s (has %q)", d, id, r.latest[fmt.Sprintf("dev%d", d)])
			}
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("the latest item of %d publishers, e.g. %s", n, first)
}

func (r *notes) saw(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Contains(r.all, []byte(s))
}

func (r *notes) tail() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.all[max(0, len(r.all)-500):])
}
func (r *notes) chatCount() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.chat) }
func (r *notes) chatList() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.chat...)
}
func (r *notes) count() int { r.mu.Lock(); defer r.mu.Unlock(); return r.n }
func sortedRun(v []int, n int) bool {
	if len(v) != n {
		return false
	}
	for i, x := range v {
		if x != i {
			return false
		}
	}
	return true
}

func isTimeoutErr(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// syncBuffer is a log destination that tests read while the hub writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A resource that falls behind gets the latest presence of another, not
// every change: 5,000 presence changes to a reader that reads nothing
// meanwhile arrive as fewer, the last one last.
func TestPresenceIsConflatedForAResourceBehind(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Limits.StanzaRate, c.Limits.ByteRate = -1, -1 })
	pw := h.Account(t, "alice", devices.RoleOperator)
	desk := xmpptest.DialRaw(t, h.Addr)
	desk.Conn().(*net.TCPConn).SetReadBuffer(32 << 10)
	desk.Login("localhost", h.ClientTLS, "alice", pw, "desk")
	desk.Send("<presence/><iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>")
	desk.ReadUntil("id='sync'")
	phone := xmpptest.Dial(t, h.Options(), "alice", pw)
	const changes = 5000
	pad := strings.Repeat("p", 2000)
	for i := range changes {
		phone.Send("<presence><status>%d %s</status></presence>", i, pad)
	}
	phone.Sync() // every change is queued for desk

	// desk reads everything now, up to its ping's answer.
	desk.Send("<iq type='get' id='done'><ping xmlns='urn:xmpp:ping'/></iq>")
	got := desk.ReadUntil("id='done'")
	statusRE := regexp.MustCompile(`from='` + regexp.QuoteMeta(phone.JID.String()) + `'[^>]*><status>(\d+) `)
	all := statusRE.FindAllStringSubmatch(got, -1)
	if len(all) == 0 || all[len(all)-1][1] != strconv.Itoa(changes-1) {
		t.Fatalf("desk's last presence from the phone is not the last change: %d presences", len(all))
	}
	for i := 1; i < len(all); i++ {
		a, _ := strconv.Atoi(all[i-1][1])
		b, _ := strconv.Atoi(all[i][1])
		if b <= a {
			t.Fatalf("presence %d after %d", b, a)
		}
	}
	if st := h.Server.Stats(); len(all) >= changes || st.Conflated == 0 {
		t.Errorf("%d of %d presence changes arrived, %d conflated: want older ones superseded", len(all), changes, st.Conflated)
	}
	t.Logf("%d of %d presence changes arrived", len(all), changes)
}
