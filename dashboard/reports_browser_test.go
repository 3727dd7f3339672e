package dashboard_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/peers"
	"github.com/geohub/geohub/internal/servetest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// TestReportsInBrowser drives the Reports view (dashboard/web/e2e/
// reports.mjs) against a real `geohub serve` that holds a drive of van-3
// from two hours ago (5 min standing, 3.3 km north, 5 min standing): an
// operator runs the report, sees the trip and the totals, downloads the
// trips as CSV, whose rows this test checks, and draws a circle where the
// drive ended to see who was there.
func TestReportsInBrowser(t *testing.T) {
	web, bin, data := browserSetup(t)
	alicePassword := servetest.AddAccount(t, bin, data, "alice", "--role", "operator", "--group", "fleet")
	vanPassword := servetest.AddAccount(t, bin, data, "van-3", "--group", "fleet")
	hub := servetest.Start(t, bin, data, "--c2s-tls", "")
	cert, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	van := xmpptest.Dial(t, xmpptest.Options{Addr: hub.C2S, TLS: xmpptest.TrustPEM(cert)}, "van-3", vanPassword)
	start := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Minute)
	const lat, lon = 52.40, 13.06
	at := start
	drive := func(lat float64, speed float64) {
		res := van.IQ(fmt.Sprintf("<iq type='set' id='ID'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/geoloc'><item>"+
			"<geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>%v</lat><lon>%v</lon><speed>%v</speed><timestamp>%s</timestamp></geoloc></item></publish></pubsub></iq>",
			lat, lon, speed, at.Format(time.RFC3339)))
		if res.Attr("type") != "result" {
			t.Fatalf("publish: %s", res)
		}
		at = at.Add(10 * time.Second)
	}
	for range 31 {
		drive(lat, 0)
	}
	for i := 1; i <= 30; i++ {
		drive(lat+float64(i)/1000, map[bool]float64{true: 0, false: 11.1}[i == 30])
	}
	for range 30 {
		drive(lat+0.03, 0)
	}

	screenshot := filepath.Join(t.ArtifactDir(), "reports.png")
	browser := peers.StartBrowserScript(t, filepath.Join(web, "e2e"), "reports.mjs",
		"GEOHUB_URL=http://"+hub.HTTP, "GEOHUB_USER=alice", "GEOHUB_PASSWORD="+alicePassword, "DEVICE=van-3",
		"TZ=UTC", "FROM="+start.Add(-time.Minute).Format("2006-01-02T15:04"), "TO="+at.Add(time.Minute).Format("2006-01-02T15:04"),
		fmt.Sprintf("WHO_LAT=%v", lat+0.03), fmt.Sprintf("WHO_LON=%v", lon),
		"SCREENSHOT="+screenshot, "PROFILE_DIR="+t.TempDir())
	var downloaded bool
	browser.Run(func(step string, line []byte) {
		if step != "csv-downloaded" {
			return
		}
		var s struct{ Filename, CSV string }
		json.Unmarshal(line, &s)
		rows, err := csv.NewReader(strings.NewReader(s.CSV)).ReadAll()
		if err != nil {
			t.Fatalf("the CSV: %v\n%s", err, s.CSV)
		}
		want := []string{"van-3", start.Add(5 * time.Minute).Format(time.RFC3339), start.Add(10 * time.Minute).Format(time.RFC3339), "300", "3335.9"}
		if !strings.HasPrefix(s.Filename, "geohub-trips-") || !strings.HasSuffix(s.Filename, ".csv") || len(rows) != 2 ||
			rows[0][0] != "device" || strings.Join(rows[1][:5], ",") != strings.Join(want, ",") {
			t.Errorf("downloaded %q:\n%s\nwant a header and %v", s.Filename, s.CSV, want)
		}
		downloaded = true
	})
	if !downloaded {
		t.Error("no CSV was downloaded")
	}
	t.Logf("screenshot: %s", screenshot)
}
