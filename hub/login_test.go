package hub_test

import (
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/scram"
	"github.com/geohub/geohub/internal/xmpptest"
	"mellium.im/sasl"
)

func TestLoginMechanisms(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "car-17", devices.RoleDevice)
	for _, tc := range []struct {
		name   string
		mech   sasl.Mechanism
		direct bool
	}{
		{"SCRAM-SHA-256", sasl.ScramSha256, false},
		{"SCRAM-SHA-1", sasl.ScramSha1, false},
		{"PLAIN", sasl.Plain, false},
		{"SCRAM-SHA-256 direct TLS", sasl.ScramSha256, true},
		{"caching SCRAM-SHA-256 client", scram.ClientMechanism(scram.SHA256, &scram.SaltCache{}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := h.Options()
			o.Mechanism = tc.mech
			if tc.direct {
				o.Addr, o.DirectTLS = h.TLSAddr, true
			}
			c := xmpptest.Dial(t, o, "car-17", pw)
			// mellium asks for an empty resource (trap 6): the hub picks one.
			if c.JID.Bare().String() != "car-17@localhost" || c.JID.Resourcepart() == "" {
				t.Errorf("bound %s, want car-17@localhost/<generated>", c.JID)
			}
			res := c.IQ("<iq type='get' id='ID' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
			if res.Attr("type") != "result" {
				t.Errorf("ping: %s", res)
			}
		})
	}
}

// The resource mqtt is the MQTT bridge's remote one (hub.RemoteResource):
// a client asking for it gets a generated resource, so that its session
// and the bridge's presence are not taken for each other. Others get what
// they ask for.
func TestBindReservedResource(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "car", devices.RoleDevice)
	for _, res := range []string{"phone", hub.RemoteResource} {
		r := xmpptest.DialRaw(t, h.Addr)
		r.StartTLS("localhost", h.ClientTLS)
		r.AuthPlain("car", pw)
		r.Open("localhost")
		r.Send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + res + "</resource></bind></iq>")
		out := r.ReadUntil("</iq>")
		bound := strings.Contains(out, "<jid>car@localhost/"+res+"</jid>")
		if want := res != hub.RemoteResource; bound != want || !strings.Contains(out, "<jid>car@localhost/") {
			t.Errorf("asked for %q: %s", res, out)
		}
	}
}
