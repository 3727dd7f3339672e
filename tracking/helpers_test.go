package tracking_test

import (
	"fmt"
	"testing"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// ask sends a chat command to the hub's JID and returns the answer's body.
func ask(t *testing.T, c *xmpptest.Client, command string) string {
	t.Helper()
	id := c.ID()
	c.Send("<message type='chat' to='geohub@localhost' id='%s'><body>%s</body></message>", id, command)
	m := c.WaitFor("answer to "+command, func(n *xmpptest.Node) bool { return n.Name() == "message" && n.Attr("id") == id })
	return m.Find("body").Text
}

// ps sends a pubsub request of type typ to the pubsub service.
func ps(c *xmpptest.Client, typ, body string) *xmpptest.Node {
	return c.IQ("<iq type='" + typ + "' id='ID' to='pubsub.localhost'><pubsub xmlns='" + nsPubSub + "'>" + body + "</pubsub></iq>")
}

// publishFix publishes a fix to the client's own geoloc node.
func publishFix(c *xmpptest.Client, id string, lat, lon float64) *xmpptest.Node {
	return c.IQ(fmt.Sprintf("<iq type='set' id='ID'><pubsub xmlns='%s'><publish node='%s'><item id='%s'>"+
		"<geoloc xmlns='%s'><lat>%v</lat><lon>%v</lon></geoloc></item></publish></pubsub></iq>",
		nsPubSub, geoloc.NS, id, geoloc.NS, lat, lon))
}

func isAlertMessage(n *xmpptest.Node) bool {
	return n.Name() == "message" && n.Attr("type") == "chat" && n.Child(geoloc.NSAlert, "alert") != nil
}

func isEvent(node string) func(*xmpptest.Node) bool {
	return func(n *xmpptest.Node) bool {
		return n.Name() == "message" && n.Find("event/items") != nil && n.Find("event/items").Attr("node") == node
	}
}

func wantCondition(t *testing.T, what string, n *xmpptest.Node, cond string) {
	t.Helper()
	if n.Attr("type") != "error" || n.ErrorCondition() != cond {
		t.Errorf("%s: got %s, want %s", what, n, cond)
	}
}

func wantResult(t *testing.T, what string, n *xmpptest.Node) {
	t.Helper()
	if n.Attr("type") != "result" {
		t.Fatalf("%s: %s", what, n)
	}
}

func addFence(t *testing.T, g *geoloc.Store, feature string) *geoloc.Fence {
	t.Helper()
	fences, err := geoloc.ParseFences([]byte(feature))
	if err != nil {
		t.Fatal(err)
	}
	if fences, err = g.AddFences(fences, nil); err != nil {
		t.Fatal(err)
	}
	return fences[0]
}

func xmpptestDial(t *testing.T, h *hubtest.Hub, user, pw string) *xmpptest.Client {
	return xmpptest.Dial(t, h.Options(), user, pw)
}
