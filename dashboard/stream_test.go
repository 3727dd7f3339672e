package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/geoloc"
)

// sse is an open /api/stream: its events arrive on a channel, each with
// the time it was read.
type sse struct {
	events chan sseEvent
	cancel context.CancelFunc
	done   chan struct{}
}

type sseEvent struct {
	name string
	data string
	at   time.Time
}

func (c *client) stream(t testing.TB) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", c.e.ts.URL+"/api/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "geohub_session", Value: c.cookie})
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %s %v", res.Status, res.Header)
	}
	s := &sse{events: make(chan sseEvent, 10000), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					ev.at = time.Now()
					select {
					case s.events <- ev:
					default: // the test stopped reading
					}
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[len("data: "):]
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *sse) close() {
	s.cancel()
	<-s.done
}

// next returns the next event called name, skipping others, or fails the
// test after wait.
func (s *sse) next(t testing.TB, name string, wait time.Duration) sseEvent {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatalf("stream ended waiting for %s", name)
			}
			if ev.name == name {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event within %v", name, wait)
		}
	}
}

// none fails the test if an event called name arrives within wait.
func (s *sse) none(t testing.TB, name string, wait time.Duration) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case ev := <-s.events:
			if ev.name == name {
				t.Errorf("unexpected %s event: %s", name, ev.data)
			}
		case <-deadline:
			return
		}
	}
}

func TestStreamDeliversPositionsPresenceAndAlertsTheViewerMaySee(t *testing.T) {
	e := newEnv(t)
	e.login("root").must(201, "POST", "/api/fences",
		`{"type":"Feature","id":"depot","properties":{"name":"Depot"},"geometry":{"type":"Polygon","coordinates":[[[13,52],[13.1,52],[13.1,52.1],[13,52.1],[13,52]]]}}`)
	alice := e.login("alice").stream(t)
	admin := e.token("root").stream(t)

	// A fix of another group's device reaches the admin only.
	e.fix("car2", 48.1, 11.6, time.Now())
	if ev := admin.next(t, "positions", time.Second); !strings.Contains(ev.data, "car2@localhost") {
		t.Errorf("admin: %s", ev.data)
	}
	alice.none(t, "positions", 200*time.Millisecond)

	staged := time.Now()
	e.fix("car1", 52.5, 13.4, time.Now(), func(p *geoloc.Position) { p.Geoloc.Speed = f64(3) })
	ev := alice.next(t, "positions", time.Second)
	if took := ev.at.Sub(staged); took > time.Second {
		t.Errorf("fix to stream took %v", took)
	}
	var fc featureCollection
	if err := json.Unmarshal([]byte(ev.data), &fc); err != nil {
		t.Fatalf("positions event: %v: %s", err, ev.data)
	}
	if fc.Type != "FeatureCollection" || len(fc.Features) != 1 || fc.ids()[0] != "car1@localhost" || fc.Features[0].Props["speed"] != 3.0 {
		t.Errorf("positions event: %s", ev.data)
	}

	// Several fixes of one device between flushes arrive as its latest.
	for i := range 5 {
		e.fix("van", 50, 10+float64(i)/100, time.Now())
	}
	var last featureCollection
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		ev := alice.next(t, "positions", time.Second)
		last = featureCollection{}
		json.Unmarshal([]byte(ev.data), &last)
		if len(last.Features) != 1 {
			t.Errorf("one device, %d features: %s", len(last.Features), ev.data)
		}
		if c := last.Features[0].Geometry["coordinates"].([]any); c[0] == 10.04 {
			break
		}
	}
	if c := last.Features[0].Geometry["coordinates"].([]any); c[0] != 10.04 {
		t.Errorf("the van's last position never came: %v", c)
	}

	e.accounts.SetOnline("car1", true)
	e.accounts.SetOnline("car2", true)
	ev = alice.next(t, "presence", time.Second)
	var pres struct {
		Device, Name string
		Online       bool
	}
	json.Unmarshal([]byte(ev.data), &pres)
	if pres.Device != "car1@localhost" || pres.Name != "car1" || !pres.Online {
		t.Errorf("presence: %s", ev.data)
	}
	alice.none(t, "presence", 200*time.Millisecond)
	if ev := admin.next(t, "presence", time.Second); !strings.Contains(ev.data, "car1") {
		t.Errorf("admin presence: %s", ev.data)
	}

	// car2 enters the depot: the admin hears, alice does not; then car1.
	e.fix("car2", 52.05, 13.05, time.Now())
	if ev := admin.next(t, "alert", time.Second); !strings.Contains(ev.data, `"device":"car2@localhost"`) {
		t.Errorf("admin alert: %s", ev.data)
	}
	alice.none(t, "alert", 200*time.Millisecond)
	e.fix("car1", 52.05, 13.05, time.Now())
	ev = alice.next(t, "alert", time.Second)
	var alert struct {
		ID, Event, Fence, Device string
		AckedBy                  *string `json:"acked_by"`
	}
	if err := json.Unmarshal([]byte(ev.data), &alert); err != nil || alert.Event != "enter" || alert.Fence != "depot" ||
		alert.Device != "car1@localhost" || alert.ID == "" || !strings.Contains(ev.data, `"acked_by":null`) {
		t.Errorf("alert: %s", ev.data)
	}
	e.login("alice").must(204, "POST", "/api/alerts/"+alert.ID+"/ack", nil)
	if ev := alice.next(t, "ack", time.Second); !strings.Contains(ev.data, `"acked_by":"alice@localhost"`) {
		t.Errorf("ack: %s", ev.data)
	}
}

