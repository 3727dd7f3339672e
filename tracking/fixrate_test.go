package tracking_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
)

// One device publishing flat out is refused past its rate, with
// policy-violation and a text that says why, over XMPP and through the
// path the MQTT bridge takes alike; nothing of the excess is stored, the
// refusals are counted, and another device is not affected.
func TestFixRatePerDevice(t *testing.T) {
	h := hubtest.Start(t)
	h.App.SetFixRate(0.001, 5) // a burst of 5, then nothing for the test's life
	car := h.Login(t, "car", devices.RoleDevice, "fleet")
	van := h.Login(t, "van", devices.RoleDevice, "fleet")
	for i := range 5 {
		wantResult(t, "fix within the burst", publishFix(car, "f"+string(rune('a'+i)), 52.5, 13.4+float64(i)/100))
	}
	r := publishFix(car, "over", 10, 10)
	wantCondition(t, "fix over the rate", r, "policy-violation")
	if text := r.Find("error/text"); text == nil || !strings.Contains(text.Text, "too many positions") || r.Find("error").Attr("type") != "modify" {
		t.Errorf("refusal: %s", r)
	}
	if p, ok := h.Geo.Latest("car@localhost"); !ok || p.Lat != 52.5 {
		t.Errorf("latest position %+v: the refused fix was stored", p)
	}
	wantResult(t, "another device", publishFix(van, "v1", 52.5, 13.4))

	// The MQTT bridge's way in: a refusal, not a failure to retry.
	done := make(chan error, 1)
	h.PublishPEP("car", geoloc.NS, "mqtt", []byte("<geoloc xmlns='"+geoloc.NS+"'><lat>1</lat><lon>2</lon></geoloc>"), func(err error) { done <- err })
	var pe *hub.PublishError
	if err := <-done; !errors.As(err, &pe) || pe.Condition != "policy-violation" || !pe.Refused() {
		t.Errorf("PublishPEP over the rate: %v", err)
	}
	if got := h.App.Stats().FixesRefused; got != 2 {
		t.Errorf("%d refusals counted, want 2", got)
	}
}
