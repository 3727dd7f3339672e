package geoloc

import (
	"fmt"
	"testing"
	"time"
)

// alertFixture raises alerts for three devices driving in and out of a
// fence: each enter and exit is one record.
func alertFixture(t *testing.T) (*testStore, []Alert) {
	t.Helper()
	ts, _ := fenceStore(t, ":memory:", `{"type":"Feature","id":"depot","properties":{"name":"Depot"},
	 "geometry":{"type":"Polygon","coordinates":[[[13,52],[13.1,52],[13.1,52.1],[13,52.1],[13,52]]]}}`)
	for i, dev := range []string{"a@x", "b@x", "c@x"} {
		start := time.Duration(i*10) * time.Second
		drive(t, ts, dev, start, [2]float64{12.9, 52.05}, [2]float64{13.05, 52.05}, [2]float64{12.9, 52.05})
	}
	all, next, err := ts.QueryAlerts(AlertQuery{})
	if err != nil || next != "" || len(all) != 6 {
		t.Fatalf("all alerts: %d, next %q, %v", len(all), next, err)
	}
	return ts, all
}

func TestQueryAlertsNewestFirstWithFiltersAndCursor(t *testing.T) {
	ts, all := alertFixture(t)
	for i := 1; i < len(all); i++ {
		if all[i-1].ID <= all[i].ID {
			t.Fatalf("not newest first: %s then %s", all[i-1].ID, all[i].ID)
		}
	}
	if all[0].Device != "c@x" || all[0].Kind != Exit || all[5].Device != "a@x" || all[5].Kind != Enter {
		t.Errorf("order: first %s %s, last %s %s", all[0].Device, all[0].Kind, all[5].Device, all[5].Kind)
	}
	// Pages of two, following the cursor, give everything once.
	var paged []string
	before := ""
	for range 10 {
		page, next, err := ts.QueryAlerts(AlertQuery{Limit: 2, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page {
			paged = append(paged, a.ID)
		}
		if next == "" {
			break
		}
		before = next
	}
	if fmt.Sprint(paged) != fmt.Sprint(ids(all)) {
		t.Errorf("paged %v\n  want %v", paged, ids(all))
	}
	for _, c := range []struct {
		q    AlertQuery
		want int
	}{
		{AlertQuery{Device: "b@x"}, 2},
		{AlertQuery{Kind: Enter}, 3},
		{AlertQuery{Fence: "depot", Kind: Exit, Device: "a@x"}, 1},
		{AlertQuery{Fence: "other"}, 0},
		{AlertQuery{Visible: func(d string) bool { return d != "a@x" }}, 4},
		{AlertQuery{From: all[1].Received()}, 2},
		{AlertQuery{To: all[4].Received()}, 2},
		{AlertQuery{From: all[3].Received(), To: all[2].Received()}, 2},
	} {
		got, _, err := ts.QueryAlerts(c.q)
		if err != nil || len(got) != c.want {
			t.Errorf("%+v: %d alerts, want %d (%v)", c.q, len(got), c.want, err)
		}
	}
	if _, _, err := ts.QueryAlerts(AlertQuery{Before: "12:x"}); err == nil {
		t.Error("a malformed cursor was taken")
	}
}

func ids(as []Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

// Received is when the alert was raised, from its ID.
func (a Alert) Received() time.Time {
	var ns int64
	fmt.Sscanf(a.ID[:20], "%d", &ns)
	return time.Unix(0, ns)
}

func TestAckAlertRecordsTheFirstAcknowledgement(t *testing.T) {
	ts, all := alertFixture(t)
	id := all[2].ID
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	a, err := ts.AckAlert(id, "alice@x", at)
	if err != nil || a.AckedBy != "alice@x" || !a.AckedAt.Equal(at) || a.Device != all[2].Device {
		t.Fatalf("ack: %+v, %v", a, err)
	}
	if a, _ := ts.AckAlert(id, "bob@x", at.Add(time.Hour)); a.AckedBy != "alice@x" {
		t.Errorf("a second ack replaced the first: %+v", a)
	}
	got, err := ts.Alert(id)
	if err != nil || got.AckedBy != "alice@x" || got.Fence != "depot" {
		t.Errorf("stored: %+v, %v", got, err)
	}
	page, _, _ := ts.QueryAlerts(AlertQuery{})
	if page[2].AckedBy != "alice@x" || page[1].AckedBy != "" {
		t.Errorf("query after ack: %+v", page[1:3])
	}
	for _, bad := range []string{"nope", "00000000000000000000000000"} {
		if _, err := ts.AckAlert(bad, "alice@x", at); err == nil {
			t.Errorf("ack of %q succeeded", bad)
		}
	}
}

func TestIngestedCountsFixesTakenAndReadingLooksUpOneSensor(t *testing.T) {
	ts := openTest(t, ":memory:", Options{})
	ts.put(t, fix("car", 1, 1, time.Second), fix("car", 2, 2, 2*time.Second))
	ts.put(t, fix("car", 2, 2, 2*time.Second)) // repeat
	ts.put(t, fix("car", 1.5, 1.5, 1500*time.Millisecond))
	if n := ts.Ingested(); n != 3 {
		t.Errorf("ingested %d, want 3 (a repeat is not counted, a late fix is)", n)
	}
	ts.putReadings(t, "car", Reading{Sensor: "battery", Value: 80, Unit: "%", Time: time.Now()})
	if r, ok := ts.Reading("car", "battery"); !ok || r.Value != 80 {
		t.Errorf("battery: %+v %v", r, ok)
	}
	if _, ok := ts.Reading("car", "temperature"); ok {
		t.Error("a sensor never reported has a reading")
	}
}

func TestFenceIDsThatBreakKeysAreRefused(t *testing.T) {
	ts := openTest(t, ":memory:", Options{})
	for _, id := range []string{"a:b", "alerts/x", "with space"} {
		fs, err := ParseFences([]byte(`{"type":"Feature","id":"` + id + `","properties":{"name":"X","radius":10},"geometry":{"type":"Point","coordinates":[1,1]}}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.AddFences(fs, nil); err == nil {
			t.Errorf("fence ID %q taken", id)
		}
	}
}
