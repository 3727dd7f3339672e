package tracking_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/tracking"
)

const nsPubSub = "http://jabber.org/protocol/pubsub"

// A burst of alerts to many offline operators does not hold up the
// acknowledgements of publishes: the engine's sink only enqueues, and with
// the delivery goroutine stuck and its queue full, alerts are dropped and
// counted while every publish is still acknowledged.
func TestAlertBurstDoesNotDelayPublishAcks(t *testing.T) {
	stuck := make(chan struct{})
	var unstick sync.Once
	release := func() { unstick.Do(func() { close(stuck) }) }
	t.Cleanup(tracking.HoldDelivery(2, func() { <-stuck }))
	h := hubtest.Start(t)
	t.Cleanup(release) // before the hub stops, so that it drains

	var notify []string
	for i := range 40 {
		name := fmt.Sprintf("op%d", i)
		h.Account(t, name, devices.RoleOperator)
		notify = append(notify, `"`+name+`@localhost"`)
	}
	fences, err := geoloc.ParseFences([]byte(`{"type":"Feature","properties":{"name":"Yard","radius":100,
		"events":["enter","exit"],"notify":[` + strings.Join(notify, ",") + `]},
		"geometry":{"type":"Point","coordinates":[13.40,52.51]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Geo.AddFences(fences, nil); err != nil {
		t.Fatal(err)
	}
	car := h.Login(t, "car", devices.RoleDevice)
	const fixes = 12 // each one enters or leaves the yard
	for i := range fixes {
		lat := 52.51
		if i%2 == 1 {
			lat = 52.52
		}
		start := time.Now()
		r := car.IQ(fmt.Sprintf("<iq type='set' id='ID'><pubsub xmlns='%s'><publish node='%s'><item id='f%d'>"+
			"<geoloc xmlns='%s'><lat>%v</lat><lon>13.40</lon></geoloc></item></publish></pubsub></iq>",
			nsPubSub, geoloc.NS, i, geoloc.NS, lat))
		if r.Attr("type") != "result" {
			t.Fatalf("fix %d: %s", i, r)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("fix %d acknowledged after %v", i, took)
		}
	}
	if got := h.Geo.Alerts(time.Time{}, time.Now(), 0); len(got) != fixes {
		t.Fatalf("%d alerts raised, want %d", len(got), fixes)
	}
	// One batch is being delivered, two wait: the rest were dropped.
	if st := h.App.Stats(); st.AlertsDropped < fixes-3 || st.AlertsDelivered != 0 {
		t.Errorf("with delivery stuck: %+v", st)
	}
	release()
	waitFor(t, "every alert delivered or dropped", func() bool {
		st := h.App.Stats()
		return st.AlertsDelivered > 0 && st.AlertsDelivered+st.AlertsDropped == fixes
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s", what)
		}
	}
}
