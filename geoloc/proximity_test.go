package geoloc

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// 0.00045 degrees of latitude is about 50 metres.
const metre50 = 0.00045

const convoy = `{"type":"Feature","properties":{"name":"Convoy","near":["lead"],"groups":["fleet"],
 "radius":100,"hysteresis":10,"notify":["op"]},"geometry":null}`

// takeNear returns the events so far as "kind:device~near" and forgets them.
func (l *eventLog) takeNear() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		out = append(out, e.Kind+":"+e.Device+"~"+e.Near)
	}
	l.events = nil
	return out
}

func TestProximityEnterExitWithHysteresis(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	ts, log := fenceStore(t, path, convoy)
	ts.SetDirectory(groups{"bus": {"fleet"}, "van": {"fleet"}})
	ts.put(t, fix("lead", 52, 13, 0))
	ts.put(t, fix("bus", 52+20*metre50, 13, time.Second)) // 1 km away
	ts.put(t, fix("car", 52+metre50, 13, time.Second))    // near, but not watched
	if got := log.takeNear(); len(got) != 0 {
		t.Fatalf("far away or unwatched: %v", got)
	}
	ts.put(t, fix("bus", 52+metre50, 13, 2*time.Second))
	log.mu.Lock()
	e := log.events[0]
	log.mu.Unlock()
	if got := log.takeNear(); !slices.Equal(got, []string{"enter:bus~lead"}) {
		t.Fatalf("bus comes near: %v", got)
	}
	if e.Distance < 45 || e.Distance > 55 || e.FenceName != "Convoy" || !slices.Equal(e.Notify, []string{"op"}) {
		t.Errorf("event: %+v", e)
	}
	// 105 m: past the radius but not past the hysteresis.
	ts.put(t, fix("bus", 52+2.1*metre50, 13, 3*time.Second))
	if got := log.takeNear(); len(got) != 0 {
		t.Errorf("jitter at the edge raised %v", got)
	}

	// The state survives a restart: no second enter, and the exit comes
	// when the lead drives off, told as the lead's event.
	ts.commit.Close()
	ts.db.Close()
	ts, log = fenceStore(t, path, "")
	ts.SetDirectory(groups{"bus": {"fleet"}, "van": {"fleet"}})
	ts.put(t, fix("bus", 52+metre50, 13, 4*time.Second))
	if got := log.takeNear(); len(got) != 0 {
		t.Errorf("after restart, still near raised %v", got)
	}
	ts.put(t, fix("lead", 52+12*metre50, 13, 5*time.Second))
	if got := log.takeNear(); !slices.Equal(got, []string{"exit:lead~bus"}) {
		t.Errorf("lead drives off: %v", got)
	}
	// The lead comes to two buses at once: two pairs, two events.
	ts.put(t, fix("van", 52+12*metre50, 13.0005, 6*time.Second))
	ts.put(t, fix("bus", 52+11*metre50, 13, 6*time.Second))
	got := log.takeNear()
	slices.Sort(got)
	if !slices.Equal(got, []string{"enter:bus~lead", "enter:van~lead"}) {
		t.Errorf("two buses: %v", got)
	}
	// A forgotten device leaves no pair behind.
	if err := ts.Forget("bus"); err != nil {
		t.Fatal(err)
	}
	fence := ts.Fences()[0].ID
	ts.mu.RLock()
	_, kept := ts.pairs["bus"]
	_, keptOther := ts.pairs["lead"][pairState(fence, "lead", "bus")]
	ts.mu.RUnlock()
	if kept || keptOther {
		t.Error("the forgotten bus still has proximity state")
	}
	ts.put(t, fix("lead", 52+30*metre50, 13, 7*time.Second))
	if got := log.takeNear(); !slices.Equal(got, []string{"exit:lead~van"}) {
		t.Errorf("after forgetting bus: %v", got)
	}
}

