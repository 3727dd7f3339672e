package hub_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/geohub/geohub/devices"
	geo "github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/hub"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
	"github.com/tidwall/buntdb"
)

// BenchmarkMAMTrailPage measures one MAM query for a page of 100 points at
// a random place in a device's 100,000-point trail, over loopback TLS from
// the query to the last result read; it reports the latency percentiles.
func BenchmarkMAMTrailPage(b *testing.B) {
	h := hubtest.Start(b)
	car := h.Login(b, "car", devices.RoleDevice, "fleet")
	pw := h.Account(b, "op", devices.RoleOperator, "fleet")
	// A live fix creates the device's geoloc node; the trail is stored
	// straight away, as a long-running hub would have it.
	if res := publishGeoloc(car, "now", 52.5, 13.4); res.Attr("type") != "result" {
		b.Fatalf("publish: %s", res)
	}
	const points, step = 100_000, 5 * time.Second
	// Ending an hour ago, clear of the live fix.
	start := time.Now().Add(-time.Hour - points*step).Truncate(time.Second)
	fillTrail(b, h, "car@localhost", start, points, step)

	r := xmpptest.DialRaw(b, h.Addr)
	r.Login("localhost", h.ClientTLS, "op", pw, "bench")
	c := r.Conn()
	c.SetReadDeadline(time.Time{})
	buf := make([]byte, 0, 256<<10)
	query := func(i int, at time.Time) []byte {
		fmt.Fprintf(c, "<iq type='set' id='q%d' to='car@localhost'><query xmlns='urn:xmpp:mam:2' node='%s'>"+
			"<x xmlns='jabber:x:data' type='submit'><field var='start'><value>%s</value></field></x>"+
			"<set xmlns='http://jabber.org/protocol/rsm'><max>100</max></set></query></iq>", i, nsGeoloc, at.Format(time.RFC3339))
		buf = buf[:0]
		for !bytes.HasSuffix(buf, []byte("</fin></iq>")) {
			if len(buf) == cap(buf) {
				buf = slices.Grow(buf, len(buf))
			}
			n, err := c.Read(buf[len(buf):cap(buf)])
			if err != nil {
				b.Fatal(err)
			}
			buf = buf[:len(buf)+n]
		}
		return buf
	}
	span := points*step - 200*step
	if got := bytes.Count(query(0, start.Add(span/2)), []byte("<geoloc ")); got != 100 {
		b.Fatalf("a page has %d points: %.2000s", got, buf)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		at := start.Add(time.Duration(rand.Int64N(int64(span))))
		t0 := time.Now()
		query(i+1, at)
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// fillTrail stores n fixes of device, step apart from start, in one
// transaction, through the geo store's own write.
func fillTrail(b *testing.B, h *hubtest.Hub, device string, start time.Time, n int, step time.Duration) {
	b.Helper()
	var thens []func(error)
	err := h.DB.Update(func(tx *buntdb.Tx) error {
		for i := range n {
			at := start.Add(time.Duration(i) * step)
			lat, lon, speed := 52.5+float64(i%1000)/10000, 13.4+float64(i/1000)/1000, float64(i%30)
			g := geo.Geoloc{Lat: &lat, Lon: &lon, Speed: &speed, Timestamp: &at}
			p, _ := geo.PositionOf(device, g, at, "pep")
			w, then, err := h.Geo.Stage(p)
			if err != nil {
				return err
			}
			if err := w(tx); err != nil {
				return err
			}
			thens = append(thens, then)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, then := range thens {
		then(nil)
	}
	if got := len(h.Geo.TrailPoints(device, start, start.Add(time.Duration(n)*step))); got != n {
		b.Fatalf("trail has %d points, want %d", got, n)
	}
}

// BenchmarkRouteMessageArchive is BenchmarkRouteMessage (batch=1) with the
// message archive off and on, in one run: the difference is what
// archiving costs a chat message (both parties' archives, stanza-ids).
func BenchmarkRouteMessageArchive(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("archive=%v", on), func(b *testing.B) {
			benchRoute(b, 1, func(c *hub.Config) {
				if !on {
					c.Archive.Retention = -1
				}
			})
		})
	}
}
