package hub_test

import (
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// A password reset ends every live session of the account, on every
// listener, with <reset/>: whoever held the old password is out, and must
// log in again, which only the new one does. Other accounts stay on.
func TestPasswordChangeEndsTheAccountsSessions(t *testing.T) {
	h := hubtest.Start(t)
	old := h.Account(t, "car", devices.RoleDevice, "fleet")
	starttls := h.Options()
	starttls.Resource = "a"
	direct := xmpptest.Options{Addr: h.TLSAddr, TLS: h.ClientTLS, DirectTLS: true, Resource: "b"}
	sessions := []*xmpptest.Client{xmpptest.Dial(t, starttls, "car", old), xmpptest.Dial(t, direct, "car", old)}
	bystander := h.Login(t, "op", devices.RoleOperator, "fleet")

	fresh, err := h.Accounts.SetPassword("car", "")
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range sessions {
		if err := c.Ended(); xmpptest.StreamErrorCondition(err) != "reset" {
			t.Errorf("session %d after the password changed: %v, want a <reset/> stream error", i, err)
		}
	}
	if r := bystander.IQ("<iq type='get' to='localhost' id='ID'><ping xmlns='urn:xmpp:ping'/></iq>"); r.Attr("type") != "result" {
		t.Errorf("another account's session after the password change: %s", r)
	}
	if _, err := xmpptest.DialErr(t, h.Options(), "car", old); err == nil {
		t.Error("the old password still logs in")
	}
	again := xmpptest.Dial(t, h.Options(), "car", fresh)
	if r := again.IQ("<iq type='get' to='localhost' id='ID'><ping xmlns='urn:xmpp:ping'/></iq>"); r.Attr("type") != "result" {
		t.Errorf("a session with the new password: %s", r)
	}
}
