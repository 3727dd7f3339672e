package tracking_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// publishAt publishes a fix with its time and speed.
func publishAt(t *testing.T, c *xmpptest.Client, at time.Time, lat, lon, speed float64) {
	t.Helper()
	wantResult(t, "fix", c.IQ(fmt.Sprintf("<iq type='set' id='ID'><pubsub xmlns='%s'><publish node='%s'><item>"+
		"<geoloc xmlns='%s'><lat>%v</lat><lon>%v</lon><speed>%v</speed><timestamp>%s</timestamp></geoloc></item></publish></pubsub></iq>",
		nsPubSub, geoloc.NS, geoloc.NS, lat, lon, speed, at.UTC().Format(time.RFC3339))))
}

// morning publishes, from 08:00 UTC on day, 5 minutes standing at
// (lat, lon), 30 steps of 0.001° north 10 s apart (3.3 km at 11.1 m/s,
// 40 km/h), and 5 minutes standing there, arriving at 08:10.
func morning(t *testing.T, c *xmpptest.Client, day time.Time, lat, lon float64) {
	t.Helper()
	at := day.Add(8 * time.Hour)
	for range 31 {
		publishAt(t, c, at, lat, lon, 0)
		at = at.Add(10 * time.Second)
	}
	for i := 1; i <= 30; i++ {
		v := 11.1
		if i == 30 {
			v = 0
		}
		publishAt(t, c, at, lat+float64(i)/1000, lon, v)
		at = at.Add(10 * time.Second)
	}
	for range 30 {
		publishAt(t, c, at, lat+0.03, lon, 0)
		at = at.Add(10 * time.Second)
	}
}

func wantLines(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("answer lacks %q:\n%s", w, got)
		}
	}
}

// trips, stops and who as chat commands: short answers with geo: links,
// for the devices the operator watches only.
func TestReportChatCommands(t *testing.T) {
	h := hubtest.Start(t)
	op := xmpptestDial(t, h, "op", h.Account(t, "op", devices.RoleOperator, "fleet"))
	car := xmpptestDial(t, h, "car", h.Account(t, "car", devices.RoleDevice, "fleet"))
	van := xmpptestDial(t, h, "van", h.Account(t, "van", devices.RoleDevice, "other"))
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -2)
	date := day.Format(time.DateOnly)
	morning(t, car, day, 52.0, 13.0)
	morning(t, van, day, 52.0, 13.0001)
	depot := addFence(t, h.Geo, `{"type":"Feature","properties":{"name":"Depot","radius":60,"groups":["fleet"],"events":["enter"]},
		"geometry":{"type":"Point","coordinates":[13.0,52.03]}}`)

	wantLines(t, ask(t, op, "trips car "+date),
		"car, "+date+" (UTC): 1 trip, 3.3 km, 5 min driving, max 40 km/h",
		"08:05–08:10 3.3 km, 5 min, max 40 km/h: geo:52,13 → geo:52.03,13")
	wantLines(t, ask(t, op, "stops car "+date),
		"car, "+date+" (UTC): 2 stops, 10 min standing",
		"08:00–08:05 (5 min) at geo:52,13",
		"08:10–08:15 (5 min) at geo:52.03,13")
	wantLines(t, ask(t, op, "trips car today"), "car, "+time.Now().UTC().Format(time.DateOnly)+" (UTC): no trips.")
	wantLines(t, ask(t, op, "trips van "+date), "No device van.")
	wantLines(t, ask(t, op, "trips car 31.12.2025"), `Day "31.12.2025"`)

	from, to := date+"T08:00", date+"T09:00"
	got := ask(t, op, "who 52.03,13.0,50m "+from+" "+to)
	wantLines(t, got, "Inside 50 m of geo:52.03,13 "+date+" 08:00–"+date+" 09:00 UTC: 1 device", "car, first at "+date+" 08:10:00")
	if strings.Contains(got, "van") {
		t.Errorf("who names a device outside the operator's groups:\n%s", got)
	}
	wantLines(t, ask(t, op, "who depot "+from+" "+to), "Inside Depot", "car, first at")
	wantLines(t, ask(t, op, "who "+depot.ID+" "+date+"T08:11 "+to), "car, first at "+date+" 08:11:00")
	wantLines(t, ask(t, op, "who depot "+date+"T08:20 "+to), "No device you watch was inside Depot")
	wantLines(t, ask(t, op, "who nowhere "+from+" "+to), `No fence "nowhere"`)
	wantLines(t, ask(t, op, "who depot "+to+" "+from), "is not before TO")
	got = ask(t, op, "summary "+date)
	wantLines(t, got, "Summary of "+date+" (UTC; a trip counts in the day it starts):",
		"car: 3.3 km in 1 trip, 5 min driving, 10 min standing, max 40 km/h")
	if strings.Contains(got, "van") {
		t.Errorf("the summary names a device outside the operator's groups:\n%s", got)
	}
	wantLines(t, ask(t, op, "summary today"), "No device you watch drove or stood still on "+time.Now().UTC().Format(time.DateOnly))
	wantLines(t, ask(t, op, "help"), "trips DEVICE", "summary [today|yesterday|DATE]", "who LAT,LON,RADIUS|FENCE FROM TO")
}

// summary daily HH:MM: the operator gets the day before's summary at that
// time, from the hub's JID, until summary daily off; an account that is no
// operator any more is dropped from the list.
func TestDailySummaryOverChat(t *testing.T) {
	h := hubtest.Start(t)
	op := xmpptestDial(t, h, "op", h.Account(t, "op", devices.RoleOperator, "fleet"))
	car := xmpptestDial(t, h, "car", h.Account(t, "car", devices.RoleDevice, "fleet"))
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -2)
	morning(t, car, day, 52.0, 13.0)
	op.Send("<presence/>")

	wantLines(t, ask(t, op, "summary daily 06:30"), "every day at 06:30 UTC")
	if got := h.Geo.DailySummaries(); len(got) != 1 || got["op@localhost"] != 6*time.Hour+30*time.Minute {
		t.Fatalf("stored: %v", got)
	}
	next := day.AddDate(0, 0, 1)
	h.App.DueSummaries(next.Add(6*time.Hour), next.Add(6*time.Hour+29*time.Minute)) // not yet
	h.App.DueSummaries(next.Add(6*time.Hour+29*time.Minute), next.Add(6*time.Hour+31*time.Minute))
	m := op.WaitFor("the daily summary", func(n *xmpptest.Node) bool {
		return n.Name() == "message" && strings.HasPrefix(n.Attr("id"), "summary-")
	})
	if m.Attr("id") != "summary-"+next.Format("20060102") || m.Attr("from") != "geohub@localhost/hub" {
		t.Errorf("summary message: %s", m)
	}
	wantLines(t, m.Find("body").Text, "Summary of "+day.Format(time.DateOnly), "car: 3.3 km in 1 trip, 5 min driving, 10 min standing, max 40 km/h")

	wantLines(t, ask(t, op, "summary daily off"), "no longer")
	if got := h.Geo.DailySummaries(); len(got) != 0 {
		t.Errorf("after off: %v", got)
	}
	wantLines(t, ask(t, op, "summary daily 25:00"), "Usage: summary daily HH:MM")

	// A subscriber whose account is gone is dropped.
	if err := h.Geo.SetDailySummary("gone@localhost", time.Hour, true); err != nil {
		t.Fatal(err)
	}
	h.App.DueSummaries(next, next.Add(2*time.Hour))
	if got := h.Geo.DailySummaries(); len(got) != 0 {
		t.Errorf("a removed account keeps its summary: %v", got)
	}
}
