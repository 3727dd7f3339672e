package component_test

import (
	"os"
	"strings"
	"testing"

	"github.com/geohub/geohub/internal/xmpptest"
	"mellium.im/sasl"
)

// Who may do what through the component: the sender is the GeoHub account
// whose bare JID Prosody stamped as from; a Prosody user GeoHub does not
// know is a stranger; devices publish, operators query.
func TestProsodyAccessRules(t *testing.T) {
	s := newSetup(t)
	s.serve(t)
	if err := s.prosody.Register(map[string]string{"stranger": "stranger-pass"}); err != nil {
		t.Fatal(err)
	}
	cert, err := os.ReadFile(s.prosody.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(name, pw string) *xmpptest.Client {
		return xmpptest.Dial(t, xmpptest.Options{Addr: s.prosody.Addr, TLS: xmpptest.TrustPEM(cert), Mechanism: sasl.ScramSha1}, name, pw)
	}
	car, op, stranger := dial("car", s.pw["car"]), dial("op", s.pw["op"]), dial("stranger", "stranger-pass")
	pub := func(c *xmpptest.Client, node, payload string) *xmpptest.Node {
		return c.IQ("<iq type='set' id='ID' to='" + componentDomain + "'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='" +
			node + "'><item>" + payload + "</item></publish></pubsub></iq>")
	}
	const geo = "http://jabber.org/protocol/geoloc"
	fix := "<geoloc xmlns='" + geo + "'><lat>52.52</lat><lon>13.40</lon></geoloc>"

	if res := pub(car, geo, fix); res.Attr("type") != "result" {
		t.Errorf("device's fix: %s", res)
	}
	reading := "<fields xmlns='urn:xmpp:iot:sensordata' seqnr='1' done='true'><timestamp value='2026-01-01T00:00:00Z'>" +
		"<numeric name='battery' momentary='true' automaticReadout='true' value='87' unit='%'/></timestamp></fields>"
	if res := pub(car, "urn:xmpp:iot:sensordata", reading); res.Attr("type") != "result" {
		t.Errorf("device's reading: %s", res)
	}
	if res := pub(car, geo, "<geoloc xmlns='"+geo+"'><lat>95</lat><lon>13.40</lon></geoloc>"); res.Attr("type") != "error" ||
		res.ErrorCondition() != "bad-request" || !strings.Contains(res.String(), "lat") {
		t.Errorf("a fix with lat 95: %s, want bad-request naming lat", res)
	}
	if res := pub(stranger, geo, fix); res.Attr("type") != "error" || res.ErrorCondition() != "forbidden" {
		t.Errorf("a stranger's fix: %s, want forbidden", res)
	}

	query := "<iq type='get' id='ID' to='" + componentDomain + "'><nearby xmlns='urn:geohub:shard:0' lat='52.52' lon='13.40' radius='1000'/></iq>"
	for _, c := range []*xmpptest.Client{car, stranger} {
		if res := c.IQ(query); res.ErrorCondition() != "forbidden" {
			t.Errorf("%s queries the fleet: %s, want forbidden", c.JID, res)
		}
	}
	res := op.IQ(query)
	q := res.Child("urn:geohub:shard:0", "nearby")
	if q == nil || len(q.All("device")) != 1 || q.All("device")[0].Attr("jid") != "car@localhost" ||
		len(q.All("shard")) != 1 || q.All("shard")[0].Attr("status") != "ok" {
		t.Errorf("operator's query: %s", res)
	}

	stranger.Send("<message type='chat' to='%s' id='m1'><body>where car</body></message>", componentDomain)
	refused := stranger.WaitFor("the refusal", func(n *xmpptest.Node) bool { return n.Name() == "message" && n.Attr("id") == "m1" })
	if refused.Attr("type") != "error" || refused.ErrorCondition() != "forbidden" {
		t.Errorf("a stranger's chat command: %s, want forbidden", refused)
	}
}
