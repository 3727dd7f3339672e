package main

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/geohub/geohub/internal/xmpptest"
)

// A backup made while the hub serves (a device publishing all along) holds
// everything acknowledged before it; restored into a new folder, a hub
// starts on it with the same accounts, positions and certificate. restore
// refuses a folder in use, one that holds a database (without --force), and
// a file that is not a backup.
func TestBackupWhileServingAndRestore(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	carPassword := strings.Fields(mustGeohub(t, "device", "add", "car-1", "--group", "fleet", "--data", data))[1]
	hub := startServe(t, data, "--fix-rate", "0")
	cert, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	car := xmpptest.Dial(t, xmpptest.Options{Addr: hub.C2S, TLS: xmpptest.TrustPEM(cert)}, "car-1", carPassword)
	publish := func(i int) string {
		return car.IQ(fmt.Sprintf("<iq type='set' id='ID'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/geoloc'><item>"+
			"<geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>%.5f</lat><lon>13.4</lon></geoloc></item></publish></pubsub></iq>", 52+float64(i)*1e-4)).Attr("type")
	}
	if publish(1) != "result" {
		t.Fatal("first publish refused")
	}
	// The device goes on publishing while the backup is made.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	published := 1
	wg.Go(func() {
		for i := 2; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if publish(i) != "result" {
				t.Errorf("publish %d during the backup refused", i)
				return
			}
			published = i
		}
	})
	file := filepath.Join(t.TempDir(), "geohub-backup.tar.gz")
	out := mustGeohub(t, "backup", file, "--data", data)
	close(stop)
	wg.Wait()
	if !strings.Contains(out, file) {
		t.Errorf("backup: %s", out)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(data, "*.part")); len(leftovers) > 0 {
		t.Errorf("the backup left %v in the data folder", leftovers)
	}
	if err := hub.Stop(); err != nil {
		t.Fatal(err)
	}

	target := filepath.Join(t.TempDir(), "restored")
	mustGeohub(t, "restore", file, "--data", target)
	mustGeohub(t, "device", "add", "boss", "--role", "admin", "--data", target)
	token := strings.TrimSpace(mustGeohub(t, "token", "add", "t", "--account", "boss", "--data", target))
	restored := startServe(t, target)
	if _, err := xmpptest.DialErr(t, xmpptest.Options{Addr: restored.C2S, TLS: xmpptest.TrustPEM(cert)}, "car-1", carPassword); err != nil {
		t.Errorf("log in on the restored hub, trusting the old certificate: %v", err)
	}
	code, positions := api(t, http.DefaultClient, "http://"+restored.HTTP, token, "GET", "/api/positions")
	if code != 200 || !strings.Contains(positions, `"car-1@localhost"`) {
		t.Errorf("positions on the restored hub: %d %s", code, positions)
	}
	t.Logf("%d fixes published while the backup was made", published-1)

	// Refusals.
	if out, err := geohub(t, nil, "restore", file, "--data", target); err == nil || !strings.Contains(out, "in use") {
		t.Errorf("restore into a folder in use: %v %s", err, out)
	}
	restored.Stop()
	if out, err := geohub(t, nil, "restore", file, "--data", target); err == nil || !strings.Contains(out, "--force") {
		t.Errorf("restore over a database: %v %s", err, out)
	}
	if out := mustGeohub(t, "restore", file, "--data", target, "--force"); !strings.Contains(out, "restored") {
		t.Errorf("restore --force: %s", out)
	}
	if kept, _ := filepath.Glob(filepath.Join(target, "geohub.db.before-restore-*")); len(kept) != 1 {
		t.Errorf("the replaced database was not kept: %v", kept)
	}
	evil := filepath.Join(t.TempDir(), "evil.tar.gz")
	f, _ := os.Create(evil)
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "../../etc/evil", Mode: 0o600, Size: 1})
	tw.Write([]byte("x"))
	tw.Close()
	gz.Close()
	f.Close()
	fresh := filepath.Join(t.TempDir(), "fresh")
	if out, err := geohub(t, nil, "restore", evil, "--data", fresh); err == nil || !strings.Contains(out, "not a geohub backup") {
		t.Errorf("restore of a tar with another path: %v %s", err, out)
	}
}
