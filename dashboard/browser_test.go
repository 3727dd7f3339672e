package dashboard_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/peers"
	"github.com/geohub/geohub/internal/servetest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// The probe device starts outside the fence the browser draws and is
// moved into it once the fence is saved; the demo vehicles drive around
// Berlin Mitte, well away from both points.
const (
	probeLat, probeLon   = 52.4000, 13.0600
	targetLat, targetLon = 52.4000, 13.0650 // 340 m east of the probe
	fenceRadius          = 150              // metres
)

// TestDashboardInBrowser runs the web UI in Debian's Chromium, driven by
// playwright-core (dashboard/web/e2e/dashboard.mjs), against a real
// `geohub serve --demo 1 --mqtt <a Mosquitto>`: an operator logs in, sees
// the MQTT bridge connected in the header, sees the demo vehicle move,
// draws a circle fence with its rule, and sees the enter alert of a device
// this test moves into it, and a fence added meanwhile with the CLI
// appears without a reload. The screenshot lands in the test's artifact
// folder (go test -artifacts keeps it; the log names it).
func TestDashboardInBrowser(t *testing.T) {
	web, bin, data := browserSetup(t)
	alicePassword := servetest.AddAccount(t, bin, data, "alice", "--role", "operator", "--group", "demo")
	probePassword := servetest.AddAccount(t, bin, data, "probe", "--group", "demo")
	broker := peers.StartMosquitto(t) // the header shows the MQTT bridge's state
	hub := servetest.Start(t, bin, data, "--c2s-tls", "", "--demo", "1", "--mqtt", broker.URL)

	cert, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	probe := xmpptest.Dial(t, xmpptest.Options{Addr: hub.C2S, TLS: xmpptest.TrustPEM(cert)}, "probe", probePassword)
	publish := func(lat, lon float64) { publishFix(t, probe, lat, lon) }
	publish(probeLat, probeLon)

	screenshot := filepath.Join(t.ArtifactDir(), "dashboard.png")
	browser := peers.StartBrowserScript(t, filepath.Join(web, "e2e"), "dashboard.mjs",
		"GEOHUB_URL=http://"+hub.HTTP,
		"GEOHUB_USER=alice", "GEOHUB_PASSWORD="+alicePassword,
		"DEMO_DEVICE=demo-1", "PROBE_DEVICE=probe",
		fmt.Sprintf("TARGET_LAT=%f", targetLat), fmt.Sprintf("TARGET_LON=%f", targetLon),
		fmt.Sprintf("FENCE_RADIUS=%d", fenceRadius),
		"SCREENSHOT="+screenshot, "PROFILE_DIR="+t.TempDir())
	// After the fence is saved, the probe drives in.
	browser.Run(func(step string, _ []byte) {
		if step == "fence-saved" {
			publish(targetLat, targetLon)
			// Another actor adds a fence: the open map shows it at once.
			cli := filepath.Join(t.TempDir(), "cli.geojson")
			os.WriteFile(cli, []byte(fmt.Sprintf(`{"type":"Feature","properties":{"name":"CLI zone","groups":["demo"],"radius":80},`+
				`"geometry":{"type":"Point","coordinates":[%f,%f]}}`, probeLon, probeLat)), 0o600)
			servetest.Run(t, "", bin, "fence", "add", cli, "--data", data)
		}
	})
	if _, err := os.Stat(screenshot); err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	t.Logf("screenshot: %s", screenshot)
}

// publishFix publishes a geoloc fix for c's account and fails the test
// unless the hub takes it.
func publishFix(t *testing.T, c *xmpptest.Client, lat, lon float64) {
	t.Helper()
	res := c.IQ(fmt.Sprintf("<iq type='set' id='ID'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/geoloc'><item>"+
		"<geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>%f</lat><lon>%f</lon><accuracy>5</accuracy><speed>4</speed><bearing>90</bearing>"+
		"<timestamp>%s</timestamp></geoloc></item></publish></pubsub></iq>", lat, lon, time.Now().UTC().Format(time.RFC3339Nano)))
	if res.Attr("type") != "result" {
		t.Fatalf("publish: %s", res)
	}
}

