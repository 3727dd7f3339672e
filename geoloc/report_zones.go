package geoloc

import (
	"cmp"
	"slices"
	"time"
)

// ZoneTime is a device's time in one fence over a range, from the enter
// and exit events the alert log keeps. A device inside at the start of the
// range counts from the start; one still inside at its end, to the end.
type ZoneTime struct {
	Device        string
	Fence         string
	FenceName     string
	Entries       int
	Inside        time.Duration
	InsideAtStart bool
	// Timed says the fence records exits as well as entries: without
	// them the time inside is unknown and Inside is 0.
	Timed bool
}

// ZoneTimes adds up one device's enter and exit events (other kinds are
// ignored) between from and to. before holds, per fence, the last enter or
// exit before from: an enter there means the device was inside at from.
// timed names the fences that record both enter and exit. Fences the
// device neither entered nor was in are left out; the rest come by name.
func ZoneTimes(device string, events, before []Event, timed map[string]bool, from, to time.Time) []ZoneTime {
	events = slices.Clone(events)
	slices.SortStableFunc(events, func(a, b Event) int { return a.Time.Compare(b.Time) })
	type state struct {
		ZoneTime
		in    bool
		left  bool // an exit was seen
		since time.Time
	}
	zones := map[string]*state{}
	zone := func(id, name string) *state {
		z := zones[id]
		if z == nil {
			z = &state{ZoneTime: ZoneTime{Device: device, Fence: id, FenceName: name, Timed: timed[id]}}
			zones[id] = z
		}
		if z.FenceName == "" {
			z.FenceName = name
		}
		return z
	}
	for _, e := range before {
		if e.Kind == Enter {
			z := zone(e.Fence, e.FenceName)
			z.in, z.since, z.InsideAtStart = true, from, true
		}
	}
	for _, e := range events {
		if e.Time.Before(from) || e.Time.After(to) || e.Kind != Enter && e.Kind != Exit {
			continue
		}
		z := zone(e.Fence, e.FenceName)
		switch {
		case e.Kind == Enter:
			z.Entries++
			if !z.in {
				z.in, z.since = true, e.Time
			}
		case z.in:
			z.Inside += e.Time.Sub(z.since)
			z.in = false
		case z.Entries == 0 && !z.left:
			// The log lost the entry: it was in from the start.
			z.Inside += e.Time.Sub(from)
			z.InsideAtStart = true
		}
		z.left = z.left || e.Kind == Exit
	}
	out := make([]ZoneTime, 0, len(zones))
	for _, z := range zones {
		if z.in {
			z.Inside += to.Sub(z.since)
		}
		if !z.Timed {
			z.Inside = 0
		}
		out = append(out, z.ZoneTime)
	}
	slices.SortFunc(out, func(a, b ZoneTime) int {
		return cmp.Or(cmp.Compare(a.FenceName, b.FenceName), cmp.Compare(a.Fence, b.Fence))
	})
	return out
}

// lateEvents is how long after its fix an event may be logged: the log is
// in the order events were received, and a device that stored fixes
// offline sends them later.
const lateEvents = 24 * time.Hour

// ZoneReport is ZoneTimes over the alert log for each of devices between
// from and to (by the time of the fixes, events logged up to lateEvents
// after them included); a to in the future counts up to now. Whether a
// device was inside a fence at from is its last enter or exit before,
// looked back for through the log (as far as AlertRetention keeps it) in
// one pass for all the devices, for the fences that watch them. Zone
// times come by device, in the order given, then by fence name.
func (s *Store) ZoneReport(devices []string, from, to time.Time) ([]ZoneTime, error) {
	if now := time.Now(); to.After(now) {
		to = now
	}
	want := map[string]bool{}
	for _, d := range devices {
		want[d] = true
	}
	s.mu.RLock()
	dir := s.dir
	s.mu.RUnlock()
	timed := map[string]bool{}
	undecided := map[[2]string]bool{} // device, fence
	for _, f := range s.Fences() {
		// Without exits in the log, the last entry says nothing of later.
		if timed[f.ID] = f.wants(Enter) && f.wants(Exit); !timed[f.ID] {
			continue
		}
		for _, d := range devices {
			var groups []string
			if dir != nil {
				groups = dir.GroupsOf(d)
			}
			if f.watches(d, groups) {
				undecided[[2]string{d, f.ID}] = true
			}
		}
	}
	visible := func(d string) bool { return want[d] }
	events := map[string][]Event{}
	err := s.eachAlert(AlertQuery{From: from, To: to.Add(lateEvents), Visible: visible}, func(a Alert) bool {
		events[a.Device] = append(events[a.Device], a.Event)
		return true
	})
	if err != nil {
		return nil, err
	}
	before := map[string][]Event{}
	if len(undecided) > 0 && from.After(time.Time{}) {
		err = s.eachAlert(AlertQuery{To: from.Add(lateEvents), Visible: visible}, func(a Alert) bool {
			k := [2]string{a.Device, a.Fence}
			if (a.Kind == Enter || a.Kind == Exit) && undecided[k] && a.Time.Before(from) {
				before[a.Device] = append(before[a.Device], a.Event)
				delete(undecided, k)
			}
			return len(undecided) > 0
		})
		if err != nil {
			return nil, err
		}
	}
	var out []ZoneTime
	for _, d := range devices {
		out = append(out, ZoneTimes(d, events[d], before[d], timed, from, to)...)
	}
	return out, nil
}

// eachAlert calls f with the records q selects, newest first, page by
// page, until f returns false or the log has no more.
func (s *Store) eachAlert(q AlertQuery, f func(Alert) bool) error {
	q.Limit = MaxAlertLimit
	for {
		page, next, err := s.QueryAlerts(q)
		if err != nil {
			return err
		}
		for _, a := range page {
			if !f(a) {
				return nil
			}
		}
		if next == "" {
			return nil
		}
		q.Before = next
	}
}
