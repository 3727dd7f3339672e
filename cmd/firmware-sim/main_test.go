package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geohub/geohub/geoloc"
	"github.com/geohub/geohub/internal/history"
	"github.com/geohub/geohub/internal/servetest"
	"github.com/geohub/geohub/internal/store"
	"github.com/tidwall/buntdb"
)

// These tests run the firmware-sim and geohub binaries as a user would.

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "firmware-sim-test")
	if err != nil {
		panic(err)
	}
	bin = dir
	for _, pkg := range []string{".", "../geohub"} {
		out, err := exec.Command("go", "build", "-o", dir, pkg).CombinedOutput()
		if err != nil {
			panic(string(out))
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func command(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, name), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return out
}

const scenarioYAML = `seed: 7
groups:
  - name: van
    count: 50
    interval: 250ms
    jitter: 0.2
    movement: {model: walk, box: [13.36, 52.50, 13.44, 52.54], speed: 14}
    telemetry: {every: 1s, battery: {start: 90, drain_per_hour: 20}, temperature: {mean: 6, swing: 2}}
    chaos: {drop_per_hour: 150, invalid_share: 0.05}
`

// Fifty simulated vans publish to a real hub, some of their connections
// dropped and some of their fixes invalid on purpose: every fix the hub
// acknowledged is in its store afterwards, and every invalid one was
// refused.
func TestEveryAcknowledgedFixIsStored(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	accounts := filepath.Join(dir, "accounts.csv")
	if err := os.WriteFile(accounts, command(t, "geohub", "device", "add", "--count", "50", "--prefix", "van-",
		"--group", "fleet", "--format", "csv", "--data", data), 0o600); err != nil {
		t.Fatal(err)
	}
	scenario := filepath.Join(dir, "fleet.yaml")
	if err := os.WriteFile(scenario, []byte(scenarioYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	hub := servetest.Start(t, filepath.Join(bin, "geohub"), data, "--c2s-tls", "", "--http", "")
	addr := hub.C2S
	record, summaryFile := filepath.Join(dir, "acked.jsonl"), filepath.Join(dir, "summary.json")
	command(t, "firmware-sim", "--accounts", accounts, "--hub", addr, "--ca", filepath.Join(data, "tls", "cert.pem"),
		"--scenario", scenario, "--duration", "6s", "--login-rate", "500", "--record", record, "--summary", summaryFile)
	if err := hub.Stop(); err != nil {
		t.Errorf("geohub serve: %v", err)
	}

	var sum struct {
		Devices         int               `json:"devices"`
		Acked           uint64            `json:"acked"`
		RefusedExpected uint64            `json:"refused_expected"`
		RefusedOther    uint64            `json:"refused_unexpected"`
		AcceptedInvalid uint64            `json:"accepted_invalid"`
		Drops           uint64            `json:"drops"`
		Reconnects      uint64            `json:"reconnects"`
		Errors          map[string]uint64 `json:"errors"`
	}
	b, err := os.ReadFile(summaryFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, b)
	}
	t.Logf("summary: %s", b)
	if sum.Devices != 50 || sum.Acked < 50*10 || sum.RefusedExpected == 0 || sum.RefusedOther != 0 || sum.AcceptedInvalid != 0 ||
		sum.Drops == 0 || sum.Reconnects == 0 {
		t.Errorf("summary: %+v", sum)
	}

	// The hub has stopped: open its folder and look for every fix.
	d, err := store.Lock(data)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Unlock()
	db, err := d.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	geo, _, closeGeo := openGeo(t, d, db)
	defer closeGeo()
	f, err := os.Open(record)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, missing := 0, 0
	for lines := bufio.NewScanner(f); lines.Scan(); n++ {
		var r recorded
		if err := json.Unmarshal(lines.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range geo.TrailPoints(r.Device, r.Time, r.Time) {
			found = found || p.Lat == r.Lat && p.Lon == r.Lon
		}
		if !found {
			if missing++; missing <= 5 {
				t.Errorf("acknowledged fix not stored: %+v", r)
			}
		}
	}
	if uint64(n) != sum.Acked || missing > 0 {
		t.Errorf("%d fixes recorded, %d acknowledged in the summary, %d missing from the store", n, sum.Acked, missing)
	}
	if geo.Len() != 50 {
		t.Errorf("%d devices have a position, want 50", geo.Len())
	}
	if r := geo.Readings("van-1@localhost"); r["battery"].Unit != "%" {
		t.Errorf("van-1's readings: %+v", r)
	}
}

// openGeo opens the trails of a stopped hub's data folder: the database
// and the history file, without a sealer. close closes the history file.
func openGeo(t *testing.T, d *store.Dir, db *buntdb.DB) (geo *geoloc.Store, h *history.Store, close func()) {
	t.Helper()
	h, err := history.Open(d.File(history.File), history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	geo, err = geoloc.OpenStore(db, geoloc.Options{History: h, SealEvery: -1})
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	return geo, h, func() { h.Close() }
}
