package mqttbridge_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
	"github.com/geohub/geohub/internal/xmpptest"
	"github.com/geohub/geohub/mqttbridge"
)

func isPresence(from, typ string) func(*xmpptest.Node) bool {
	return func(n *xmpptest.Node) bool {
		return n.Name() == "presence" && n.Attr("from") == from && n.Attr("type") == typ
	}
}

// noPresence fails the test if c received presence from jid.
func noPresence(t *testing.T, c *xmpptest.Client, jid, when string) {
	t.Helper()
	for _, n := range c.Drain() {
		if n.Name() == "presence" && n.Attr("from") == jid {
			t.Errorf("%s: presence %s", when, n)
		}
	}
}

func location(lat, lon float64) string {
	return fmt.Sprintf(`{"_type":"location","lat":%v,"lon":%v,"tst":%d}`, lat, lon, time.Now().Unix())
}

const lwt = `{"_type":"lwt","tst":1764000000}`

// An OwnTracks tracker that reports comes online: in the account store
// (the dashboard's online), on its status topic, and to the XMPP operators
// of its group as the available resource <device>/mqtt, also for one who
// logs in later. Its last will makes it offline everywhere; its next fix
// brings it back.
func TestMQTTDeviceIsOnlineUntilItsLastWill(t *testing.T) {
	e := start(t, nil)
	h := e.hub
	const remote = "car-17@localhost/mqtt"
	op := h.Login(t, "op", devices.RoleOperator, "mqtt")
	op.Send("<presence/>")
	op.Drain()
	s := sub(t, e.broker, "geohub/+/status")

	pub(t, e.broker, "owntracks/car-17/phone", location(52.52, 13.405))
	p := op.WaitFor("available presence", isPresence(remote, ""))
	if p.Attr("to") != op.JID.String() || p.Find("status").Text != "via MQTT" {
		t.Errorf("presence: %s", p)
	}
	waitFor(t, "car-17 online", func() bool { return h.Accounts.Online("car-17") })
	if st := s.next("geohub/car-17/status", nil).JSON(t); st["online"] != true || st["via"] != "mqtt" {
		t.Errorf("status: %v", st)
	}

	// More fixes change nothing.
	pub(t, e.broker, "owntracks/car-17/phone", location(52.53, 13.41))
	waitFor(t, "the second fix", func() bool { return e.bridge.Stats().Total.Acked == 2 })
	noPresence(t, op, remote, "second fix")

	// An operator who logs in later learns it, and a probe is answered.
	op2 := h.Login(t, "op2", devices.RoleOperator, "mqtt")
	op2.Send("<presence/>")
	op2.WaitFor("presence at login", isPresence(remote, ""))
	op2.Send("<presence type='probe' to='car-17@localhost'/>")
	op2.WaitFor("probe answer", isPresence(remote, ""))

	// The last will.
	pub(t, e.broker, "owntracks/car-17/phone", lwt)
	op.WaitFor("unavailable presence", isPresence(remote, "unavailable"))
	op2.WaitFor("unavailable presence", isPresence(remote, "unavailable"))
	waitFor(t, "car-17 offline", func() bool { return !h.Accounts.Online("car-17") })
	if st := s.next("geohub/car-17/status", nil).JSON(t); st["online"] != false || st["via"] != "mqtt-lwt" {
		t.Errorf("status after the last will: %v", st)
	}
	op2.Send("<presence type='probe' to='car-17@localhost'/>")
	noPresence(t, op2, remote, "probe after the last will")

	// Back with its next fix.
	pub(t, e.broker, "owntracks/car-17/phone", location(52.54, 13.42))
	op.WaitFor("available again", isPresence(remote, ""))
	waitFor(t, "car-17 online again", func() bool { return h.Accounts.Online("car-17") })
	if st := s.next("geohub/car-17/status", nil).JSON(t); st["online"] != true || st["via"] != "mqtt" {
		t.Errorf("status after the next fix: %v", st)
	}
}

// A tracker that falls silent for --mqtt-offline-after goes offline,
// telemetry counts as hearing from it, and a retained message the broker
// replays when a (restarted) bridge subscribes does not bring it back.
func TestSilentMQTTDeviceGoesOffline(t *testing.T) {
	const after = 400 * time.Millisecond
	e := start(t, func(c *mqttbridge.Config) {
		c.OfflineAfter = after
		c.TelemetryTopic = "sensors/{device}/telemetry"
	})
	h := e.hub
	const remote = "car@localhost/mqtt"
	op := h.Login(t, "op", devices.RoleOperator, "mqtt")
	op.Send("<presence/>")
	op.Drain()
	s := sub(t, e.broker, "geohub/+/status")

	sent := time.Now()
	pub(t, e.broker, "owntracks/car/phone", location(48.1, 11.5), "-r")
	op.WaitFor("available presence", isPresence(remote, ""))
	waitFor(t, "car online", func() bool { return h.Accounts.Online("car") })
	// Telemetry alone keeps it online, for longer than the timeout.
	var last time.Time
	for time.Since(sent) < 3*after {
		last = time.Now()
		pub(t, e.broker, "sensors/car/telemetry", `{"fuel":40}`)
	}
	if !h.Accounts.Online("car") {
		t.Fatalf("offline %v after the fix, while readings came", time.Since(sent))
	}
	op.WaitFor("unavailable after the silence", isPresence(remote, "unavailable"))
	if since := time.Since(last); since < after {
		t.Errorf("offline %v after the last message, before %v of silence", since, after)
	}
	waitFor(t, "car offline", func() bool { return !h.Accounts.Online("car") })
	s.next("geohub/car/status", nil) // online
	if st := s.next("geohub/car/status", nil).JSON(t); st["online"] != false || st["via"] != "mqtt-timeout" {
		t.Errorf("status after %v of silence (%v since the fix): %v", after, time.Since(sent), st)
	}

	// A new bridge (a restarted hub's) gets the retained location when it
	// subscribes: old news, the device stays offline.
	e.bridge.Close()
	b2, _ := startBridge(t, h, e.broker, func(c *mqttbridge.Config) { c.OfflineAfter = after })
	waitFor(t, "the retained location", func() bool { return b2.Stats().Total.Acked == 1 })
	if h.Accounts.Online("car") {
		t.Error("a retained location brought the device online")
	}
	noPresence(t, op, remote, "retained location")
}

