package mqttbridge_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/peers"
	"github.com/geohub/geohub/mqttbridge"
)

func otLoc(lat float64, tst time.Time) string {
	return fmt.Sprintf(`{"_type":"location","lat":%v,"lon":13.4,"tst":%d}`, lat, tst.Unix())
}

func stored(h *hubtest.Hub, name string) bool {
	_, ok := h.Geo.Latest(name + "@localhost")
	return ok
}

// A device at its limit of PEP nodes cannot get a geoloc node: the hub
// answers resource-constraint (type wait), for good. More such messages
// than Mosquitto's in-flight window (20) are each refused and acknowledged,
// so the bridge goes on with other devices; and the device, stored from
// never, does not come online.
func TestPermanentPublishErrorIsAcked(t *testing.T) {
	e := start(t, nil)
	h := e.hub
	h.Account(t, "full", devices.RoleDevice)
	for i := 0; ; i++ {
		done := make(chan error, 1)
		node := fmt.Sprintf("urn:example:n%d", i)
		h.PublishPEP("full", node, "1", []byte("<x xmlns='"+node+"'/>"), func(err error) { done <- err })
		if err := <-done; err != nil {
			break
		}
	}
	tst := time.Now().Add(-time.Hour).Truncate(time.Second)
	const n = 25
	for i := range n {
		pub(t, e.broker, "owntracks/full/phone", otLoc(52, tst.Add(time.Duration(i)*time.Second)))
	}
	pub(t, e.broker, "owntracks/other/phone", otLoc(52, tst))
	waitFor(t, "another device's fix", func() bool { return stored(h, "other") })
	// The other device's fix is stored a moment before its
	// acknowledgement is counted.
	waitFor(t, "every message acknowledged", func() bool { return e.bridge.Stats().Total.Acked >= n+1 })
	st := e.bridge.Stats().Total
	if st.Refused != n || st.Acked != n+1 || st.Failed != 0 {
		t.Errorf("refused %d acked %d failed %d, want %d, %d, 0", st.Refused, st.Acked, st.Failed, n, n+1)
	}
	if h.Accounts.Online("full") {
		t.Error("a device nothing was stored of is online")
	}
}

// A store that fails (internal-server-error) is retried in the bridge;
// the message is acknowledged once stored.
func TestTransientPublishErrorIsRetried(t *testing.T) {
	mqttbridge.SetRetries(t, 6, time.Millisecond)
	broker := peers.StartMosquitto(t)
	h := hubtest.Start(t)
	var failures atomic.Int32
	b, _ := startHooked(t, h, broker, nil, mqttbridge.Hooks{
		Publish: func(real func(string, string, string, []byte, func(error)), account, node, id string, payload []byte, done func(error)) {
			if failures.Add(1) <= 3 {
				done(&hub.PublishError{Type: "wait", Condition: "internal-server-error"})
				return
			}
			real(account, node, id, payload, done)
		}})
	pub(t, broker, "owntracks/car/phone", otLoc(52, time.Now().Add(-time.Minute)))
	waitFor(t, "the fix stored", func() bool { return stored(h, "car") })
	waitFor(t, "the ack", func() bool { return b.Stats().Total.Acked == 1 })
	if st := b.Stats().Total; st.Failed != 3 || st.Fixes != 1 || st.Refused != 0 {
		t.Errorf("%+v", st)
	}
	waitFor(t, "the device online", func() bool { return h.Accounts.Online("car") })
}

// When the retries are used up, the message is not acknowledged and the
// bridge reconnects, so that the broker sends it again; once the store
// works, it is stored.
func TestPublishGivenUpReconnects(t *testing.T) {
	mqttbridge.SetRetries(t, 1, time.Millisecond)
	broker := peers.StartMosquitto(t)
	h := hubtest.Start(t)
	var broken atomic.Bool
	broken.Store(true)
	b, _ := startHooked(t, h, broker, nil, mqttbridge.Hooks{
		Publish: func(real func(string, string, string, []byte, func(error)), account, node, id string, payload []byte, done func(error)) {
			if broken.Load() {
				done(&hub.PublishError{Type: "wait", Condition: "internal-server-error"})
				return
			}
			real(account, node, id, payload, done)
		}})
	pub(t, broker, "owntracks/car/phone", otLoc(52, time.Now().Add(-time.Minute)))
	waitFor(t, "a reconnect", func() bool { return b.Stats().Brokers[0].Connects >= 2 })
	if st := b.Stats().Total; st.Acked != 0 {
		t.Errorf("a message not stored was acknowledged: %+v", st)
	}
	broken.Store(false)
	waitFor(t, "the fix stored", func() bool { return stored(h, "car") })
	waitFor(t, "the ack", func() bool { return b.Stats().Total.Acked >= 1 })
}

