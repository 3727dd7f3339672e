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

// Tile templates with a {s} subdomain are accepted, and the policy admits
// every subdomain; templates that are not http(s) URLs are refused.
func TestTileTemplates(t *testing.T) {
	for _, tc := range []struct{ url, err string }{
		{"https://tile.openstreetmap.org/{z}/{x}/{y}.png", ""},
		{"https://{s}.tile.example.org/{z}/{x}/{y}{r}.png", ""},
		{"HTTPS://tiles.example/{z}/{x}/{y}.png", ""},
		{"ftp://tiles.example/{z}/{x}/{y}.png", "http or https"},
		{"https://tiles.example/{z}/{x}.png", "no {y}"},
		{"https://{s}/{z}/{x}/{y}.png", "subdomain"},
	} {
		err := dashboard.CheckTileURL(tc.url)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("CheckTileURL(%q) = %v, want %q", tc.url, err, tc.err)
		}
	}
}

// A range of a bundle comes as asked, not gzipped.
func TestRangesAreNotCompressed(t *testing.T) {
	ui := fstest.MapFS{"index.html": {Data: []byte("<p>ui</p>")}, "app-AVLAV7OK.js": {Data: []byte(strings.Repeat("console.log(1);", 200))}}
	e := newEnv(t, func(c *dashboard.Config) { c.UI = ui })
	c := e.anon()
	c.headers = map[string]string{"Accept-Encoding": "gzip", "Range": "bytes=0-9"}
	r := c.must(206, "GET", "/app-AVLAV7OK.js", nil)
	if ce := r.header.Get("Content-Encoding"); ce != "" || string(r.body) != "console.lo" {
		t.Errorf("range: Content-Encoding %q, body %q", ce, r.body)
	}
}
