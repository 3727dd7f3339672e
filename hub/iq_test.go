package hub_test

import (
	"slices"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
)

func TestServerDiscoAdvertisesWhatIsImplemented(t *testing.T) {
	h := hubtest.Start(t)
	c := h.Login(t, "op", devices.RoleOperator)
	res := c.IQ("<iq type='get' id='ID' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	q := res.Child("http://jabber.org/protocol/disco#info", "query")
	if q == nil {
		t.Fatalf("disco#info: %s", res)
	}
	if id := q.Child("", "identity"); id.Attr("category") != "server" || id.Attr("type") != "im" {
		t.Errorf("identity: %s", id)
	}
	var features []string
	for _, f := range q.All("feature") {
		features = append(features, f.Attr("var"))
	}
	want := []string{
		"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
		"jabber:iq:roster", "jabber:iq:version", "msgoffline", "urn:xmpp:blocking", "urn:xmpp:carbons:2", "urn:xmpp:features:rosterver", "urn:xmpp:ping",
	}
	if !slices.Equal(features, want) {
		t.Errorf("features\n got %v\nwant %v", features, want)
	}
	// Every advertised IQ namespace is answered.
	for _, q := range []string{
		"<query xmlns='http://jabber.org/protocol/disco#items'/>",
		"<ping xmlns='urn:xmpp:ping'/>",
		"<query xmlns='jabber:iq:version'/>",
		"<blocklist xmlns='urn:xmpp:blocking'/>",
	} {
		if res := c.IQ("<iq type='get' id='ID' to='localhost'>" + q + "</iq>"); res.Attr("type") != "result" {
			t.Errorf("%s: %s", q, res)
		}
	}
	if res := c.IQ("<iq type='get' id='ID'><query xmlns='jabber:iq:roster'/></iq>"); res.Attr("type") != "result" {
		t.Errorf("roster: %s", res)
	}
	res = c.IQ("<iq type='get' id='ID' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='nope'/></iq>")
	if res.ErrorCondition() != "item-not-found" {
		t.Errorf("unknown node: %s", res)
	}
	// Own account: an account identity.
	res = c.IQ("<iq type='get' id='ID'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if id := res.Find("query/identity"); id.Attr("category") != "account" {
		t.Errorf("own account: %s", res)
	}
}

func TestVersion(t *testing.T) {
	h := hubtest.Start(t, func(c *hub.Config) { c.Version = "1.2.3" })
	c := h.Login(t, "op", devices.RoleOperator)
	res := c.IQ("<iq type='get' id='ID' to='localhost'><query xmlns='jabber:iq:version'/></iq>")
	if res.Find("query/name").Text != "GeoHub" || res.Find("query/version").Text != "1.2.3" || res.Attr("from") != "localhost" {
		t.Errorf("version: %s", res)
	}
}

func TestMalformedIQs(t *testing.T) {
	h := hubtest.Start(t)
	c := h.Login(t, "op", devices.RoleOperator)
	for _, tc := range []struct{ iq, cond string }{
		{"<iq type='get' id='ID' to='localhost'/>", "bad-request"},
		{"<iq type='get' id='ID' to='localhost'><ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/></iq>", "bad-request"},
		{"<iq type='fetch' id='ID' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>", "bad-request"},
		{"<iq type='get' id='ID' to='localhost'><unknown xmlns='urn:example'/></iq>", "service-unavailable"},
		{"<iq type='set' id='ID' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", "bad-request"},
	} {
		if res := c.IQ(tc.iq); res.Attr("type") != "error" || res.ErrorCondition() != tc.cond {
			t.Errorf("%s: got %s, want %s", tc.iq, res, tc.cond)
		}
	}
	c.Send("<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	if n := c.Next(); n.ErrorCondition() != "bad-request" {
		t.Errorf("iq without id: %s", n)
	}
}
