package hub_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// optionsForm is a publish-options form; fields are var=value pairs
// without the pubsub# prefix, in order.
func optionsForm(fields ...string) string {
	f := "<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
	for _, kv := range fields {
		k, v, _ := strings.Cut(kv, "=")
		f += "<field var='pubsub#" + k + "'><value>" + v + "</value></field>"
	}
	return f + "</x></publish-options>"
}

// publishWith publishes one item to the sender's own PEP node with
// publish-options.
func publishWith(c *xmpptest.Client, node, id string, fields ...string) *xmpptest.Node {
	return c.IQ(fmt.Sprintf("<iq type='set' id='ID'><pubsub xmlns='%s'><publish node='%s'><item id='%s'><x xmlns='urn:example'/></item></publish>%s</pubsub></iq>",
		nsPubSub, node, id, optionsForm(fields...)))
}

// nodeConfig reads a node's configuration form as var -> values joined by ",".
func nodeConfig(t *testing.T, c *xmpptest.Client, to, node string) map[string]string {
	t.Helper()
	res := c.IQ("<iq type='get' id='ID' to='" + to + "'><pubsub xmlns='" + nsPubSubOwner + "'><configure node='" + node + "'/></pubsub></iq>")
	if res.Attr("type") != "result" {
		t.Fatalf("configure get %s: %s", node, res)
	}
	values := map[string]string{}
	for _, f := range res.Find("pubsub/configure/x").All("field") {
		var vs []string
		for _, v := range f.All("value") {
			vs = append(vs, v.Text)
		}
		values[f.Attr("var")] = strings.Join(vs, ",")
	}
	return values
}

func wantPrecondition(t *testing.T, what string, res *xmpptest.Node) {
	t.Helper()
	if res.ErrorCondition() != "conflict" || appCondition(res) != "precondition-not-met" {
		t.Errorf("%s: got %s, want conflict and precondition-not-met", what, res)
	}
}

// OMEMO (XEP-0384) and bookmarks (XEP-0402) publish with max_items=max: on
// PEP it is the PEP limit, and the same options on the next publish are
// preconditions the node meets.
func TestPEPPublishOptionsMax(t *testing.T) {
	h := hubtest.Start(t)
	car := h.Login(t, "car", devices.RoleDevice)
	omemo := []string{"persist_items=true", "max_items=max", "access_model=open"}
	bookmarks := []string{"persist_items=true", "max_items=max", "send_last_published_item=never", "access_model=whitelist", "notify_delete=true", "notify_retract=1"}
	for _, tc := range []struct {
		node string
		opts []string
	}{{"urn:xmpp:omemo:2:bundles", omemo}, {"urn:xmpp:bookmarks:1", bookmarks}} {
		for i := range 3 {
			if res := publishWith(car, tc.node, fmt.Sprint("item", i), tc.opts...); res.Attr("type") != "result" {
				t.Fatalf("publish %d to %s: %s", i, tc.node, res)
			}
		}
		cfg := nodeConfig(t, car, "car@localhost", tc.node)
		if cfg["pubsub#max_items"] != "32" || cfg["pubsub#persist_items"] != "true" {
			t.Errorf("%s configuration: %v", tc.node, cfg)
		}
		items := car.IQ("<iq type='get' id='ID'><pubsub xmlns='" + nsPubSub + "'><items node='" + tc.node + "'/></pubsub></iq>")
		if n := len(items.Find("pubsub/items").All("item")); n != 3 {
			t.Errorf("%s keeps %d items, want 3: %s", tc.node, n, items)
		}
	}
	if cfg := nodeConfig(t, car, "car@localhost", "urn:xmpp:bookmarks:1"); cfg["pubsub#access_model"] != "whitelist" || cfg["pubsub#send_last_published_item"] != "never" {
		t.Errorf("bookmarks configuration: %v", cfg)
	}

	// A node made with the defaults (1 item) does not meet max; once
	// configured to max, or to the number it stands for, it does.
	publishGeoloc(car, "a", 1, 1)
	wantPrecondition(t, "max on a node keeping 1 item", publishWith(car, nsGeoloc, "b", "max_items=max"))
	for _, v := range []string{"max", "32"} {
		res := car.IQ("<iq type='set' id='ID'><pubsub xmlns='" + nsPubSubOwner + "'><configure node='" + nsGeoloc + "'>" + configForm(map[string]string{"max_items": v}) + "</configure></pubsub></iq>")
		if res.Attr("type") != "result" {
			t.Fatalf("configure max_items %s: %s", v, res)
		}
		if got := nodeConfig(t, car, "car@localhost", nsGeoloc)["pubsub#max_items"]; got != "32" {
			t.Errorf("max_items %s shows as %s", v, got)
		}
		for _, pre := range []string{"max", "32"} {
			if res := publishWith(car, nsGeoloc, "b", "max_items="+pre); res.Attr("type") != "result" {
				t.Errorf("precondition %s on a node configured %s: %s", pre, v, res)
			}
		}
	}
	// Beyond the limit: not what the node has, nor what a node may have.
	wantPrecondition(t, "precondition 33", publishWith(car, nsGeoloc, "c", "max_items=33"))
	res := car.IQ("<iq type='set' id='ID'><pubsub xmlns='" + nsPubSubOwner + "'><configure node='" + nsGeoloc + "'>" + configForm(map[string]string{"max_items": "33"}) + "</configure></pubsub></iq>")
	if res.ErrorCondition() != "not-acceptable" || appCondition(res) != "" {
		t.Errorf("configure 33 items on PEP: %s", res)
	}
}

