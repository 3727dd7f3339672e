package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/geohub/geohub/internal/peers"
	"github.com/geohub/geohub/internal/xmpptest"
)

// On a full disk, publishes are refused with resource-constraint saying
// so, the API answers 507, nothing refused is stored, /metrics counts the
// refusals, and once space returns the hub takes writes again by itself.
// The data folder is on a 4 MiB tmpfs the test mounts.
func TestFullDiskRefusesWritesAndRecovers(t *testing.T) {
	peers.RequireRoot(t, "mounts a small tmpfs to fill")
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() }) // after the hub's own cleanup kills it
	data := filepath.Join(mnt, "data")
	carPassword := strings.Fields(mustGeohub(t, "device", "add", "car-1", "--group", "fleet", "--data", data))[1]
	mustGeohub(t, "device", "add", "boss", "--role", "admin", "--data", data)
	token := strings.TrimSpace(mustGeohub(t, "token", "add", "script", "--account", "boss", "--data", data))
	hub := startServe(t, data, "--fix-rate", "0")
	base := "http://" + hub.HTTP
	cert, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	car := xmpptest.Dial(t, xmpptest.Options{Addr: hub.C2S, TLS: xmpptest.TrustPEM(cert)}, "car-1", carPassword)
	publish := func(i int) *xmpptest.Node {
		return car.IQ(fmt.Sprintf("<iq type='set' id='ID'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/geoloc'><item>"+
			"<geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>%.6f</lat><lon>13.4</lon></geoloc></item></publish></pubsub></iq>", 52+float64(i)*1e-5))
	}
	// A fence of 400 vertices: more than the page a full tmpfs may still
	// have free at the end of the database file.
	var ring []string
	for i := range 400 {
		a := 2 * math.Pi * float64(i) / 400
		ring = append(ring, fmt.Sprintf("[%.6f,%.6f]", 13.4+0.01*math.Cos(a), 52.5+0.01*math.Sin(a)))
	}
	ring = append(ring, ring[0])
	fence := func() (int, string) {
		req, _ := http.NewRequest("POST", base+"/api/fences", strings.NewReader(`{"type":"Feature","properties":{"name":"Depot","groups":["fleet"]},`+
			`"geometry":{"type":"Polygon","coordinates":[[`+strings.Join(ring, ",")+`]]}}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if res := publish(0); res.Attr("type") != "result" {
		t.Fatalf("first publish: %s", res)
	}

	// Fill the disk.
	filler, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := filler.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	filler.Close()
	var refused *xmpptest.Node
	last := 0
	for i := 1; i < 2000 && refused == nil; i++ {
		if res := publish(i); res.Attr("type") == "error" {
			refused = res
		} else {
			last = i
		}
	}
	if refused == nil || refused.ErrorCondition() != "resource-constraint" || !strings.Contains(refused.String(), "disk is full") {
		t.Fatalf("publish on a full disk: %v", refused)
	}
	if code, body := fence(); code != http.StatusInsufficientStorage || !strings.Contains(body, "disk is full") {
		t.Errorf("a fence on a full disk: %d %s", code, body)
	}
	_, positions := api(t, http.DefaultClient, base, token, "GET", "/api/positions")
	if want := fmt.Sprintf(`"coordinates":[13.4,%g]`, 52+float64(last)*1e-5); !strings.Contains(positions, want) {
		t.Errorf("positions on a full disk: %s, want the last stored fix (%s)", positions, want)
	}
	if _, metrics := api(t, http.DefaultClient, base, "", "GET", "/metrics"); strings.Contains(metrics, "geohub_store_writes_refused_total 0") ||
		!strings.Contains(metrics, "geohub_store_writes_refused_total") {
		t.Errorf("/metrics does not count the refused writes")
	}

	// Space returns: the hub takes writes again, without a restart.
	os.Remove(filepath.Join(mnt, "filler"))
	if res := publish(last + 1); res.Attr("type") != "result" {
		t.Errorf("publish once space returned: %s", res)
	}
	if code, body := fence(); code != http.StatusCreated {
		t.Errorf("a fence once space returned: %d %s", code, body)
	}
	if err := hub.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	// What was refused was never half-written: the folder opens.
	if out := mustGeohub(t, "device", "list", "--data", data); !strings.Contains(out, "car-1@localhost") {
		t.Errorf("after the full disk: %s", out)
	}
}