func TestProximityWithinOneGroupCountsEachPairOnce(t *testing.T) {
	ts, log := fenceStore(t, ":memory:", `{"type":"Feature","properties":{"name":"Spacing","groups":["fleet"],
		"near_groups":["fleet"],"radius":30,"events":["enter"]},"geometry":null}`)
	ts.SetDirectory(groups{"a": {"fleet"}, "b": {"fleet"}, "c": {"fleet"}})
	ts.put(t, fix("a", 10, 170, 0))
	ts.put(t, fix("b", 10, 170.0001, time.Second)) // 11 m
	ts.put(t, fix("a", 10, 170.00005, 2*time.Second))
	if got := log.takeNear(); !slices.Equal(got, []string{"enter:b~a"}) {
		t.Errorf("one pair: %v", got)
	}
	// Exit is not among the events, yet the pair's state follows it: a
	// second approach is a second enter.
	ts.put(t, fix("b", 10, 171, 3*time.Second))
	ts.put(t, fix("b", 10, 170.0001, 4*time.Second))
	if got := log.takeNear(); !slices.Equal(got, []string{"enter:b~a"}) {
		t.Errorf("second approach: %v", got)
	}
	// Removing the fence forgets its pairs.
	id := ts.Fences()[0].ID
	if err := ts.RemoveFence(id); err != nil {
		t.Fatal(err)
	}
	ts.mu.RLock()
	left := len(ts.pairs)
	ts.mu.RUnlock()
	if left != 0 {
		t.Errorf("pairs left after removal: %d", left)
	}
}

func TestProximityAcrossTheAntimeridian(t *testing.T) {
	ts, log := fenceStore(t, ":memory:", `{"type":"Feature","properties":{"name":"Meet","near":["ship"],"radius":500},"geometry":null}`)
	ts.put(t, fix("ship", -17, 179.999, 0))
	ts.put(t, fix("boat", -17, -179.999, time.Second)) // about 213 m east, across the line
	if got := log.takeNear(); !slices.Equal(got, []string{"enter:boat~ship"}) {
		t.Errorf("across the antimeridian: %v", got)
	}
}

func TestBadProximityFences(t *testing.T) {
	for _, tc := range []struct{ props, geometry, want string }{
		{`"near":["a"],"radius":0`, "null", "radius"},
		{`"near":["a"],"radius":200000`, "null", "radius"},
		{`"near":["a"],"radius":5,"events":["dwell"],"dwell":3`, "null", "enter and exit"},
		{`"near":["a"],"radius":5`, `{"type":"Point","coordinates":[1,2]}`, "not both"},
	} {
		in := `{"type":"Feature","properties":{"name":"P",` + tc.props + `},"geometry":` + tc.geometry + `}`
		if _, err := ParseFences([]byte(in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error about %q", in, err, tc.want)
		}
	}
	fs, err := ParseFences([]byte(convoy))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := fs[0].Feature().MarshalJSON()
	again, err := ParseFences(b)
	if err != nil || !slices.Equal(again[0].Near, []string{"lead"}) || again[0].shape.radius != 100 {
		t.Errorf("round trip of %s: %v %+v", b, err, again)
	}
}

func TestProximityAlertText(t *testing.T) {
	at := time.Date(2026, 11, 25, 14, 3, 0, 0, time.UTC)
	e := Event{ID: "1", Kind: Enter, Fence: "f1", FenceName: "Convoy", Device: "bus@localhost", Near: "lead@localhost",
		Distance: 48.7, Time: at, Position: Position{Lat: 52, Lon: 13, Time: at}}
	if got := e.Body(); got != "bus came within 49 m of lead (Convoy) at 14:03 UTC, 52.0000 13.0000" {
		t.Errorf("body %q", got)
	}
	if el := string(e.Element()); !strings.Contains(el, "near='lead@localhost'") || !strings.Contains(el, "distance='48.7'") {
		t.Errorf("element %s", el)
	}
}
