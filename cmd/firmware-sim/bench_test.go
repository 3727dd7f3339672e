package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/geohub/geohub/internal/peers"
)

// runBenchCmd runs `firmware-sim bench --quick` with args against the
// geohub binary TestMain built, and returns its JSON and text reports.
func runBenchCmd(t *testing.T, args ...string) (benchReport, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "bench.json")
	args = append([]string{"bench", "--quick", "--geohub", filepath.Join(bin, "geohub"), "--json", file}, args...)
	text := string(command(t, "firmware-sim", args...))
	t.Logf("report:\n%s", text)
	var rep benchReport
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return rep, text
}

// checkSane asserts that a server's figures from a quick bench are what a
// working server under that load gives.
func checkSane(t *testing.T, r benchResult) {
	t.Helper()
	l := func(ok bool, what string, v ...any) {
		t.Helper()
		if !ok {
			t.Errorf("%s: %s: %v", r.Server, what, v)
		}
	}
	l(r.Logins == 50 && r.LoginErrors == 0, "logins", r.Logins, r.LoginErrors)
	l(r.LoginsPerS > 0 && r.LoginP50Ms > 0 && r.LoginP99Ms >= r.LoginP50Ms, "login rate and latency", r.LoginsPerS, r.LoginP50Ms, r.LoginP99Ms)
	l(r.DevicesOnline == 50, "devices online", r.DevicesOnline)
	l(r.Publishes > 0 && r.PublishesPerS > 0, "publishes", r.Publishes, r.PublishesPerS)
	l(r.AckP50Ms > 0 && r.AckP99Ms >= r.AckP50Ms && r.AckP99Ms < 5000, "ack latency", r.AckP50Ms, r.AckP99Ms)
	// One subscriber: a notification per publish, give or take the ones
	// in flight at either end of the measurement: each device has one
	// publish in flight, which matters for a slow server (Prosody on a
	// loaded machine measures a few dozen publishes in all).
	l(r.Notifications > 0 && r.NotificationsPerS > 0, "notifications", r.Notifications, r.NotificationsPerS)
	// GeoHub conflates the notifications of a subscriber that falls
	// behind: those superseded by a newer fix of the same device are not
	// missing.
	slack := 0.2*float64(r.Publishes) + float64(r.DevicesOnline) + float64(r.NotificationsConflated)
	l(math.Abs(float64(r.Notifications)-float64(r.Publishes)) <= slack,
		"notifications against publishes", r.Notifications, r.Publishes)
	l(r.NotifyP50Ms > 0 && r.NotifyP99Ms >= r.NotifyP50Ms && r.NotifyP99Ms < 5000, "notification latency", r.NotifyP50Ms, r.NotifyP99Ms)
	l(r.NotificationsMissing <= int64(r.NotificationsConflated), "notifications missing", r.NotificationsMissing, r.NotificationsConflated)
	l(r.LatestAfterStopMs >= 0 && (r.LatestAfterStopMs < 1000 || r.Server != kindGeoHub),
		"every device's last fix after publishing stopped", r.LatestAfterStopMs, r.DevicesBehind)
	l(r.SessionsCutOff == 0, "sessions cut off", r.SessionsCutOff)
	l(len(r.PublishErrors) == 0 && r.RefusedPublishes == 0, "publish errors", r.PublishErrors, r.RefusedPublishes)
	l(r.CPUSeconds > 0 && r.CPUMicrosPerPublish > 0 && r.CPUTotalSeconds >= r.CPUSeconds, "server CPU", r.CPUSeconds, r.CPUMicrosPerPublish, r.CPUTotalSeconds)
	l(r.LoadCPUSeconds > 0 && r.LoadSharePct > 0, "firmware-sim CPU", r.LoadCPUSeconds, r.LoadSharePct)
	l(r.LoginCPUMicros > 0, "server CPU per login", r.LoginCPUMicros)
	l((r.PublishesPerSync >= 1) == (r.Server == kindGeoHub), "publishes per disk sync", r.PublishesPerSync)
	// A publish allocates a few KiB: its stanza, item, notification, ack.
	l((r.AllocKiBPerPublish > 0.5 && r.AllocKiBPerPublish < 256) == (r.Server == kindGeoHub), "heap allocated per publish", r.AllocKiBPerPublish)
	l(r.IdleDevices == 200 && r.IdleBeforeMiB > 1 && r.IdleAfterMiB > r.IdleBeforeMiB, "idle phase", r.IdleDevices, r.IdleBeforeMiB, r.IdleAfterMiB)
	// A session costs something, and surely less than 1 MiB.
	l(r.RSSPerDeviceKiB > 0 && r.RSSPerDeviceKiB < 1024, "RSS per idle device", r.RSSPerDeviceKiB)
	// IdleAfterMiB is rounded to 0.1 MiB (Prosody: 24.99 peak, 25.0 idle).
	l(r.PeakRSSMiB+0.05 >= r.IdleAfterMiB && r.PeakRSSMiB < 4096, "peak RSS", r.PeakRSSMiB, r.IdleAfterMiB)
}