// Every field is a precondition; one the service does not have cannot be
// met (XEP-0060 §7.1.5), a new node cannot be made with it, and a broken
// form is a bad request. invalid-options is for subscription options only.
func TestPublishOptionsRefused(t *testing.T) {
	h := hubtest.Start(t)
	car := h.Login(t, "car", devices.RoleDevice)
	publishGeoloc(car, "a", 1, 1)
	wantPrecondition(t, "unknown option on an existing node", publishWith(car, nsGeoloc, "b", "item_expire=60"))
	wantPrecondition(t, "a value no node has", publishWith(car, nsGeoloc, "b", "access_model=authorize"))
	wantPrecondition(t, "another value", publishWith(car, nsGeoloc, "b", "send_last_published_item=never"))
	for _, tc := range []struct{ opt, app string }{
		{"item_expire=60", ""},
		{"access_model=authorize", "unsupported-access-model"},
		{"max_items=33", ""},
		{"persist_items=perhaps", ""},
	} {
		res := publishWith(car, "urn:example:new", "x", tc.opt)
		if res.ErrorCondition() != "not-acceptable" || appCondition(res) != tc.app {
			t.Errorf("new node with %s: got %s, want not-acceptable %s", tc.opt, res, tc.app)
		}
	}
	res := car.IQ("<iq type='set' id='ID'><pubsub xmlns='" + nsPubSub + "'><publish node='urn:example:new'><item><x xmlns='urn:example'/></item></publish>" +
		"<publish-options><x xmlns='jabber:x:data' type='form'/></publish-options></pubsub></iq>")
	if res.ErrorCondition() != "bad-request" {
		t.Errorf("a publish-options form of type form: %s", res)
	}
	if res := car.IQ("<iq type='get' id='ID'><pubsub xmlns='" + nsPubSub + "'><items node='urn:example:new'/></pubsub></iq>"); res.ErrorCondition() != "item-not-found" {
		t.Errorf("a refused publish made the node: %s", res)
	}
	// Each of the send_last_published_item values is taken.
	for _, v := range []string{"never", "on_sub", "on_sub_and_presence"} {
		node := "urn:example:last:" + v
		if res := publishWith(car, node, "x", "send_last_published_item="+v); res.Attr("type") != "result" {
			t.Errorf("send_last_published_item %s: %s", v, res)
		}
		if got := nodeConfig(t, car, "car@localhost", node)["pubsub#send_last_published_item"]; got != v {
			t.Errorf("send_last_published_item %s shows as %s", v, got)
		}
	}
}

