package hub_test

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// BenchmarkSMPublish measures the cost of stream management on the publish
// path: devices publish XEP-0080 fixes, one in flight each, without and
// with <enable/> (then they answer the hub's <r/> as a client does), in
// the same run, each on a fresh hub (a hub that stored the other's fixes
// would be slower for it).
func BenchmarkSMPublish(b *testing.B) {
	const n = 50
	const pw = "bench-device-password"
	for _, sm := range []bool{false, true} {
		b.Run(fmt.Sprintf("sm=%v", sm), func(b *testing.B) {
			h := hubtest.Start(b, unlimited)
			var reqs []devices.NewAccount
			for i := range n {
				reqs = append(reqs, devices.NewAccount{Name: fmt.Sprintf("dev%d", i), Role: devices.RoleDevice, Password: pw})
			}
			if _, err := h.Accounts.Add(reqs...); err != nil {
				b.Fatal(err)
			}
			conns := make([]net.Conn, n)
			for d := range n {
				r := xmpptest.DialRaw(b, h.Addr)
				r.Login("localhost", h.ClientTLS, fmt.Sprintf("dev%d", d), pw, "gps")
				if sm {
					r.Send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
					r.ReadUntil("<enabled")
					r.ReadUntil("/>")
				}
				conns[d] = r.Conn()
				r.Conn().SetReadDeadline(time.Time{})
			}
			var issued atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for d := range n {
				wg.Go(func() {
					c, buf, handled := conns[d], make([]byte, 8192), 0
					for seq := 0; issued.Add(1) <= int64(b.N); seq++ {
						fix := fmt.Sprintf("<iq type='set' id='p%d'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/geoloc'>"+
							"<item id='f%d'><geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>%.5f</lat><lon>13.405</lon><accuracy>5</accuracy></geoloc></item></publish></pubsub></iq>",
							seq, seq, 52+float64(seq%1000)/10000)
						if _, err := c.Write([]byte(fix)); err != nil {
							b.Error(err)
							return
						}
						var got []byte
						for !bytes.Contains(got, []byte("id='p"+strconv.Itoa(seq)+"'")) {
							m, err := c.Read(buf)
							if err != nil {
								b.Error(err)
								return
							}
							got = append(got, buf[:m]...)
						}
						handled++
						if sm && bytes.Contains(got, []byte("<r xmlns='urn:xmpp:sm:3'/>")) {
							fmt.Fprintf(c, "<a xmlns='urn:xmpp:sm:3' h='%d'/>", handled)
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "publishes/s")
			for _, c := range conns {
				c.Close()
			}
		})
	}
}

// BenchmarkSMResume measures resumption over STARTTLS on loopback: from the
// moment the client drops its link to <resumed/> on a new one (TCP, TLS,
// SASL PLAIN and <resume/>).
func BenchmarkSMResume(b *testing.B) {
	h := hubtest.Start(b, unlimited)
	pw := h.Account(b, "alice", devices.RoleOperator)
	c := bindSM(b, h.Addr, h.ClientTLS, "alice", pw, "phone")
	id := c.enable(true).Attr("id")
	b.ResetTimer()
	for range b.N {
		c.cut()
		var ans *xmpptest.Node
		c, ans = resumeSM(b, h.Addr, h.ClientTLS, "alice", pw, id, 0)
		if ans.XMLName.Local != "resumed" {
			b.Fatalf("resume: %s", ans)
		}
	}
}

// BenchmarkSMHibernatedMemory reports the heap a hibernated session holds:
// sessions that enabled resumption, each with a few messages unacknowledged,
// lose their links and wait.
func BenchmarkSMHibernatedMemory(b *testing.B) {
	const n = 200
	h := hubtest.Start(b, unlimited, func(c *hub.Config) { c.SM.MaxHibernated = 1 << 20 })
	pw := h.Account(b, "alice", devices.RoleOperator)
	bob := h.Login(b, "bob", devices.RoleOperator)
	for iter := range b.N {
		heap := func() uint64 {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return m.HeapAlloc
		}
		before := heap()
		for i := range n {
			res := fmt.Sprintf("r%d-%d", iter, i)
			c := bindSM(b, h.Addr, h.ClientTLS, "alice", pw, res)
			c.mute = true
			c.enable(true)
			to := "alice@localhost/" + res
			chat(bob, to, "one", "two", "three")
			c.waitFor("three", func(n *xmpptest.Node) bool { return n.Child("", "body") != nil && n.Child("", "body").Text == "three" })
			c.cut()
		}
		for h.Server.Stats().Hibernated < n*(iter+1) {
			time.Sleep(time.Millisecond) // until the hub has seen every link drop
		}
		after := heap()
		b.ReportMetric(float64(int64(after)-int64(before))/n, "heap-bytes/hibernated-session")
	}
}