// The bench starts a hub, drives the three phases against it and reports
// figures that a working hub gives.
func TestBenchQuick(t *testing.T) {
	t.Parallel()
	rep, text := runBenchCmd(t)
	if len(rep.Results) != 1 || rep.Results[0].Server != kindGeoHub || !strings.HasPrefix(rep.Results[0].Version, "GeoHub ") {
		t.Fatalf("results: %+v", rep.Results)
	}
	checkSane(t, rep.Results[0])
	if rep.Load.Logins != 50 || rep.Load.Devices != 50 || rep.Load.Idle != 200 || rep.Machine.CPUs < 1 {
		t.Errorf("load and machine: %+v %+v", rep.Load, rep.Machine)
	}
	for _, want := range []string{"logins/s", "publish → notification p99 ms", "RSS per idle device KiB", "GeoHub "} {
		if !strings.Contains(text, want) {
			t.Errorf("the text report lacks %q", want)
		}
	}
}

// The lean fleet: raw clients publishing pre-built stanzas, paced, give
// the same sane figures.
func TestBenchLeanQuick(t *testing.T) {
	t.Parallel()
	rep, text := runBenchCmd(t, "--lean", "--rate", "200")
	if len(rep.Results) != 1 || !rep.Load.Lean || rep.Load.Rate != 200 {
		t.Fatalf("load %+v, results %+v", rep.Load, rep.Results)
	}
	checkSane(t, rep.Results[0])
	for _, want := range []string{"lean: pre-built stanzas", "firmware-sim share of the machine %", "server CPU µs per login"} {
		if !strings.Contains(text, want) {
			t.Errorf("the text report lacks %q", want)
		}
	}
}

// The same load against Prosody and ejabberd: the three side by side.
func TestBenchCompareQuick(t *testing.T) {
	t.Parallel()
	peers.Require(t, "prosody")
	peers.Require(t, "ejabberd")
	rep, text := runBenchCmd(t, "--compare")
	if len(rep.Results) != 3 {
		t.Fatalf("results: %+v", rep.Results)
	}
	for i, kind := range []string{kindGeoHub, kindProsody, kindEjabberd} {
		if rep.Results[i].Server != kind {
			t.Errorf("result %d is %s, want %s", i, rep.Results[i].Server, kind)
		}
		checkSane(t, rep.Results[i])
	}
	for _, want := range []string{"Prosody 0.12", "ejabberd 23.01", "GeoHub ÷"} {
		if !strings.Contains(text, want) {
			t.Errorf("the text report lacks %q", want)
		}
	}
}

// Flags: --quick sets small numbers unless a flag says otherwise;
// --servers picks the servers and their order; bad values are all
// reported.
func TestParseBench(t *testing.T) {
	c, err := parseBench([]string{"--quick", "--devices", "7"})
	if err != nil || c.devices != 7 || c.logins != 50 || c.idle != 200 || !slices.Equal(c.servers, []string{kindGeoHub}) {
		t.Errorf("--quick --devices 7: %v, devices %d logins %d idle %d servers %v", err, c.devices, c.logins, c.idle, c.servers)
	}
	c, err = parseBench([]string{"--compare"})
	if err != nil || !slices.Equal(c.servers, []string{kindGeoHub, kindProsody, kindEjabberd}) || c.idle != 10000 {
		t.Errorf("--compare: %v, servers %v idle %d", err, c.servers, c.idle)
	}
	c, err = parseBench([]string{"--servers", "prosody, geohub"})
	if err != nil || !slices.Equal(c.servers, []string{kindProsody, kindGeoHub}) {
		t.Errorf("--servers prosody,geohub: %v, %v", err, c.servers)
	}
	_, err = parseBench([]string{"--servers", "openfire", "--devices", "0"})
	if err == nil || !strings.Contains(err.Error(), `unknown server "openfire"`) || !strings.Contains(err.Error(), "--devices 0") {
		t.Errorf("bad flags: %v", err)
	}
}

// --abuse is off by default; --compare-abuse needs it and one server.
func TestParseBenchAbuse(t *testing.T) {
	c, err := parseBench([]string{"--quick"})
	if err != nil || c.abuse != 0 || c.compareAbuse {
		t.Errorf("default: %v, abuse %d compare %v", err, c.abuse, c.compareAbuse)
	}
	c, err = parseBench([]string{"--quick", "--abuse", "100", "--compare-abuse"})
	if err != nil || c.abuse != 100 || !c.compareAbuse || !slices.Equal(c.servers, []string{kindGeoHub}) {
		t.Errorf("--abuse 100 --compare-abuse: %v, abuse %d compare %v servers %v", err, c.abuse, c.compareAbuse, c.servers)
	}
	for _, args := range [][]string{{"--abuse", "-1"}, {"--compare-abuse"}, {"--abuse", "4", "--compare-abuse", "--compare"}} {
		if _, err := parseBench(args); err == nil || !strings.Contains(err.Error(), "abuse") {
			t.Errorf("%v: %v, want an error about abuse", args, err)
		}
	}
}
