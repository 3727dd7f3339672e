package main

import (
	"bufio"
	"encoding/json"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/servetest"
	"github.com/geohub/geohub/internal/store"
)

const killScenarioYAML = `seed: 11
groups:
  - name: van
    count: 20
    interval: 100ms
    jitter: 0.2
    movement: {model: walk, box: [13.36, 52.50, 13.44, 52.54], speed: 14}
`

// Vans publish through a hub that is killed (SIGKILL) at random moments
// while its sealer moves trail points into the history file every 20 ms
// (and the vans send what they queued meanwhile as late fixes): every fix
// the hub acknowledged is in the trail exactly once, right after the last
// kill and after one more start, and the folder opens cleanly each time.
func TestKilledWhileSealingLosesNoAcknowledgedFix(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	accounts := filepath.Join(dir, "accounts.csv")
	if err := os.WriteFile(accounts, command(t, "geohub", "device", "add", "--count", "20", "--prefix", "van-",
		"--format", "csv", "--data", data), 0o600); err != nil {
		t.Fatal(err)
	}
	scenario := filepath.Join(dir, "vans.yaml")
	if err := os.WriteFile(scenario, []byte(killScenarioYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	// The same port after each restart, so that the vans find the hub again.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	geohub := filepath.Join(bin, "geohub")
	start := func() *servetest.Hub {
		return servetest.Start(t, geohub, data, "--c2s", addr, "--c2s-tls", "", "--http", "",
			"--history-seal-every", "20ms", "--history-seal-delay", "0")
	}
	hub := start()
	record := filepath.Join(dir, "acked.jsonl")
	sim := exec.Command(filepath.Join(bin, "firmware-sim"), "--accounts", accounts, "--hub", addr, "--ca", filepath.Join(data, "tls", "cert.pem"),
		"--scenario", scenario, "--duration", "10s", "--login-rate", "500", "--record", record, "--summary", filepath.Join(dir, "summary.json"))
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	simDone := make(chan error, 1)
	go func() { simDone <- sim.Wait() }()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	kills := 0
	for running := true; running; {
		// The random moment of the next crash is what this test is about,
		// not a wait for something.
		select {
		case <-simDone:
			running = false
		case <-time.After(time.Duration(200+r.IntN(1000)) * time.Millisecond):
			hub.Kill()
			kills++
			hub = start()
		}
	}
	hub.Kill()
	kills++
	acked := checkTrails(t, data, record, "after the last kill")
	hub = start()
	if err := hub.Stop(); err != nil {
		t.Errorf("geohub serve: %v", err)
	}
	checkTrails(t, data, record, "after a restart")
	t.Logf("%d kills, %d acknowledged fixes", kills, acked)
	if kills < 3 || acked < 300 {
		t.Errorf("%d kills and %d acknowledged fixes: too few to mean anything", kills, acked)
	}
}

// checkTrails opens the stopped hub's folder and finds every acknowledged
// fix in the trail of its device exactly once, and no trail with two
// points at one time. It returns the number of acknowledged fixes.
func checkTrails(t *testing.T, data, record, when string) int {
	t.Helper()
	d, err := store.Lock(data)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Unlock()
	db, err := d.Open()
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	defer db.Close()
	geo, hist, closeGeo := openGeo(t, d, db)
	defer closeGeo()
	f, err := os.Open(record)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, bad, sealed := 0, 0, 0
	devices := map[string]bool{}
	for lines := bufio.NewScanner(f); lines.Scan(); n++ {
		var r recorded
		if err := json.Unmarshal(lines.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		devices[r.Device] = true
		pts := geo.TrailPoints(r.Device, r.Time, r.Time)
		if len(pts) != 1 || pts[0].Lat != r.Lat || pts[0].Lon != r.Lon {
			if bad++; bad <= 5 {
				t.Errorf("%s: acknowledged fix %+v is in the trail as %+v", when, r, pts)
			}
		}
	}
	for dev := range devices {
		hp, err := hist.Points(dev, 0, 1<<62)
		if err != nil {
			t.Errorf("%s: %s's history: %v", when, dev, err)
		}
		sealed += len(hp)
		pts := geo.TrailPoints(dev, time.Unix(0, 0), time.Now().Add(time.Hour))
		for i := 1; i < len(pts); i++ {
			if !pts[i].Time.After(pts[i-1].Time) {
				t.Errorf("%s: %s's trail has %v after %v", when, dev, pts[i].Time, pts[i-1].Time)
				break
			}
		}
	}
	if sealed == 0 {
		t.Errorf("%s: nothing was sealed into the history file", when)
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d acknowledged fixes not in the trail exactly once", when, bad, n)
	}
	return n
}
