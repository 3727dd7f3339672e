package dashboard_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/geohub/geohub/dashboard"
)

// boshEcho stands in for the hub's BOSH handler: it answers a POST with
// what it got, long enough for the gzip middleware to consider it.
var boshEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write([]byte(r.Method + " " + strings.Repeat(string(b), 64)))
})

// With BOSH mounted, host-meta names both endpoints (XEP-0156), and the
// requests reach the handler, uncompressed (BREACH) and without the UI's
// fallback taking the POST.
func TestXMPPBOSHMounted(t *testing.T) {
	e := newEnv(t, withXMPPWebSocket, func(c *dashboard.Config) { c.XMPPBOSH = boshEcho })
	host := strings.TrimPrefix(e.ts.URL, "http://")
	c := e.anon()
	r := c.must(http.StatusOK, "GET", "/.well-known/host-meta.json", nil)
	var doc struct {
		Links []struct{ Rel, Href string }
	}
	r.json(t, &doc)
	if len(doc.Links) != 2 || doc.Links[0].Rel != "urn:xmpp:alt-connections:websocket" || doc.Links[0].Href != "ws://"+host+"/xmpp-websocket" ||
		doc.Links[1].Rel != "urn:xmpp:alt-connections:xbosh" || doc.Links[1].Href != "http://"+host+"/http-bind" {
		t.Errorf("host-meta.json %s, want the WebSocket and the BOSH links", r.body)
	}
	r = c.must(http.StatusOK, "GET", "/.well-known/host-meta", nil)
	if !strings.Contains(string(r.body), `rel="urn:xmpp:alt-connections:xbosh" href="http://`+host+`/http-bind"`) {
		t.Errorf("host-meta %s, want the BOSH link", r.body)
	}

	req, _ := http.NewRequest("POST", e.ts.URL+"/http-bind", strings.NewReader("<body/>"))
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "" || !strings.HasPrefix(string(b), "POST <body/>") {
		t.Errorf("POST /http-bind: %d %v %.40q, want the handler's answer, not gzipped", res.StatusCode, res.Header, b)
	}
	req, _ = http.NewRequest("OPTIONS", e.ts.URL+"/http-bind", nil)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.HasPrefix(string(b), "OPTIONS") {
		t.Errorf("OPTIONS /http-bind did not reach the handler: %d %q", res.StatusCode, b)
	}
	if r := c.do("GET", "/http-bind", nil); !strings.HasPrefix(string(r.body), "GET") {
		t.Errorf("GET /http-bind did not reach the handler (the UI took it?): %s", r)
	}
}
