package main

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/xmpptest"
)

// api calls the running hub's API with a bearer token.
func api(t *testing.T, c *http.Client, base, token, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestTokenCommandsAndTheAPIOfARunningHub(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	carPassword := strings.Fields(mustGeohub(t, "device", "add", "car-1", "--group", "fleet", "--data", data))[1]
	mustGeohub(t, "device", "add", "op", "--role", "operator", "--group", "fleet", "--data", data)
	// Without a running hub, on the data folder.
	opToken := strings.TrimSpace(mustGeohub(t, "token", "add", "script", "--account", "op", "--data", data))
	if !strings.HasPrefix(opToken, "gh_") {
		t.Fatalf("token add printed %q", opToken)
	}
	if out, err := geohub(t, nil, "token", "add", "x", "--account", "car-1", "--data", data); err == nil || !strings.Contains(out, "device account") {
		t.Errorf("a token for a device: %v %q", err, out)
	}
	if out, err := geohub(t, nil, "token", "add", "x", "--data", data); err == nil || !strings.Contains(out, "--account") {
		t.Errorf("a token without account: %v %q", err, out)
	}

	hub := startServe(t, data, "--map-tiles", "https://tile.example/{z}/{x}/{y}.png", "--map-attribution", "© Example")
	base := "http://" + hub.HTTP
	// Through the hub's admin socket.
	var made struct{ ID, Token, Account string }
	if err := json.Unmarshal([]byte(mustGeohub(t, "token", "add", "other", "--account", "op", "--format", "json", "--data", data)), &made); err != nil || made.Account != "op" {
		t.Fatalf("token add --format json: %+v %v", made, err)
	}
	list := mustGeohub(t, "token", "list", "--data", data)
	if !strings.Contains(list, made.ID) || !strings.Contains(list, "script") || strings.Contains(list, made.Token) {
		t.Errorf("token list: %q", list)
	}

	if code, body := api(t, http.DefaultClient, base, "", "GET", "/api/config"); code != 200 ||
		!strings.Contains(body, `"tile_url":"https://tile.example/{z}/{x}/{y}.png"`) || !strings.Contains(body, "© Example") {
		t.Errorf("config: %d %s", code, body)
	}
	if code, body := api(t, http.DefaultClient, base, opToken, "GET", "/api/me"); code != 200 || !strings.Contains(body, `"name":"op"`) {
		t.Errorf("me with the token: %d %s", code, body)
	}
	// A fix published over XMPP shows on the API and in /metrics.
	cert, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	car := xmpptest.Dial(t, xmpptest.Options{Addr: hub.C2S, TLS: xmpptest.TrustPEM(cert)}, "car-1", carPassword)
	res := car.IQ("<iq type='set' id='ID'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/geoloc'><item>" +
		"<geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>52.5163</lat><lon>13.3777</lon><speed>8.5</speed></geoloc></item></publish></pubsub></iq>")
	if res.Attr("type") != "result" {
		t.Fatalf("publish: %s", res)
	}
	if code, body := api(t, http.DefaultClient, base, opToken, "GET", "/api/positions"); code != 200 ||
		!strings.Contains(body, `"id":"car-1@localhost"`) || !strings.Contains(body, `"speed":8.5`) || !strings.Contains(body, `"online":true`) {
		t.Errorf("positions: %d %s", code, body)
	}
	_, metrics := api(t, http.DefaultClient, base, "", "GET", "/metrics")
	for _, want := range []string{"geohub_sessions_connected 1", "geohub_fixes_ingested_total 1", "geohub_ingest_batch_seconds_count", "geohub_stanzas_in_total"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, body := api(t, http.DefaultClient, base, "", "GET", "/"); code != 200 || !strings.Contains(body, "<html") {
		t.Errorf("the UI: %d %.200s", code, body)
	}

	mustGeohub(t, "token", "revoke", strings.Split(opToken, "_")[1], "--data", data)
	if code, _ := api(t, http.DefaultClient, base, opToken, "GET", "/api/me"); code != 401 {
		t.Errorf("a revoked token answers %d", code)
	}
	if out, err := geohub(t, nil, "token", "revoke", "tnope", "--data", data); err == nil || !strings.Contains(out, "no such token") {
		t.Errorf("revoking an unknown token: %v %q", err, out)
	}
}

func TestServeDashboardFlags(t *testing.T) {
	out, err := geohub(t, []string{"GEOHUB_HTTP_COOKIE_SECURE=sometimes"}, "serve", "--check-config",
		"--map-tiles", "ftp://x/{z}", "--http", "", "--http-tls", "--map-attribution", "x")
	if err == nil {
		t.Fatal("bad dashboard flags accepted")
	}
	for _, want := range []string{"--http-cookie-secure", "--map-tiles", "--http-tls needs --http"} {
		if !strings.Contains(out, want) {
			t.Errorf("error does not name %s: %q", want, out)
		}
	}
	if out, err := geohub(t, nil, "serve", "--check-config", "--map-tiles", "off", "--map-attribution", "x"); err == nil || !strings.Contains(out, "--map-attribution needs --map-tiles") {
		t.Errorf("attribution without tiles: %v %q", err, out)
	}
	help := mustGeohub(t, "serve", "--help")
	for _, want := range []string{"GEOHUB_MAP_TILES", "GEOHUB_MAP_ATTRIBUTION", "GEOHUB_HTTP_TLS", "GEOHUB_HTTP_COOKIE_SECURE"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %s", want)
		}
	}
	if !strings.Contains(mustGeohub(t, "help"), "geohub token add") {
		t.Error("usage lacks the token command")
	}

	// --http-tls: the dashboard speaks HTTPS with the hub's certificate.
	data := filepath.Join(t.TempDir(), "data")
	hub := startServe(t, data, "--http-tls")
	cert, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: xmpptest.TrustPEM(cert).RootCAs, ServerName: "localhost"}}}
	if code, body := api(t, c, "https://"+hub.HTTP, "", "GET", "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz over HTTPS: %d %q", code, body)
	}
}

// The map has streets by default: OpenStreetMap's tiles with their
// attribution, admitted by the content policy; --map-tiles off keeps the
// dashboard to the hub alone.
func TestMapTilesDefaultToOpenStreetMap(t *testing.T) {
	for _, c := range []struct {
		name       string
		args       []string
		tiles, img string
	}{
		{"default", []string{"--map-tiles", defaultMapTiles}, `"tile_url":"https://tile.openstreetmap.org/{z}/{x}/{y}.png","tile_attribution":"© OpenStreetMap contributors"`,
			"img-src 'self' data: blob: https://tile.openstreetmap.org;"},
		{"off", []string{"--map-tiles", "off"}, `"tile_url":"","tile_attribution":""`, "img-src 'self' data: blob:;"},
	} {
		t.Run(c.name, func(t *testing.T) {
			hub := startServe(t, filepath.Join(t.TempDir(), "data"), c.args...)
			res, err := http.Get("http://" + hub.HTTP + "/api/config")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if !strings.Contains(string(body), c.tiles) {
				t.Errorf("/api/config: %s, want %s", body, c.tiles)
			}
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, c.img) {
				t.Errorf("CSP %q lacks %q", csp, c.img)
			}
		})
	}
}
