package component

import (
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/geoloc"
)

// Asked at any instance, a device's sensor series comes whole and in
// order from the instance that owns it, a page at a time, up to the
// limit; a stranger gets none of it, and a peer gone is reported missing.
func TestSeriesAcrossLinks(t *testing.T) {
	r := startRouter(t)
	a, _, _ := testShard(t, r, "geo-1.localhost", "geo-2.localhost")
	b, geo, commit := testShard(t, r, "geo-2.localhost", "geo-1.localhost")
	const n = 2*seriesPage + 7
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	rs := make([]geoloc.Reading, n)
	for i := range rs {
		rs[i] = geoloc.Reading{Sensor: "temp", Value: float64(i) / 4, Unit: "°C", Time: start.Add(time.Duration(i) * time.Second)}
	}
	w, then, err := geo.StageReadings("car@localhost", rs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	commit.Submit(w, func(err error) { then(err); done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	got, statuses := a.Series("op@localhost", "car@localhost", "temp", start.Add(-time.Minute), time.Now(), 100_000)
	if len(got) != n || len(statuses) != 2 || statuses[1].Status != "ok" {
		t.Fatalf("series of %d readings of %d, statuses %v", len(got), n, statuses)
	}
	for i, r := range got {
		if !r.Time.Equal(rs[i].Time) || r.Value != rs[i].Value || r.Unit != "°C" || r.Sensor != "temp" {
			t.Fatalf("reading %d: %+v", i, r)
		}
	}
	if got, _ := a.Series("op@localhost", "car@localhost", "temp", start.Add(10*time.Second), start.Add(19*time.Second), 100_000); len(got) != 10 {
		t.Errorf("ten seconds of series: %d readings", len(got))
	}
	if got, _ := a.Series("op@localhost", "car@localhost", "temp", start, time.Now(), seriesPage+3); len(got) != seriesPage+3 || !got[seriesPage+2].Time.Equal(rs[seriesPage+2].Time) {
		t.Errorf("the first %d readings: %d", seriesPage+3, len(got))
	}
	if got, _ := a.Series("op@localhost", "car@localhost", "humidity", start, time.Now(), 100_000); len(got) != 0 {
		t.Errorf("another sensor: %d readings", len(got))
	}
	if got, statuses := a.Series("stranger@localhost", "car@localhost", "temp", start, time.Now(), 100_000); len(got) != 0 || statuses[1].Status != "ok" {
		t.Errorf("a stranger got %d readings (%v)", len(got), statuses)
	}

	b.Link.Close()
	a.Timeout = 300 * time.Millisecond
	if got, statuses := a.Series("op@localhost", "car@localhost", "temp", start, time.Now(), 100_000); len(got) != 0 || statuses[1].Status != "missing" || statuses[1].Reason == "" {
		t.Errorf("geo-2 gone: %d readings, statuses %v", len(got), statuses)
	}
}

// A page stays below ejabberd's 64 KiB stanza limit for a component
// even when each reading's unit is long, and says more are left.
func TestSeriesPageFitsAStanza(t *testing.T) {
	rs := make([]geoloc.Reading, seriesPage+1)
	for i := range rs {
		rs[i] = geoloc.Reading{Value: -1.2345678901234567e-300, Unit: strings.Repeat("<&", 100),
			Time: time.Date(2026, 12, 7, 13, 48, 30, 123456789, time.UTC).Add(time.Duration(i))}
	}
	b := appendSeriesPage(iqHead("result", "geo-2.example.com", "geo-1.example.com", "gh1z"), rs)
	if len(b) > 48<<10 || !strings.Contains(string(b), "more='true'") {
		t.Errorf("a page of long units takes %d bytes", len(b))
	}
	rs = rs[:seriesPage]
	for i := range rs {
		rs[i].Unit = "°C"
	}
	b = appendSeriesPage(iqHead("result", "geo-2.example.com", "geo-1.example.com", "gh1z"), rs)
	if len(b) > 48<<10 || strings.Contains(string(b), "more=") {
		t.Errorf("a full page of %d readings takes %d bytes", seriesPage, len(b))
	}
	t.Logf("a full page: %d bytes", len(b))
}

// BenchmarkSeriesDayAcrossLinks reads a peer's device-day of one sensor
// (17,280 readings, one every 5 s) over the link, as the API does for a
// device it does not own.
func BenchmarkSeriesDayAcrossLinks(b *testing.B) {
	r := startRouter(b)
	a, _, _ := testShard(b, r, "geo-1.localhost", "geo-2.localhost")
	_, geo, commit := testShard(b, r, "geo-2.localhost", "geo-1.localhost")
	const n = 17_280
	start := time.Now().Add(-25 * time.Hour).Truncate(time.Second)
	rs := make([]geoloc.Reading, n)
	for i := range rs {
		rs[i] = geoloc.Reading{Sensor: "temp", Value: 20 + float64(i%100)/10, Unit: "°C", Time: start.Add(time.Duration(i) * 5 * time.Second)}
	}
	w, then, err := geo.StageReadings("car@localhost", rs, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	commit.Submit(w, func(err error) { then(err); done <- err })
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	a.Timeout = time.Minute
	b.ResetTimer()
	for b.Loop() {
		if got, statuses := a.Series("op@localhost", "car@localhost", "temp", start, time.Now(), 100_000); len(got) != n || statuses[1].Status != "ok" {
			b.Fatalf("%d readings of %d, %v", len(got), n, statuses)
		}
	}
}
