package hub_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
)

// PublishPEP publishes as the account would over XMPP: stored, indexed by
// the geo engine, seen by a contact with +notify; refusals come back as
// the stanza error the account would have got.
func TestPublishPEPIsLikeTheDevicePublishing(t *testing.T) {
	h := hubtest.Start(t)
	op := h.Login(t, "op", devices.RoleOperator, "fleet")
	h.Account(t, "tracker", devices.RoleDevice, "fleet")
	announceCaps(t, op, nsGeoloc+"+notify")

	publish := func(account, payload string) error {
		done := make(chan error, 1)
		h.PublishPEP(account, nsGeoloc, "fix-1", []byte(payload), func(err error) { done <- err })
		return <-done
	}
	if err := publish("tracker", geoloc(48.1, 11.5)); err != nil {
		t.Fatal(err)
	}
	if p, ok := h.Geo.Latest("tracker@localhost"); !ok || p.Lat != 48.1 || p.Source != "pep" {
		t.Errorf("stored: %+v %v", p, ok)
	}
	ev := op.WaitFor("notification", isEventFrom("tracker@localhost"))
	if ev.Find("event/items/item").Attr("id") != "fix-1" || ev.Find("event/items/item/geoloc/lat").Text != "48.1" {
		t.Errorf("notification: %s", ev)
	}

	for _, c := range []struct {
		account, payload, cond string
		refused                bool
	}{
		{"nobody", geoloc(1, 2), "item-not-found", true},
		{"tracker", "<geoloc xmlns='" + nsGeoloc + "'><lat>95</lat><lon>2</lon></geoloc>", "bad-request", true},
		{"tracker", "<geoloc xmlns='" + nsGeoloc + "'><lat>1", "bad-request", true},
	} {
		err := publish(c.account, c.payload)
		var pe *hub.PublishError
		if !errors.As(err, &pe) || pe.Condition != c.cond || pe.Refused() != c.refused {
			t.Errorf("%s %s: %v", c.account, c.payload, err)
		}
	}
	if p, _ := h.Geo.Latest("tracker@localhost"); p.Lat != 48.1 {
		t.Errorf("a refused publish moved the device: %+v", p)
	}
	for _, n := range op.Drain() {
		if isEventFrom("tracker@localhost")(n) {
			t.Errorf("a refused publish was notified: %s", n)
		}
	}
}

// An account at its limit of PEP nodes gets resource-constraint (of type
// wait) for a new node: a refusal, which sending again would not fix.
func TestPublishPEPTooManyNodesIsRefused(t *testing.T) {
	h := hubtest.Start(t)
	h.Account(t, "tracker", devices.RoleDevice)
	publish := func(node string) error {
		done := make(chan error, 1)
		h.PublishPEP("tracker", node, "1", []byte("<x xmlns='"+node+"'/>"), func(err error) { done <- err })
		return <-done
	}
	var err error
	for i := 0; err == nil && i < 1000; i++ {
		err = publish(fmt.Sprintf("urn:example:n%d", i))
	}
	var pe *hub.PublishError
	if !errors.As(err, &pe) || pe.Condition != "resource-constraint" || !pe.Refused() {
		t.Fatalf("publishing to ever more nodes: %v", err)
	}
}