// After precondition-not-met, Converse reads the configuration form and
// sends every field back with its own options on top, with empty values
// for the fields it read without one (lists); the node takes it.
func TestConfigureWithFormSentBack(t *testing.T) {
	h := hubtest.Start(t)
	car := h.Login(t, "car", devices.RoleDevice)
	const node = "urn:xmpp:omemo:2:devices"
	publishGeoloc(car, "a", 1, 1) // a node made with the defaults
	if res := car.IQ("<iq type='set' id='ID'><pubsub xmlns='" + nsPubSub + "'><publish node='" + node + "'><item id='current'><devices xmlns='urn:xmpp:omemo:2'/></item></publish></pubsub></iq>"); res.Attr("type") != "result" {
		t.Fatal(res)
	}
	opts := []string{"access_model=open", "max_items=max"}
	wantPrecondition(t, "default node", publishWith(car, node, "current", opts...))
	form := "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>"
	for k, v := range nodeConfig(t, car, "car@localhost", node) {
		switch k {
		case "FORM_TYPE":
			continue
		case "pubsub#access_model", "pubsub#publish_model", "pubsub#send_last_published_item", "pubsub#roster_groups_allowed":
			v = "" // list fields: Converse reads no value from them
		}
		switch k {
		case "pubsub#access_model":
			v = "open"
		case "pubsub#max_items":
			v = "max"
		}
		form += "<field var='" + k + "'><value>" + v + "</value></field>"
	}
	res := car.IQ("<iq type='set' id='ID'><pubsub xmlns='" + nsPubSubOwner + "'><configure node='" + node + "'>" + form + "</x></configure></pubsub></iq>")
	if res.Attr("type") != "result" {
		t.Fatalf("configure with the form sent back: %s", res)
	}
	cfg := nodeConfig(t, car, "car@localhost", node)
	if cfg["pubsub#access_model"] != "open" || cfg["pubsub#publish_model"] != "publishers" || cfg["pubsub#send_last_published_item"] != "on_sub_and_presence" || cfg["pubsub#max_items"] != "32" {
		t.Errorf("configuration after the form came back: %v", cfg)
	}
	if res := publishWith(car, node, "current", opts...); res.Attr("type") != "result" {
		t.Errorf("publish again: %s", res)
	}
}

// On the service, max is the service's limit.
func TestServiceMaxItemsMax(t *testing.T) {
	h := hubtest.Start(t)
	owner := h.Login(t, "dispatch", devices.RoleOperator)
	ok(t, "create", ps(owner, "set", nsPubSub, "<create node='big'/><configure>"+configForm(map[string]string{"max_items": "max"})+"</configure>"))
	if got := nodeConfig(t, owner, "pubsub.localhost", "big")["pubsub#max_items"]; got != "1000" {
		t.Errorf("service max shows as %s", got)
	}
	ok(t, "precondition max", ps(owner, "set", nsPubSub, "<publish node='big'><item><x xmlns='urn:example'/></item></publish>"+optionsForm("max_items=max")))
	ok(t, "precondition 1000", ps(owner, "set", nsPubSub, "<publish node='big'><item><x xmlns='urn:example'/></item></publish>"+optionsForm("max_items=1000")))
	// Converse sends max only where config-node-max is advertised (else
	// 9999, over any limit here).
	for _, to := range []string{"pubsub.localhost", "dispatch@localhost"} {
		info := owner.IQ("<iq type='get' id='ID' to='" + to + "'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
		found := false
		for _, f := range info.Find("query").All("feature") {
			found = found || f.Attr("var") == nsPubSub+"#config-node-max"
		}
		if !found {
			t.Errorf("%s does not advertise config-node-max: %s", to, info)
		}
	}
}
