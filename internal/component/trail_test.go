package component

import (
	"bytes"
	"cmp"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/xmlnode"
)

// Asked at any instance, a device's trail comes whole and in order from
// the instance that owns it, a page at a time; a stranger gets none of
// it, and a peer gone is reported missing.
func TestTrailAcrossLinks(t *testing.T) {
	r := startRouter(t)
	a, _, _ := testShard(t, r, "geo-1.localhost", "geo-2.localhost")
	b, geo, commit := testShard(t, r, "geo-2.localhost", "geo-1.localhost")
	const n = 2*trailPage + 7
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	var wg sync.WaitGroup
	for i := range n {
		speed := float64(i)
		at := start.Add(time.Duration(i) * time.Second)
		w, then, err := geo.Stage(geoloc.Position{Device: "car@localhost", Lat: 52 + float64(i)/1e4, Lon: 13.4, Time: at, Received: at,
			Geoloc: geoloc.Geoloc{Speed: &speed}})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		commit.Submit(w, func(err error) { then(err); wg.Done() })
	}
	wg.Wait()

	pts, statuses := a.Trail("op@localhost", "car@localhost", start.Add(-time.Minute), time.Now())
	if len(pts) != n || len(statuses) != 2 || statuses[1].Status != "ok" {
		t.Fatalf("trail of %d points of %d, statuses %v", len(pts), n, statuses)
	}
	for i, pt := range pts {
		if !pt.Time.Equal(start.Add(time.Duration(i)*time.Second)) || pt.Lat != 52+float64(i)/1e4 || pt.Speed == nil || *pt.Speed != float64(i) {
			t.Fatalf("point %d: %+v", i, pt)
		}
	}
	if pts, _ := a.Trail("op@localhost", "car@localhost", start.Add(10*time.Second), start.Add(19*time.Second)); len(pts) != 10 {
		t.Errorf("ten seconds of trail: %d points", len(pts))
	}
	if pts, statuses := a.Trail("stranger@localhost", "car@localhost", start, time.Now()); len(pts) != 0 || statuses[1].Status != "ok" {
		t.Errorf("a stranger got %d points (%v)", len(pts), statuses)
	}

	b.Link.Close()
	a.Timeout = 300 * time.Millisecond
	if pts, statuses := a.Trail("op@localhost", "car@localhost", start, time.Now()); len(pts) != 0 || statuses[1].Status != "missing" || statuses[1].Reason == "" {
		t.Errorf("geo-2 gone: %d points, statuses %v", len(pts), statuses)
	}
}

// A full page of points with every field at its longest stays well
// below ejabberd's 64 KiB stanza limit for a component.
func TestTrailPageFitsAStanza(t *testing.T) {
	long := -math.Pi * 1e2
	pts := make([]geoloc.TrailPoint, trailPage)
	for i := range pts {
		pts[i] = geoloc.TrailPoint{Time: time.Date(2026, 12, 7, 13, 48, 30, 123456789, time.FixedZone("x", 3600)),
			Lat: -math.Pi * 10, Lon: long, Speed: &long, Bearing: &long, Accuracy: &long, Alt: &long}
	}
	b := appendTrailPage(iqHead("result", "geo-2.example.com", "geo-1.example.com", "gh1z"), pts, true)
	if len(b) > 48<<10 {
		t.Errorf("a page of %d points takes %d bytes", trailPage, len(b))
	}
	t.Logf("a full page: %d bytes", len(b))
}

