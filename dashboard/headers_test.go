package dashboard_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/geohub/geohub/dashboard"
)

// Answers are gzipped for clients that ask, and still decode to the same
// JSON; a client that does not ask gets them plain.
func TestAnswersAreCompressedOnRequest(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	for i := range 40 {
		e.fix("car1", 52.5+float64(i)/1000, 13.4, now.Add(time.Duration(i-40)*time.Second))
	}
	alice := e.login("alice")
	plain := alice.must(200, "GET", "/api/devices/car1/trail", nil)
	if ce := plain.header.Get("Content-Encoding"); ce != "" {
		t.Fatalf("Content-Encoding %q without Accept-Encoding", ce)
	}
	alice.headers = map[string]string{"Accept-Encoding": "gzip"}
	zipped := alice.must(200, "GET", "/api/devices/car1/trail", nil)
	if ce := zipped.header.Get("Content-Encoding"); ce != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", ce)
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped.body))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, plain.body) {
		t.Fatalf("gunzipped answer differs:\n%s\nwant\n%s", body, plain.body)
	}
	if len(zipped.body) >= len(plain.body) {
		t.Errorf("gzipped %d bytes, plain %d", len(zipped.body), len(plain.body))
	}
	var fc map[string]any
	if err := json.Unmarshal(body, &fc); err != nil {
		t.Fatal(err)
	}
}

// Every answer carries a content policy that runs the hub's scripts only
// and lets map tiles come from the configured tile server.
func TestContentSecurityPolicy(t *testing.T) {
	e := newEnv(t) // tiles from https://tiles.example
	for _, path := range []string{"/", "/api/config", "/api/nope"} {
		r := e.anon().do("GET", path, nil)
		csp := r.header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "img-src 'self' data: blob: https://tiles.example;", "frame-ancestors 'none'", "object-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %q", path, csp, want)
			}
		}
	}
	sub := newEnv(t, func(c *dashboard.Config) { c.TileURL = "https://{s}.tile.example.org/{z}/{x}/{y}.png" })
	if csp := sub.anon().do("GET", "/", nil).header.Get("Content-Security-Policy"); !strings.Contains(csp, "https://*.tile.example.org") {
		t.Errorf("tile URL with {s}: Content-Security-Policy %q lacks https://*.tile.example.org", csp)
	}
}

// Bundles named by their content are cached for good; index.html is
// checked each time, so a new build is picked up at once.
func TestHashedBundlesAreImmutable(t *testing.T) {
	ui := fstest.MapFS{
		"index.html":                      {Data: []byte(`<script src="app-AVLAV7OK.js"></script>`)},
		"app-AVLAV7OK.js":                 {Data: []byte("console.log(1)")},
		"assets/marker-icon-2V3QKKVC.png": {Data: []byte("png")},
		"app-AVLAV7OK.js.LEGAL.txt":       {Data: []byte("legal")},
		"robots.txt":                      {Data: []byte("User-agent: *")},
	}
	e := newEnv(t, func(c *dashboard.Config) { c.UI = ui })
	for path, want := range map[string]string{
		"/":                                "no-cache",
		"/fleet":                           "no-cache",
		"/app-AVLAV7OK.js":                 "public, max-age=31536000, immutable",
		"/assets/marker-icon-2V3QKKVC.png": "public, max-age=31536000, immutable",
		"/robots.txt":                      "",
	} {
		r := e.anon().must(200, "GET", path, nil)
		if got := r.header.Get("Cache-Control"); got != want {
			t.Errorf("GET %s: Cache-Control %q, want %q", path, got, want)
		}
	}
}
