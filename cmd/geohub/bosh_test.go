package main

import (
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geohub/geohub/internal/xmpptest"
)

// geohub serve --http-tls serves XMPP over BOSH at https://HOST/http-bind,
// announced by host-meta; over https:// the stream is secure, so PLAIN is
// offered beside SCRAM, and STARTTLS is not.
func TestServeXMPPBOSH(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	hub := startServe(t, data, "--http-tls")
	cert, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: xmpptest.TrustPEM(cert).RootCAs, ServerName: "localhost"}}}
	want := "https://" + hub.HTTP + "/http-bind"
	if code, body := api(t, hc, "https://"+hub.HTTP, "", "GET", "/.well-known/host-meta.json"); code != 200 || !strings.Contains(body, `"href":"`+want+`"`) {
		t.Errorf("host-meta.json: %d %s, want a link to %s", code, body, want)
	}
	res, err := hc.Post(want, "text/xml; charset=utf-8", strings.NewReader(
		"<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' rid='1' to='localhost' wait='10' hold='1' xmpp:version='1.0'/>"))
	if err != nil {
		t.Fatal(err)
	}
	f := readAll(t, res)
	if res.StatusCode != 200 || !strings.Contains(f, "sid=") || !strings.Contains(f, "<stream:features") ||
		!strings.Contains(f, "<mechanism>PLAIN</mechanism>") || !strings.Contains(f, "SCRAM-SHA-256") || strings.Contains(f, "starttls") {
		t.Errorf("session creation over https:// %d %q, want a sid and features with SCRAM and PLAIN, no STARTTLS", res.StatusCode, f)
	}
}
