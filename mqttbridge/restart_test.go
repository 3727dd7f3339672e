package mqttbridge_test

import (
	"fmt"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/geohub/geohub/hub/hubtest"
)

// tracker is an OwnTracks device written with paho: QoS 1, a persistent
// session, reconnecting by itself, so that a fix the broker did not
// acknowledge is sent again.
func tracker(t testing.TB, url, id string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(false).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetMaxReconnectInterval(500 * time.Millisecond))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("tracker %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// stream publishes n OwnTracks fixes of device, one a second from base,
// QoS 1 with up to 50 awaiting the broker's acknowledgement, and reports
// when the broker has acknowledged them all. A fix whose publish failed
// (paho fails the writes under way when the connection breaks) is sent
// again, as a tracker would.
func stream(t testing.TB, url, device string, base time.Time, n int) <-chan error {
	const window = 50
	c := tracker(t, url, device+"-tracker")
	type sent struct {
		tok     mqtt.Token
		payload string
	}
	publish := func(payload string) sent {
		return sent{c.Publish("owntracks/"+device+"/gps", 1, false, payload), payload}
	}
	// settle waits for one publish, sending it again while it fails.
	settle := func(s sent) error {
		for try := 0; ; try++ {
			if !s.tok.WaitTimeout(60 * time.Second) {
				return fmt.Errorf("no acknowledgement in 60s for %s", s.payload)
			}
			if s.tok.Error() == nil {
				return nil
			}
			if try == 100 {
				return fmt.Errorf("%s: %v", s.payload, s.tok.Error())
			}
			s = publish(s.payload)
		}
	}
	done := make(chan error, 1)
	go func() {
		var pending []sent
		for i := range n {
			pending = append(pending, publish(fmt.Sprintf(`{"_type":"location","lat":%.5f,"lon":13.4,"tst":%d,"tid":"tr"}`,
				52+float64(i)*1e-4, base.Add(time.Duration(i)*time.Second).Unix())))
			if len(pending) == window {
				if err := settle(pending[0]); err != nil {
					done <- err
					return
				}
				pending = pending[1:]
			}
		}
		for _, s := range pending {
			if err := settle(s); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// wholeTrail waits until device's trail holds the n fixes of stream, in
// order.
func wholeTrail(t testing.TB, h *hubtest.Hub, device string, base time.Time, n int) {
	t.Helper()
	jid := device + "@localhost"
	end := base.Add(time.Duration(n) * time.Second)
	waitFor(t, "every fix in the trail", func() bool { return len(h.Geo.TrailPoints(jid, base, end)) == n })
	for i, p := range h.Geo.TrailPoints(jid, base, end) {
		if !p.Time.Equal(base.Add(time.Duration(i) * time.Second)) {
			t.Fatalf("trail point %d at %v", i, p.Time)
		}
	}
	if p, _ := h.Geo.Latest(jid); !p.Time.Equal(end.Add(-time.Second)) {
		t.Errorf("latest: %v", p.Time)
	}
}

// The broker is stopped by its PID and started again on the same port in
// the middle of a stream of QoS 1 fixes: every fix the tracker sent is in
// the hub afterwards. The broker keeps its sessions (persistence), the
// tracker sends again what was not acknowledged, the bridge reconnects,
// subscribes again and acknowledges only what is stored.
func TestBrokerRestartMidStreamLosesNoFix(t *testing.T) {
	e := start(t, nil, "persistence true", "max_queued_messages 0")
	h := e.hub
	const n = 4000
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	done := stream(t, e.broker.URL, "truck", base, n)
	waitFor(t, "a third of the stream", func() bool { return e.bridge.Stats().Total.Fixes >= n/3 })
	e.broker.Restart(t)
	if stored := e.bridge.Stats().Total.Fixes; stored >= n {
		t.Fatalf("the stream was over (%d fixes) before the restart", stored)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wholeTrail(t, h, "truck", base, n)
	st := e.bridge.Stats()
	if st.Brokers[0].Connects < 2 || st.Total.Malformed+st.Total.Refused+st.Total.Failed != 0 {
		t.Errorf("stats: %+v", st.Brokers[0])
	}
	t.Logf("%d fixes, %d messages received (redelivered: %d), %d connects", n, st.Total.Received, st.Total.Received-n, st.Brokers[0].Connects)
}

// Fixes published while the hub is down wait in the bridge's persistent
// session at the broker and arrive once the hub is back.
func TestFixesWhileTheHubIsDownArriveAfterwards(t *testing.T) {
	e := start(t, nil)
	tst := time.Now().Add(-time.Hour).Truncate(time.Second)
	fix := func(i int) string {
		return fmt.Sprintf(`{"_type":"location","lat":52.5,"lon":%v,"tst":%d}`, 13+float64(i)/100, tst.Add(time.Duration(i)*time.Second).Unix())
	}
	pub(t, e.broker, "owntracks/bike/phone", fix(0))
	waitFor(t, "the first fix", func() bool { return e.bridge.Stats().Total.Acked == 1 })

	e.bridge.Close()
	h := hubtest.Restart(t, e.hub)
	for i := 1; i <= 5; i++ {
		pub(t, e.broker, "owntracks/bike/phone", fix(i))
	}
	b, _ := startBridge(t, h, e.broker, nil)
	waitFor(t, "the fixes sent while the hub was down", func() bool {
		return len(h.Geo.TrailPoints("bike@localhost", tst, tst.Add(time.Minute))) == 6
	})
	if b.Stats().Total.Provisioned != 0 {
		t.Error("the device was provisioned again")
	}
}

// The hub stops in the middle of a stream: what the bridge had taken but
// not stored was not acknowledged, so the broker sends it again to the
// next session, with what came meanwhile. Nothing is lost.
func TestHubStopMidStreamLosesNoFix(t *testing.T) {
	e := start(t, nil, "max_queued_messages 0")
	const n = 4000
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	done := stream(t, e.broker.URL, "bus", base, n)
	waitFor(t, "a third of the stream", func() bool { return e.bridge.Stats().Total.Fixes >= n/3 })
	e.bridge.Close()
	if stored := e.bridge.Stats().Total.Fixes; stored >= n {
		t.Fatalf("the stream was over (%d fixes) before the hub stopped", stored)
	}
	h := hubtest.Restart(t, e.hub)
	b, _ := startBridge(t, h, e.broker, nil)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wholeTrail(t, h, "bus", base, n)
	t.Logf("after the restart: %+v", b.Stats().Total)
}
