package hub_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// One account may not grow its roster without bound: an item of more than
// 4 KiB (JID, name and groups) is not-acceptable, and past 1,000 items a
// new one is refused.
func TestRosterItemSizeAndCountAreCapped(t *testing.T) {
	h := hubtest.Start(t)
	c := h.Login(t, "op", devices.RoleOperator)
	group := strings.Repeat("g", 1000)
	big := c.IQ("<iq type='set' id='ID'><query xmlns='jabber:iq:roster'><item jid='x@example.org' name='x'>" +
		strings.Repeat("<group>"+group+"</group>", 1) + "<group>a" + group + "</group><group>b" + group + "</group>" +
		"<group>c" + group + "</group><group>d" + group + "</group></item></query></iq>")
	if big.Attr("type") != "error" || big.ErrorCondition() != "not-acceptable" || !strings.Contains(big.Find("error/text").Text, "roster item too large") {
		t.Errorf("a 5 KB roster item: %s", big)
	}

	// 1,001 items sent at once: the last is refused.
	const n = 1001
	for i := range n {
		c.Send("<iq type='set' id='r%d'><query xmlns='jabber:iq:roster'><item jid='c%d@example.org'/></query></iq>", i, i)
	}
	refused := 0
	for i := range n {
		id := fmt.Sprintf("r%d", i)
		r := c.WaitFor("answer "+id, func(x *xmpptest.Node) bool { return x.Name() == "iq" && x.Attr("id") == id })
		if r.Attr("type") == "error" {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d of %d roster items refused, want 1", refused, n)
	}
}