// Counting composes: a device with an XMPP session and MQTT fixes is
// online until both are gone, in either order; its XMPP session sees its
// MQTT resource like any other of its resources.
func TestMQTTAndXMPPSessionsCompose(t *testing.T) {
	e := start(t, nil)
	h := e.hub
	const remote = "van@localhost/mqtt"
	op := h.Login(t, "op", devices.RoleOperator, "mqtt")
	op.Send("<presence/>")
	op.Drain()
	s := sub(t, e.broker, "geohub/+/status")

	pub(t, e.broker, "owntracks/van/phone", location(50, 8))
	op.WaitFor("MQTT presence", isPresence(remote, ""))
	if st := s.next("geohub/van/status", nil).JSON(t); st["online"] != true || st["via"] != "mqtt" {
		t.Errorf("status: %v", st)
	}
	password, err := h.Accounts.SetPassword("van", "")
	if err != nil {
		t.Fatal(err)
	}
	van := xmpptest.Dial(t, h.Options(), "van", password)
	van.Send("<presence/>")
	van.WaitFor("its own MQTT resource", isPresence(remote, ""))
	op.WaitFor("XMPP presence", isPresence(van.JID.String(), ""))

	// The last will ends the MQTT side only.
	pub(t, e.broker, "owntracks/van/phone", lwt)
	op.WaitFor("MQTT resource gone", isPresence(remote, "unavailable"))
	van.WaitFor("its own MQTT resource gone", isPresence(remote, "unavailable"))
	waitFor(t, "the last will handled", func() bool { return e.bridge.Stats().Total.Acked == 2 })
	if !h.Accounts.Online("van") {
		t.Error("offline with an XMPP session")
	}
	// MQTT again, then the XMPP session ends: still online.
	pub(t, e.broker, "owntracks/van/phone", location(50.1, 8.1))
	op.WaitFor("MQTT presence again", isPresence(remote, ""))
	van.Close()
	op.WaitFor("XMPP resource gone", isPresence(van.JID.String(), "unavailable"))
	if !h.Accounts.Online("van") {
		t.Error("offline with the bridge's session")
	}
	// The next status is the one the second last will makes: none for
	// the changes in between, which left the device online.
	pub(t, e.broker, "owntracks/van/phone", lwt)
	waitFor(t, "van offline", func() bool { return !h.Accounts.Online("van") })
	if st := s.next("geohub/van/status", nil).JSON(t); st["online"] != false || st["via"] != "mqtt-lwt" {
		t.Errorf("status after both ended: %v", st)
	}
}

// One session per device per bridge, however many brokers it comes
// through; a removed device and a closing bridge give theirs back.
func TestMQTTOnlineWithTwoBrokersRemovalAndClose(t *testing.T) {
	b1, b2 := peers.StartMosquitto(t), peers.StartMosquitto(t)
	h := hubtest.Start(t)
	bridge, _ := startBridge(t, h, b1, func(c *mqttbridge.Config) { c.Brokers = append(c.Brokers, b2.URL) })
	waitFor(t, "both brokers", func() bool { return bridge.BridgeState() == "connected" })
	op := h.Login(t, "op", devices.RoleOperator, "mqtt")
	op.Send("<presence/>")
	op.Drain()

	pub(t, b1, "owntracks/one/phone", location(50, 8))
	pub(t, b2, "owntracks/one/phone", location(50.1, 8.1))
	waitFor(t, "both fixes", func() bool { return bridge.Stats().Total.Acked == 2 })
	op.WaitFor("presence", isPresence("one@localhost/mqtt", ""))
	noPresence(t, op, "one@localhost/mqtt", "the fix through the second broker")
	pub(t, b2, "owntracks/one/phone", lwt) // one last will ends the one session
	waitFor(t, "one offline", func() bool { return !h.Accounts.Online("one") })

	// Removed while online: offline, and a device made again under the
	// same name starts from nothing.
	pub(t, b1, "owntracks/two/phone", location(51, 9))
	op.WaitFor("presence of two", isPresence("two@localhost/mqtt", ""))
	if err := h.Accounts.Remove("two"); err != nil {
		t.Fatal(err)
	}
	op.WaitFor("two gone", isPresence("two@localhost/mqtt", "unavailable"))
	waitFor(t, "two offline", func() bool { return !h.Accounts.Online("two") })
	pub(t, b1, "owntracks/two/phone", location(51.1, 9.1))
	op.WaitFor("the new two", isPresence("two@localhost/mqtt", ""))
	waitFor(t, "the new two online", func() bool { return h.Accounts.Online("two") })

	// The bridge closes: its devices go offline.
	bridge.Close()
	op.WaitFor("two gone with the bridge", isPresence("two@localhost/mqtt", "unavailable"))
	if h.Accounts.Online("two") {
		t.Error("online after the bridge closed")
	}
}
