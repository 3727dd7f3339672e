package main

import (
	"bufio"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/geohub/geohub/internal/peers"
)

// The README's nginx configuration in front of geohub serve
// --http-trusted-proxies: host-meta names the proxy's URL (and the
// client's own X-Forwarded-Proto does not count), a login works, the live
// stream's events come through unbuffered, and XMPP over WebSocket and
// BOSH pass.
func TestBehindNginx(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	pw := strings.Fields(mustGeohub(t, "device", "add", "alice", "--role", "operator", "--group", "demo", "--data", data))[1]
	hub := startServe(t, data, "--http-trusted-proxies", "127.0.0.1", "--demo", "1")
	proxy := peers.StartNginx(t, hub.HTTP)
	base := "http://" + proxy.Addr
	hc := &http.Client{Timeout: 10 * time.Second}

	req, _ := http.NewRequest("GET", base+"/.well-known/host-meta.json", nil)
	req.Header.Set("X-Forwarded-Proto", "https") // the client's: nginx replaces it
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	if want := `"href":"ws://` + proxy.Addr + `/xmpp-websocket"`; !strings.Contains(body, want) {
		t.Errorf("host-meta.json through nginx: %s, want %s", body, want)
	}

	res, err = hc.Post(base+"/api/login", "application/json", strings.NewReader(`{"username":"alice","password":"`+pw+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, res); res.StatusCode != 200 {
		t.Fatalf("login through nginx: %d %s", res.StatusCode, body)
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "geohub_session" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("no session cookie through nginx")
	}

	// The demo vehicle reports every second or so: its position must come
	// through at once, not when nginx's buffer is full.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, "GET", base+"/api/stream", nil)
	req.AddCookie(cookie)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	events := bufio.NewScanner(stream.Body)
	found := false
	for !found && events.Scan() {
		found = events.Text() == "event: positions"
	}
	if !found {
		t.Fatalf("no positions event through nginx: %v", events.Err())
	}

	ws, _, err := websocket.Dial(ctx, "ws://"+proxy.Addr+"/xmpp-websocket", &websocket.DialOptions{Subprotocols: []string{"xmpp"}})
	if err != nil {
		t.Fatalf("WebSocket through nginx: %v", err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 2 {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("after <open/> through nginx: %v (got %q)", err, got)
		}
		got = append(got, string(b))
	}
	if !strings.HasPrefix(got[0], "<open ") || !strings.Contains(got[1], "SCRAM-SHA-256") {
		t.Errorf("through nginx: %q, want <open/> and the SCRAM features", got)
	}

	// BOSH: announced at the proxy's URL; the client's leg (plain HTTP
	// from loopback) counts, so SCRAM is offered and PLAIN is not.
	if want := `"href":"http://` + proxy.Addr + `/http-bind"`; !strings.Contains(body, want) {
		t.Errorf("host-meta.json through nginx: %s, want %s", body, want)
	}
	res, err = hc.Post(base+"/http-bind", "text/xml; charset=utf-8", strings.NewReader(
		"<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' rid='1' to='localhost' wait='10' hold='1' xmpp:version='1.0'/>"))
	if err != nil {
		t.Fatal(err)
	}
	if f := readAll(t, res); res.StatusCode != 200 || !strings.Contains(f, "sid=") || !strings.Contains(f, "SCRAM-SHA-256") || strings.Contains(f, "PLAIN") {
		t.Errorf("BOSH session creation through nginx: %d %q, want a sid and SCRAM features without PLAIN", res.StatusCode, f)
	}
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	var b strings.Builder
	if _, err := bufio.NewReader(res.Body).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