// A database error while provisioning is retried, not taken for a
// refusal of the name.
func TestProvisioningErrorIsRetried(t *testing.T) {
	mqttbridge.SetRetries(t, 6, time.Millisecond)
	broker := peers.StartMosquitto(t)
	h := hubtest.Start(t)
	var failures atomic.Int32
	b, _ := startHooked(t, h, broker, nil, mqttbridge.Hooks{
		Provision: func(real func(...devices.NewAccount) ([]devices.Created, error), reqs ...devices.NewAccount) ([]devices.Created, error) {
			if failures.Add(1) <= 2 {
				return nil, errors.New("disk full")
			}
			return real(reqs...)
		}})
	pub(t, broker, "owntracks/car/phone", otLoc(52, time.Now().Add(-time.Minute)))
	waitFor(t, "the fix stored", func() bool { return stored(h, "car") })
	if st := b.Stats().Total; st.Provisioned != 1 || st.Refused != 0 {
		t.Errorf("%+v", st)
	}
}

// A topic's name must be an account name as written: ALICE or a fullwidth
// ａｌｉｃｅ, which the store takes for alice, are refused; so are names the
// bridge does not provision, and a {user}-{device} whose levels hold the
// separator.
func TestNamesAreTakenAsWritten(t *testing.T) {
	e := start(t, func(c *mqttbridge.Config) { c.OwnTracksName = "{user}-{device}" })
	h := e.hub
	h.Account(t, "alice-phone", devices.RoleDevice)
	tst := time.Now().Add(-time.Minute)
	bad := []string{"ALICE/phone", "ａｌｉｃｅ/phone", "alice/bob-phone", "alice-bob/phone", "bob/x%y", ".dot/phone", "a..b/phone"}
	for _, topic := range bad {
		pub(t, e.broker, "owntracks/"+topic, otLoc(52, tst))
	}
	waitFor(t, "the refusals", func() bool { return e.bridge.Stats().Total.Refused == uint64(len(bad)) })
	if stored(h, "alice-phone") || e.bridge.Stats().Total.Provisioned != 0 {
		t.Errorf("stored or provisioned: %+v", e.bridge.Stats().Total)
	}
	pub(t, e.broker, "owntracks/alice/phone", otLoc(52, tst))
	waitFor(t, "alice-phone's fix", func() bool { return stored(h, "alice-phone") })
	if n := len(h.Accounts.List(devices.Filter{})); n != 1 {
		t.Errorf("%d accounts", n)
	}
}

// The hub's own name (its JID sends alerts) is never provisioned: a tracker
// that reports under it is refused, not retried.
func TestHubNameIsNotProvisioned(t *testing.T) {
	e := start(t, nil)
	pub(t, e.broker, "owntracks/geohub/phone", otLoc(52, time.Now().Add(-time.Minute)))
	waitFor(t, "the refusal", func() bool { return e.bridge.Stats().Total.Refused == 1 })
	if _, ok := e.hub.Accounts.Get("geohub"); ok || e.bridge.Stats().Total.Provisioned != 0 {
		t.Errorf("geohub provisioned: %+v", e.bridge.Stats().Total)
	}
}

// Provisioning is rate limited, and a first telemetry message is checked
// before its device is provisioned.
func TestProvisioningLimits(t *testing.T) {
	e := start(t, func(c *mqttbridge.Config) {
		c.ProvisionRate = 0.001 // a burst of one, then next to nothing
		c.TelemetryTopic = "sensors/{device}/telemetry"
	})
	pub(t, e.broker, "sensors/t1/telemetry", `{"`+strings.Repeat("x", 100)+`":1}`)
	waitFor(t, "the malformed telemetry", func() bool { return e.bridge.Stats().Total.Malformed == 1 })
	if _, ok := e.hub.Accounts.Get("t1"); ok {
		t.Error("refused telemetry provisioned its device")
	}
	tst := time.Now().Add(-time.Minute)
	for _, name := range []string{"d1", "d2", "d3"} {
		pub(t, e.broker, "owntracks/"+name+"/phone", otLoc(52, tst))
	}
	waitFor(t, "the fixes handled", func() bool { st := e.bridge.Stats().Total; return st.Provisioned+st.Refused == 3 })
	if st := e.bridge.Stats().Total; st.Provisioned != 1 {
		t.Errorf("provisioned %d, want 1", st.Provisioned)
	}
}