// browserSetup requires Chromium, builds the web UI and the hub, and
// returns the UI's folder, the hub binary and a fresh data folder.
func browserSetup(t *testing.T) (web, bin, data string) {
	t.Helper()
	peers.Require(t, "chromium")
	root := peers.Root(t)
	web = filepath.Join(root, "dashboard", "web")
	buildUI(t, web)
	return web, servetest.Build(t, root), filepath.Join(t.TempDir(), "data")
}

// buildUI builds the web UI unless dist/index.html exists (make ui keeps
// it current), installing its packages first when node_modules is missing.
func buildUI(t *testing.T, web string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(web, "dist", "index.html")); err == nil {
		return
	}
	if _, err := os.Stat(filepath.Join(web, "node_modules", ".package-lock.json")); err != nil {
		servetest.Run(t, web, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	}
	servetest.Run(t, web, "npm", "run", "build")
}

// TestAdminInBrowser drives the Admin tab (dashboard/web/e2e/admin.mjs)
// against a real `geohub serve --demo 1`: an admin adds the device account
// truck-9 and reads its password, shown once; this test logs truck-9 in
// over XMPP with it and publishes a fix, which the admin sees on the map.
// The admin makes a new password (the old one stops working, the new one
// works), creates an API token, which this test uses (200), and revokes
// it (401); an operator who logs in has no Admin tab.
func TestAdminInBrowser(t *testing.T) {
	web, bin, data := browserSetup(t)
	rootPassword := servetest.AddAccount(t, bin, data, "root", "--role", "admin", "--group", "ops")
	alicePassword := servetest.AddAccount(t, bin, data, "alice", "--role", "operator", "--group", "demo")
	hub := servetest.Start(t, bin, data, "--c2s-tls", "", "--demo", "1")
	cert, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	xmpp := xmpptest.Options{Addr: hub.C2S, TLS: xmpptest.TrustPEM(cert)}
	const device, lat, lon = "truck-9", 52.4100, 13.0700

	// get calls the API with a bearer token and returns the status.
	get := func(path, token string) int {
		t.Helper()
		req, err := http.NewRequest("GET", "http://"+hub.HTTP+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}

	screenshot := filepath.Join(t.ArtifactDir(), "admin.png")
	browser := peers.StartBrowserScript(t, filepath.Join(web, "e2e"), "admin.mjs",
		"GEOHUB_URL=http://"+hub.HTTP,
		"ADMIN_USER=root", "ADMIN_PASSWORD="+rootPassword,
		"OPERATOR_USER=alice", "OPERATOR_PASSWORD="+alicePassword,
		"NEW_DEVICE="+device, fmt.Sprintf("DEVICE_LAT=%f", lat), fmt.Sprintf("DEVICE_LON=%f", lon),
		"SCREENSHOT="+screenshot, "PROFILE_DIR="+t.TempDir())
	var password, token string
	browser.Run(func(step string, line []byte) {
		var s struct{ Password, Token string }
		json.Unmarshal(line, &s)
		switch step {
		case "account-added": // the password the page showed logs in
			password = s.Password
			publishFix(t, xmpptest.Dial(t, xmpp, device, password), lat, lon)
		case "password-reset": // the old password no longer does, the new one does
			if c, err := xmpptest.DialErr(t, xmpp, device, password); err == nil {
				c.Close()
				t.Errorf("the old password of %s still logs in", device)
			}
			xmpptest.Dial(t, xmpp, device, s.Password).Close()
			browser.Answer("password-checked")
		case "token-created":
			token = s.Token
			if code := get("/api/positions", token); code != http.StatusOK {
				t.Errorf("GET /api/positions with the new token: %d", code)
			}
			browser.Answer("token-checked")
		case "token-revoked":
			if code := get("/api/positions", token); code != http.StatusUnauthorized {
				t.Errorf("GET /api/positions with the revoked token: %d, want 401", code)
			}
		}
	})
	t.Logf("screenshot: %s", screenshot)
}
