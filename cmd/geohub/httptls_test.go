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

// serveHTTPTLS starts geohub serve --http-tls and checks that host-meta
// links to the XMPP endpoint scheme://HOST/path. It returns that URL and
// an HTTP client that trusts the hub's certificate.
func serveHTTPTLS(t *testing.T, scheme, path string) (string, *http.Client) {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	hub := startServe(t, data, "--http-tls")
	cert, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: xmpptest.TrustPEM(cert).RootCAs, ServerName: "localhost"}}}
	want := scheme + "://" + hub.HTTP + path
	if code, body := api(t, hc, "https://"+hub.HTTP, "", "GET", "/.well-known/host-meta.json"); code != 200 || !strings.Contains(body, `"href":"`+want+`"`) {
		t.Errorf("host-meta.json: %d %s, want a link to %s", code, body, want)
	}
	return want, hc
}
