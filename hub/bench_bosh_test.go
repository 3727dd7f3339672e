package hub_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/scram"
)

// Logins and messages over BOSH and WebSocket, to set beside
// BenchmarkLogin and BenchmarkRouteMessage (TCP). Both HTTP transports run
// over plain HTTP on loopback (no TLS handshake, unlike the TCP login),
// with the clients in the same process; the SCRAM clients keep their
// salted passwords as BenchmarkLogin's does.

// BenchmarkBOSHLogin measures full logins over BOSH: session creation,
// SCRAM-SHA-256, restart, bind, initial presence and its echo, terminate.
func BenchmarkBOSHLogin(b *testing.B) {
	h := hubtest.Start(b)
	e := boshServe(b, h, hub.BOSHConfig{}, false)
	e.hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	pw := h.Account(b, "car", devices.RoleDevice)
	cache := &scram.SaltCache{}
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, _ := boshCreateSession(b, e, 60)
			if n := saslSCRAM(b, scram.ClientMechanism(scram.SHA256, cache), "car", pw, c.saslExchange); n.XMLName.Local != "success" {
				b.Fatalf("login: %s", n)
			}
			c.restartAndBind("car", fmt.Sprintf("r%d", n.Add(1)))
			// The echo of its presence, among those of the account's
			// other resources logging in at the same time.
			for r := c.post("", "<presence xmlns='jabber:client'/>"); !strings.Contains(r.raw, "<presence from='"+c.jid+"'"); {
				r = c.post("", "")
			}
			if _, ok := c.post(" type='terminate'", "").terminated(); !ok {
				b.Fatal("terminate not answered with a terminate body")
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// BenchmarkWebSocketLogin measures the same over WebSocket: handshake,
// SCRAM-SHA-256, restart, bind, initial presence and its echo, close.
func BenchmarkWebSocketLogin(b *testing.B) {
	h := hubtest.Start(b)
	url, _ := wsServe(b, h, false)
	pw := h.Account(b, "car", devices.RoleDevice)
	cache := &scram.SaltCache{}
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w, jid := benchWSLogin(b, url, scram.ClientMechanism(scram.SHA256, cache), "car", pw, "")
			w.write(`<presence xmlns='jabber:client'/>`)
			for !strings.HasPrefix(w.read(), "<presence from='"+jid+"'") {
			}
			w.write(`<close xmlns='` + nsFraming + `'/>`)
			for !strings.HasPrefix(w.read(), "<close") {
			}
			w.c.CloseNow()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// BenchmarkBOSHMessage measures messages routed from one BOSH client
// through the hub to another, one message per request from the sender
// (which keeps its two requests in flight, as hold=1 lets it), and as
// many as have come per long-polling response to the receiver.
func BenchmarkBOSHMessage(b *testing.B) {
	h := hubtest.Start(b, unshaped)
	e := boshServe(b, h, hub.BOSHConfig{}, false)
	spw := h.Account(b, "sender", devices.RoleDevice)
	rpw := h.Account(b, "receiver", devices.RoleOperator)
	send, recv := boshLogin(b, e, "sender", spw, "s"), boshLogin(b, e, "receiver", rpw, "r")
	msg := "<message xmlns='jabber:client' to='receiver@localhost/r' type='chat' id='m'><body>52.5200,13.4050 42km/h</body></message>"
	end := []byte("</message>")
	// The clients leave the answers unparsed, so that what is measured is
	// mostly the hub's.
	post := func(c *boshClient, attrs, payload string) <-chan error {
		raw := c.body(attrs, payload)
		ch := make(chan error, 1)
		go func() { _, err := e.postBytes(raw); ch <- err }()
		return ch
	}
	b.ReportAllocs()
	b.ResetTimer()
	errc := make(chan error, 1)
	go func() {
		var prev <-chan error
		for range b.N {
			next := post(send, "", msg)
			if prev != nil {
				if err := <-prev; err != nil {
					errc <- err
					return
				}
			}
			prev = next
		}
		// The last request is held until the next one releases it: the
		// end of the session.
		rel := post(send, " type='terminate'", "")
		<-prev
		<-rel
		errc <- nil
	}()
	for got := 0; got < b.N; {
		r, err := e.postBytes(recv.body("", ""))
		if err != nil {
			b.Fatal(err)
		}
		got += bytes.Count(r, end)
	}
	b.StopTimer()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
