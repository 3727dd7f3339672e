package hub_test

import (
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
)

func TestStatsCountSessionsAndStanzas(t *testing.T) {
	h := hubtest.Start(t)
	before := h.Stats()
	if before.Sessions != 0 {
		t.Fatalf("sessions before any login: %+v", before)
	}
	c := h.Login(t, "op", devices.RoleOperator)
	for range 3 {
		if res := c.IQ("<iq type='get' id='ID' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"); res.Attr("type") != "result" {
			t.Fatalf("ping: %s", res)
		}
	}
	st := h.Stats()
	if st.Sessions != 1 {
		t.Errorf("sessions = %d, want 1", st.Sessions)
	}
	// Three pings and their answers at least; login may add more.
	if st.StanzasIn-before.StanzasIn < 3 || st.StanzasOut-before.StanzasOut < 3 {
		t.Errorf("stanzas in %d, out %d: want at least 3 each", st.StanzasIn, st.StanzasOut)
	}
}
