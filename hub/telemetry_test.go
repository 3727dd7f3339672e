package hub_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	geo "github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// publishSensorData publishes XEP-0323 fields, read now, to the sender's
// own PEP sensor data node.
func publishSensorData(c *xmpptest.Client, id, fields string) *xmpptest.Node {
	return c.IQ(fmt.Sprintf("<iq type='set' id='ID'><pubsub xmlns='%s'><publish node='%s'><item id='%s'>"+
		"<fields xmlns='%s' seqnr='1' done='true'><node nodeId='self'><timestamp value='%s'>%s</timestamp></node></fields>"+
		"</item></publish></pubsub></iq>", nsPubSub, geo.NSSensorData, id, geo.NSSensorData,
		time.Now().UTC().Format(time.RFC3339Nano), fields))
}

func battery(v string) string {
	return "<numeric name='battery' momentary='true' automaticReadout='true' value='" + v + "' unit='%'/>"
}

func TestLowBatteryAlertFromSensorData(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator, "fleet")
	op.Send("<presence/>")
	car := h.Login(t, "car", devices.RoleDevice, "fleet")
	rules, err := h.Geo.AddRules([]*geo.Rule{{Name: "Low battery", Sensor: "battery", Below: limit(15), Hysteresis: 2,
		Groups: []string{"fleet"}, Notify: []string{"op@localhost"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := rules[0].ID
	// The rule has its alert node, readable by operators, as a fence has.
	ok(t, "operator subscribes to the rule's alerts", ps(op, "set", nsPubSub, "<subscribe node='alerts/"+id+"' jid='op@localhost'/>"))
	wantError(t, "device subscribes to the rule's alerts", ps(car, "set", nsPubSub, "<subscribe node='alerts/"+id+"' jid='car@localhost'/>"), "not-allowed", "closed-node")

	ok(t, "position", publishGeoloc(car, "g1", 52.51, 13.40))
	ok(t, "battery fine", publishSensorData(car, "s1", battery("40")))
	ok(t, "battery low", publishSensorData(car, "s2", battery("12")+"<numeric name='temperature' value='4.5' unit='°C'/>"))
	ok(t, "still low", publishSensorData(car, "s3", battery("11")))

	msg := op.WaitFor("low battery alert", isAlertMessage)
	a := alertOf(msg)
	body := msg.Find("body").Text
	if msg.Attr("from") != "geohub@localhost/hub" || a.Attr("event") != "below" || a.Attr("rule") != id || a.Attr("rule-name") != "Low battery" ||
		a.Attr("device") != "car@localhost" || a.Attr("sensor") != "battery" || a.Attr("value") != "12" || a.Attr("unit") != "%" ||
		a.Attr("threshold") != "15" || !strings.HasPrefix(body, "car battery 12 % below 15 % (Low battery) at ") {
		t.Errorf("alert message: %s", msg)
	}
	if g := a.Child(nsGeoloc, "geoloc"); g == nil || g.Find("lat").Text != "52.51" {
		t.Errorf("the alert does not say where the device is: %s", msg)
	}
	ev := op.WaitFor("rule node event", isEventFrom("pubsub.localhost"))
	if ev.Find("event/items").Attr("node") != "alerts/"+id || alertOf(ev.Find("event/items/item")).Attr("id") != a.Attr("id") {
		t.Errorf("alerts/%s event: %s", id, ev)
	}
	// The latest values travel with the device.
	rs := h.Geo.Readings("car@localhost")
	if rs["battery"].Value != 11 || rs["temperature"].Unit != "°C" || len(h.Geo.Series("car@localhost", "battery", time.Time{}, time.Now(), 0)) != 3 {
		t.Errorf("readings: %+v", rs)
	}

	// A bad reading is refused, naming the problem, and stores nothing.
	for _, bad := range []struct{ fields, want string }{
		{battery("NaN"), "finite"},
		{"<numeric name='' value='1'/>", "name"},
		{battery("much"), "not a number"},
	} {
		res := publishSensorData(car, "bad", bad.fields)
		if res.ErrorCondition() != "bad-request" || !strings.Contains(res.Find("error/text").Text, bad.want) {
			t.Errorf("%s: %s", bad.fields, res)
		}
	}
	future := car.IQ(fmt.Sprintf("<iq type='set' id='ID'><pubsub xmlns='%s'><publish node='%s'><item id='bad'>"+
		"<fields xmlns='%s'><timestamp value='%s'>%s</timestamp></fields></item></publish></pubsub></iq>", nsPubSub,
		geo.NSSensorData, geo.NSSensorData, time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339), battery("90")))
	if future.ErrorCondition() != "bad-request" || !strings.Contains(future.Find("error/text").Text, "future") {
		t.Errorf("a reading from the future: %s", future)
	}
	items := ok(t, "the node's items", car.IQ("<iq type='get' id='ID' to='car@localhost'><pubsub xmlns='"+nsPubSub+"'><items node='"+geo.NSSensorData+"'/></pubsub></iq>"))
	for _, it := range items.All("pubsub") {
		for _, item := range it.Find("items").All("item") {
			if item.Attr("id") == "bad" {
				t.Errorf("a refused item was stored: %s", items)
			}
		}
	}
	if rs := h.Geo.Readings("car@localhost"); rs["battery"].Value != 11 {
		t.Errorf("a refused reading was stored: %+v", rs)
	}

	// Back above the threshold by the hysteresis, then low again: a second alert.
	ok(t, "recovered", publishSensorData(car, "s4", battery("18")))
	ok(t, "low again", publishSensorData(car, "s5", battery("9.5")))
	msg = op.WaitFor("second alert", isAlertMessage)
	if a := alertOf(msg); a.Attr("value") != "9.5" {
		t.Errorf("second alert: %s", msg)
	}

	// Removing the rule deletes its node; its subscribers hear of it.
	if err := h.Geo.RemoveRule(id); err != nil {
		t.Fatal(err)
	}
	ev = op.WaitFor("node deletion", func(n *xmpptest.Node) bool {
		return isEventFrom("pubsub.localhost")(n) && n.Find("event/delete") != nil
	})
	if ev.Find("event/delete").Attr("node") != "alerts/"+id {
		t.Errorf("deletion event: %s", ev)
	}
	// The device never hears of the alerts.
	car.Sync()
	for _, n := range car.Drain() {
		if n.Name() == "message" && alertOf(n) != nil {
			t.Errorf("device got %s", n)
		}
	}
}

func TestThresholdAlarmSurvivesRestart(t *testing.T) {
	h := hubtest.Start(t)
	opPW := h.Account(t, "op", devices.RoleOperator, "fleet")
	carPW := h.Account(t, "car", devices.RoleDevice, "fleet")
	if _, err := h.Geo.AddRules([]*geo.Rule{{Name: "Hot", Sensor: "temperature", Above: limit(8), Notify: []string{"op@localhost"}}}, nil); err != nil {
		t.Fatal(err)
	}
	car := xmpptest.Dial(t, h.Options(), "car", carPW)
	ok(t, "hot", publishSensorData(car, "s1", "<numeric name='temperature' value='9' unit='C'/>"))

	h = hubtest.Restart(t, h)
	car = xmpptest.Dial(t, h.Options(), "car", carPW)
	ok(t, "still hot", publishSensorData(car, "s2", "<numeric name='temperature' value='10' unit='C'/>"))
	ok(t, "cool", publishSensorData(car, "s3", "<numeric name='temperature' value='5' unit='C'/>"))
	ok(t, "hot again", publishSensorData(car, "s4", "<numeric name='temperature' value='11' unit='C'/>"))
	// The operator, offline all along, finds two alerts, not three.
	op := xmpptest.Dial(t, h.Options(), "op", opPW)
	op.Send("<presence/>")
	for _, want := range []string{"9", "11"} {
		if m := op.WaitFor("alert "+want, isAlertMessage); alertOf(m).Attr("value") != want {
			t.Errorf("want the alert at %s, got %s", want, m)
		}
	}
	op.Sync()
	for _, n := range op.Drain() {
		if isAlertMessage(n) {
			t.Errorf("a duplicate alert: %s", n)
		}
	}
}

func limit(v float64) *float64 { return &v }