// BenchmarkTrailDayAcrossLinks reads a peer's device-day (17,280 points,
// one every 5 s) over the link, as the API does for a device it does
// not own.
func BenchmarkTrailDayAcrossLinks(b *testing.B) {
	r := startRouter(b)
	a, _, _ := testShard(b, r, "geo-1.localhost", "geo-2.localhost")
	_, geo, commit := testShard(b, r, "geo-2.localhost", "geo-1.localhost")
	const n = 17_280
	start := time.Now().Add(-25 * time.Hour).Truncate(time.Second)
	var wg sync.WaitGroup
	for i := range n {
		at := start.Add(time.Duration(i) * 5 * time.Second)
		w, then, err := geo.Stage(geoloc.Position{Device: "car@localhost", Lat: 52 + float64(i)/1e5, Lon: 13.4, Time: at, Received: at})
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		commit.Submit(w, func(err error) { then(err); wg.Done() })
	}
	wg.Wait()
	a.Timeout = time.Minute
	b.ResetTimer()
	for b.Loop() {
		if pts, statuses := a.Trail("op@localhost", "car@localhost", start, time.Now()); len(pts) != n || statuses[1].Status != "ok" {
			b.Fatalf("%d points of %d, %v", len(pts), n, statuses)
		}
	}
}

// Each page of a long read must come within the timeout, not the whole
// read: a slow peer whose pages together take longer than the timeout
// still answers, and one that pages on for ever is cut at longRead
// timeouts and reported missing.
func TestTrailPagesEachWithinTheTimeout(t *testing.T) {
	r := startRouter(t)
	a, _, _ := testShard(t, r, "geo-1.localhost", "geo-2.localhost")
	slow := slowPeer(t, r, "geo-2.localhost")
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)

	a.Timeout = time.Second
	slow.set(300*time.Millisecond, 4)
	pts, statuses := a.Trail("op@localhost", "car@localhost", start, start.Add(time.Hour))
	if len(pts) != 4 || statuses[1].Status != "ok" || !pts[3].Time.Equal(start.Add(4*time.Second)) {
		t.Errorf("four pages of 0.3 s within a 1 s timeout: %d points, statuses %v", len(pts), statuses)
	}

	a.Timeout = 100 * time.Millisecond
	slow.set(20*time.Millisecond, 0)
	if _, statuses := a.Trail("op@localhost", "car@localhost", start, start.Add(time.Hour)); statuses[1].Status != "missing" || statuses[1].Reason == "" {
		t.Errorf("a peer paging for ever: statuses %v", statuses)
	}
}

// fakePeer answers each trail question with one point after delay, the
// point a second after the page's after (or from), and more until the
// pages-th page (0: for ever).
type fakePeer struct {
	link  *Link
	mu    sync.Mutex
	delay time.Duration
	pages int
}

func (p *fakePeer) set(delay time.Duration, pages int) {
	p.mu.Lock()
	p.delay, p.pages = delay, pages
	p.mu.Unlock()
}

func slowPeer(t *testing.T, r *router, domain string) *fakePeer {
	p := &fakePeer{link: New(Config{Domain: domain, Upstream: r.ln.Addr().String(), Secret: "s", Logger: slog.New(slog.DiscardHandler)})}
	p.link.Start(func(raw []byte) {
		el, err := xmlnode.Parse(bytes.Clone(raw), NS)
		if err != nil || el.Local != "iq" || el.Attr("type") != "get" || len(el.Children) != 1 {
			return
		}
		q := el.Children[0]
		last, err := time.Parse(time.RFC3339Nano, cmp.Or(q.Attr("after"), q.Attr("from")))
		if err != nil {
			return
		}
		p.mu.Lock()
		delay, pages := p.delay, p.pages
		p.mu.Unlock()
		go func() {
			time.Sleep(delay) // the peer is slow, not the test waiting
			pt := geoloc.TrailPoint{Time: last.Add(time.Second), Lat: 52, Lon: 13}
			n := int(pt.Time.Sub(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)) / time.Second)
			b := appendTrailPage(iqHead("result", domain, el.Attr("from"), el.Attr("id")), []geoloc.TrailPoint{pt}, pages == 0 || n < pages)
			p.link.Send(append(b, "</iq>"...))
		}()
	})
	t.Cleanup(p.link.Close)
	for deadline := time.Now().Add(10 * time.Second); p.link.Ready() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", domain, p.link.Ready())
		}
	}
	return p
}
