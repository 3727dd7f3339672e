package component_test

// firmware-sim drives the sharded set-up: the same fleet (devices
// publishing XEP-0080 fixes back to back, one in flight each, to
// geo.localhost) against one GeoHub instance behind ejabberd, then two
// under bare_source balancing. Small by default; the figures, in one run:
//
//	GEOHUB_FIGURES=1 go test -run TestFirmwareSimShards -v ./internal/component/

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	firmwaresim "github.com/geohub/geohub/firmware-sim"
	"github.com/geohub/geohub/internal/peers"
	"github.com/geohub/geohub/internal/servetest"
)

// cpuOf is the CPU time process pid used so far.
func cpuOf(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ 100
}

func TestFirmwareSimShards(t *testing.T) {
	devices, warmup, measure := 20, 500*time.Millisecond, 2*time.Second
	if os.Getenv("GEOHUB_FIGURES") != "" {
		devices, warmup, measure = 200, 3*time.Second, 10*time.Second
	}
	bin := servetest.Build(t, "../..")
	for _, n := range []int{1, 2} {
		users := map[string]string{}
		var accounts []firmwaresim.Account
		for i := range devices {
			name := fmt.Sprintf("dev-%d", i+1)
			users[name] = "pw-" + name
			accounts = append(accounts, firmwaresim.Account{JID: name + "@localhost", Password: users[name]})
		}
		e := peers.StartEjabberd(t, peers.EjabberdOptions{Users: users, Components: map[string]string{componentDomain: secret},
			Balancing: map[string]string{componentDomain: "bare_source"}, BalancedOver: n})
		secretFile := filepath.Join(t.TempDir(), "secret")
		os.WriteFile(secretFile, []byte(secret), 0o600)
		var pids []int
		for i := range n {
			data := filepath.Join(t.TempDir(), fmt.Sprintf("data%d", i))
			servetest.Run(t, "", bin, "device", "add", "--count", strconv.Itoa(devices), "--prefix", "dev-", "--data", data)
			h := servetest.Start(t, bin, data, "--c2s", "", "--c2s-tls", "", "--fix-rate", "0",
				"--component", componentDomain, "--upstream", e.ComponentAddrs[componentDomain], "--component-secret-file", secretFile)
			waitReady(t, h, true)
			pids = append(pids, h.PID())
		}
		pem, _ := os.ReadFile(e.CertFile)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		hub := firmwaresim.Hub{Addr: e.Addr, TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, Timeout: 30 * time.Second}
		sc := firmwaresim.DefaultScenario(devices, firmwaresim.Box{})
		sc.Groups[0].Interval, sc.Groups[0].Jitter, sc.Groups[0].Telemetry = time.Nanosecond, 0, nil
		stats := firmwaresim.NewStats(devices)
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		go func() {
			ran <- firmwaresim.Run(ctx, sc, firmwaresim.Options{Hub: hub, Accounts: accounts, LoginRate: 100, Stats: stats,
				Target: firmwaresim.Target{Service: componentDomain}})
		}()
		for deadline := time.Now().Add(60 * time.Second); stats.Snapshot().Connected < int64(devices); {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d devices online", stats.Snapshot().Connected, devices)
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(warmup)
		cpu := func() (g, ej time.Duration) {
			for _, p := range pids {
				g += cpuOf(t, p)
			}
			return g, cpuOf(t, e.PID())
		}
		s0 := stats.Snapshot()
		g0, e0 := cpu()
		time.Sleep(measure)
		s1 := stats.Snapshot()
		g1, e1 := cpu()
		cancel()
		<-ran
		acked := s1.Acked - s0.Acked
		sum := stats.Summary()
		t.Logf("FIGURE %d GeoHub instance(s) behind ejabberd, %d devices back to back: %.0f fixes/s acknowledged, ack p50 %.1f ms p99 %.1f ms; "+
			"GeoHub CPU %.0f µs/fix, ejabberd CPU %.0f µs/fix; errors %v",
			n, devices, float64(acked)/measure.Seconds(), float64(s1.AckWindow.P50)/1e6, float64(s1.AckWindow.P99)/1e6,
			float64((g1-g0).Microseconds())/float64(acked), float64((e1-e0).Microseconds())/float64(acked), sum.Errors)
		// A stream that ends (a device that reconnects, on a machine
		// this loaded) is the fleet's business; a publish refused or not
		// answered in time is GeoHub's.
		if acked == 0 || sum.Errors["timeout"] > 0 || sum.RefusedUnexpected > 0 {
			t.Errorf("%d instances: %d fixes acknowledged, errors %v, %d refused", n, acked, sum.Errors, sum.RefusedUnexpected)
		}
	}
}