// With --mqtt-accept mqtt, a device account made for XMPP takes nothing
// from MQTT.
func TestAcceptOnlyMQTTDevices(t *testing.T) {
	e := start(t, func(c *mqttbridge.Config) { c.Accept = mqttbridge.AcceptMQTT })
	e.hub.Account(t, "xdev", devices.RoleDevice)
	tst := time.Now().Add(-time.Minute)
	pub(t, e.broker, "owntracks/xdev/phone", otLoc(52, tst))
	pub(t, e.broker, "owntracks/mdev/phone", otLoc(52, tst))
	pub(t, e.broker, "owntracks/mdev/phone", otLoc(53, tst.Add(time.Second)))
	waitFor(t, "mdev's fixes", func() bool { return e.bridge.Stats().Total.Fixes == 2 })
	if stored(e.hub, "xdev") || e.bridge.Stats().Total.Refused != 1 {
		t.Errorf("xdev: %+v", e.bridge.Stats().Total)
	}
}

// A removed device, XMPP or MQTT, is said offline on its status topic and
// its retained location is cleared.
func TestRemovedDeviceTopicsCleared(t *testing.T) {
	e := start(t, nil)
	h := e.hub
	s := sub(t, e.broker, "geohub/+/status", "geohub/+/location")
	h.Account(t, "xdev", devices.RoleDevice)
	done := make(chan error, 1)
	h.PublishPEP("xdev", "http://jabber.org/protocol/geoloc", "1",
		[]byte("<geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>1</lat><lon>2</lon></geoloc>"), func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	pub(t, e.broker, "owntracks/mdev/phone", otLoc(52, time.Now().Add(-time.Minute)))
	for _, name := range []string{"xdev", "mdev"} {
		s.next("geohub/"+name+"/location", func(r received) bool { return r.Payload != "(null)" })
		if err := h.Accounts.Remove(name); err != nil {
			t.Fatal(err)
		}
		st := s.next("geohub/"+name+"/status", func(r received) bool { return strings.Contains(r.Payload, `"online":false`) }).JSON(t)
		if st["via"] != "removed" {
			t.Errorf("%s: %v", name, st)
		}
		s.next("geohub/"+name+"/location", func(r received) bool { return r.Payload == "(null)" })
	}
}

// A retained JSON location without a time is ignored: the broker replays
// it at every subscription, and each replay would be a new current fix.
// One with a time is taken.
func TestRetainedFixWithoutTimeIgnored(t *testing.T) {
	broker := peers.StartMosquitto(t)
	pub(t, broker, "sensors/untimed/location", `{"lat":1,"lon":2}`, "-r")
	pub(t, broker, "sensors/timed/location", fmt.Sprintf(`{"lat":1,"lon":2,"time":%d}`, time.Now().Add(-time.Hour).Unix()), "-r")
	h := hubtest.Start(t)
	b, _ := startBridge(t, h, broker, func(c *mqttbridge.Config) { c.JSONTopic = "sensors/{device}/location" })
	waitFor(t, "the timed fix", func() bool { return stored(h, "timed") })
	waitFor(t, "the untimed one ignored", func() bool { return b.Stats().Total.Ignored == 1 })
	if stored(h, "untimed") {
		t.Error("a retained fix without a time was stored")
	}
}

// Each broker entry after the first gets a client ID of its own; two
// entries on one broker stay connected side by side.
func TestClientIDPerEntry(t *testing.T) {
	broker := peers.StartMosquitto(t)
	h := hubtest.Start(t)
	b, _ := startBridge(t, h, broker, func(c *mqttbridge.Config) { c.Brokers = []string{broker.URL, broker.URL, broker.URL} })
	if ids := b.ClientIDs(); strings.Join(ids, " ") != "geohub-test geohub-test-2 geohub-test-3" {
		t.Errorf("client IDs %v", ids)
	}
	waitFor(t, "every connection up", func() bool {
		for _, c := range b.Stats().Brokers {
			if !c.Connected {
				return false
			}
		}
		return true
	})
}