func TestStreamEndsWithTheSession(t *testing.T) {
	e := newEnv(t)
	alice := e.login("alice")
	s := alice.stream(t)
	alice.must(204, "POST", "/api/logout", nil)
	e.fix("car1", 52.5, 13.4, time.Now())
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
		t.Error("the stream outlived its session")
	}
	// Revoking a token ends its streams.
	tok, secret, err := e.tokens.Add("s", "root")
	if err != nil {
		t.Fatal(err)
	}
	s1 := (&client{e: e, bearer: secret}).stream(t)
	if err := e.tokens.Revoke(tok.ID); err != nil {
		t.Fatal(err)
	}
	e.fix("car1", 52.6, 13.4, time.Now())
	select {
	case <-s1.done:
	case <-time.After(2 * time.Second):
		t.Error("the stream outlived its token")
	}
	// Closing the server ends the streams at once.
	s2 := e.token("root").stream(t)
	e.srv.Close()
	select {
	case <-s2.done:
	case <-time.After(2 * time.Second):
		t.Error("the stream outlived the server")
	}
}

func TestStreamFollowsGroupChanges(t *testing.T) {
	e := newEnv(t)
	alice := e.login("alice").stream(t)
	e.fix("car2", 48.1, 11.6, time.Now())
	alice.none(t, "positions", 200*time.Millisecond)
	e.login("root").must(200, "PATCH", "/api/devices/alice", map[string]any{"groups": []string{"north", "south"}})
	e.fix("car2", 48.2, 11.6, time.Now())
	if ev := alice.next(t, "positions", time.Second); !strings.Contains(ev.data, "car2@localhost") {
		t.Errorf("after joining south: %s", ev.data)
	}
}

// A fence stored or removed anywhere (another dashboard, the CLI, a
// script) reaches the live maps of those who may read it, and no one else.
func TestStreamTellsOfFenceChanges(t *testing.T) {
	e := newEnv(t)
	alice := e.login("alice").stream(t)
	bob := e.login("bob").stream(t)
	root := e.login("root")

	south := `{"type":"Feature","id":"yard","properties":{"name":"Yard","groups":["south"],"radius":50},"geometry":{"type":"Point","coordinates":[11.6,48.1]}}`
	north := `{"type":"Feature","id":"depot","properties":{"name":"Depot","groups":["north"]},"geometry":{"type":"Polygon","coordinates":[[[13,52],[13.1,52],[13.1,52.1],[13,52.1],[13,52]]]}}`
	root.must(201, "POST", "/api/fences", south)
	root.must(201, "POST", "/api/fences", north)

	// Events reach each client in order: alice's first fence event is the
	// north one, so she never heard of the south fence.
	if ev := alice.next(t, "fence", 2*time.Second); !strings.Contains(ev.data, `"id":"depot"`) || !strings.Contains(ev.data, `"Polygon"`) {
		t.Errorf("alice's first fence event: %s", ev.data)
	}
	if ev := bob.next(t, "fence", 2*time.Second); !strings.Contains(ev.data, `"id":"yard"`) || !strings.Contains(ev.data, `"radius":50`) {
		t.Errorf("bob's first fence event: %s", ev.data)
	}

	renamed := strings.Replace(north, `"name":"Depot"`, `"name":"North depot"`, 1)
	root.must(200, "PUT", "/api/fences/depot", renamed)
	if ev := alice.next(t, "fence", 2*time.Second); !strings.Contains(ev.data, `"North depot"`) {
		t.Errorf("after the update alice got %s", ev.data)
	}
	// Moved to the south group: alice loses it, bob gains it.
	root.must(200, "PUT", "/api/fences/depot", strings.Replace(renamed, `"groups":["north"]`, `"groups":["south"]`, 1))
	if ev := alice.next(t, "fence-removed", 2*time.Second); ev.data != `{"id":"depot"}` {
		t.Errorf("alice, the fence moved away from her: %s", ev.data)
	}
	if ev := bob.next(t, "fence", 2*time.Second); !strings.Contains(ev.data, `"id":"depot"`) {
		t.Errorf("bob, the fence moved to him: %s", ev.data)
	}
	root.must(200, "PUT", "/api/fences/depot", renamed) // back to the north
	if ev := bob.next(t, "fence-removed", 2*time.Second); ev.data != `{"id":"depot"}` {
		t.Errorf("bob, the fence moved back away from him: %s", ev.data)
	}

	// Removals in the other order: bob's next is still his own fence.
	root.must(204, "DELETE", "/api/fences/depot", nil)
	root.must(204, "DELETE", "/api/fences/yard", nil)
	if ev := alice.next(t, "fence-removed", 2*time.Second); ev.data != `{"id":"depot"}` {
		t.Errorf("alice's first removal: %s", ev.data)
	}
	if ev := bob.next(t, "fence-removed", 2*time.Second); ev.data != `{"id":"yard"}` {
		t.Errorf("bob's next removal: %s", ev.data)
	}
}
