package geoloc

import (
	"path/filepath"
	"slices"
	"testing"
)

// PutRules keeps the rules' IDs, replaces a rule of the same ID (whose
// alarms start afresh, also after a restart), and every rule watcher
// hears of it.
func TestPutRulesKeepsIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "geo.db")
	ts, log := ruleStore(t, path)
	var heard1, heard2 []string
	ts.WatchRules(func(c RuleChange) { heard1 = append(heard1, c.Rule.ID) })
	ts.WatchRules(func(c RuleChange) { heard2 = append(heard2, c.Rule.ID) })
	if err := ts.PutRules([]*Rule{{ID: "r-shared", Name: "Low battery", Sensor: "battery", Below: f64(15)}}); err != nil {
		t.Fatal(err)
	}
	feed(t, ts, "car@x", "battery", 0, 20, 14)
	if got := log.takeValues(); !slices.Equal(got, []string{"below:Low battery:car@x:14"}) {
		t.Errorf("alerts of the rule put: %v", got)
	}
	// Replaced: the alarm starts afresh, so the next low value alerts.
	if err := ts.PutRules([]*Rule{{ID: "r-shared", Name: "Very low battery", Sensor: "battery", Below: f64(10)}}); err != nil {
		t.Fatal(err)
	}
	if rs := ts.Rules(); len(rs) != 1 || rs[0].ID != "r-shared" || rs[0].Name != "Very low battery" {
		t.Errorf("rules: %+v", rs)
	}
	if !slices.Equal(heard1, []string{"r-shared", "r-shared"}) || !slices.Equal(heard1, heard2) {
		t.Errorf("watchers heard %v and %v", heard1, heard2)
	}
	feed(t, ts, "car@x", "battery", 2e9, 9)
	if got := log.takeValues(); !slices.Equal(got, []string{"below:Very low battery:car@x:9"}) {
		t.Errorf("alerts of the replaced rule: %v", got)
	}
	for _, bad := range []*Rule{{Name: "no id", Sensor: "battery", Below: f64(1)}, {ID: "r:x", Name: "colon", Sensor: "battery", Below: f64(1)},
		{ID: "r-y", Name: "no threshold", Sensor: "battery"}} {
		if err := ts.PutRules([]*Rule{bad}); err == nil {
			t.Errorf("%s: stored", bad.Name)
		}
	}
}
