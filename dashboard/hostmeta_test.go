package dashboard_test

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/geohub/geohub/dashboard"
)

// xmppEcho stands in for the hub's WebSocket handler: it accepts
// subprotocol xmpp and echoes one message.
var xmppEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"xmpp"}, InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err == nil {
		c.Write(ctx, typ, b)
		c.Close(websocket.StatusNormalClosure, "")
	}
})

func withXMPPWebSocket(c *dashboard.Config) { c.XMPPWebSocket = xmppEcho }

// XEP-0156: host-meta and host-meta.json name the WebSocket endpoint as
// the client reached the server, readable from any origin. X-Forwarded-Proto
// counts only from a trusted proxy.
func TestHostMeta(t *testing.T) {
	direct := newEnv(t, withXMPPWebSocket)
	proxied := newEnv(t, withXMPPWebSocket, func(c *dashboard.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	for _, tc := range []struct {
		e               *env
		forwarded, want string
	}{
		{direct, "", "ws://"},
		{direct, "https", "ws://"}, // anyone's header
		{proxied, "", "ws://"},
		{proxied, "https", "wss://"}, // behind a TLS proxy
	} {
		tc.want += strings.TrimPrefix(tc.e.ts.URL, "http://") + "/xmpp-websocket"
		c := tc.e.anon()
		c.headers = map[string]string{"X-Forwarded-Proto": tc.forwarded}
		r := c.must(http.StatusOK, "GET", "/.well-known/host-meta", nil)
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/xrd+xml") {
			t.Errorf("host-meta Content-Type %q, want application/xrd+xml", ct)
		}
		if o := r.header.Get("Access-Control-Allow-Origin"); o != "*" {
			t.Errorf("host-meta Access-Control-Allow-Origin %q, want *", o)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("host-meta Cache-Control %q, want no-cache", cc)
		}
		var xrd struct {
			XMLName xml.Name
			Links   []struct {
				Rel  string `xml:"rel,attr"`
				Href string `xml:"href,attr"`
			} `xml:"http://docs.oasis-open.org/ns/xri/xrd-1.0 Link"`
		}
		if err := xml.Unmarshal(r.body, &xrd); err != nil {
			t.Fatalf("host-meta %s: %v", r.body, err)
		}
		if xrd.XMLName.Space != "http://docs.oasis-open.org/ns/xri/xrd-1.0" || xrd.XMLName.Local != "XRD" ||
			len(xrd.Links) != 1 || xrd.Links[0].Rel != "urn:xmpp:alt-connections:websocket" || xrd.Links[0].Href != tc.want {
			t.Errorf("host-meta:\n%s\nwant one XRD Link rel urn:xmpp:alt-connections:websocket href %s", r.body, tc.want)
		}

		r = c.must(http.StatusOK, "GET", "/.well-known/host-meta.json", nil)
		var doc struct {
			Links []struct{ Rel, Href string }
		}
		r.json(t, &doc)
		if len(doc.Links) != 1 || doc.Links[0].Rel != "urn:xmpp:alt-connections:websocket" || doc.Links[0].Href != tc.want {
			t.Errorf("host-meta.json %s, want one link to %s", r.body, tc.want)
		}
		if o := r.header.Get("Access-Control-Allow-Origin"); o != "*" {
			t.Errorf("host-meta.json Access-Control-Allow-Origin %q, want *", o)
		}
	}
}

// host-meta never echoes the client's Host header: it names the endpoints
// under --http-public-url when set, else at the address the connection
// reached; only a trusted proxy's Host counts (TestBehindNginx).
func TestHostMetaDoesNotEchoHost(t *testing.T) {
	withBOSH := func(c *dashboard.Config) { c.XMPPBOSH = xmppEcho }
	direct := newEnv(t, withXMPPWebSocket, withBOSH)
	public := newEnv(t, withXMPPWebSocket, withBOSH, func(c *dashboard.Config) { c.PublicURL = "https://hub.example.org/geo/" })
	proxied := newEnv(t, withXMPPWebSocket, withBOSH, func(c *dashboard.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	listener := strings.TrimPrefix(direct.ts.URL, "http://")
	for _, tc := range []struct {
		e        *env
		ws, bosh string
	}{
		{direct, "ws://" + listener + "/xmpp-websocket", "http://" + listener + "/http-bind"},
		{public, "wss://hub.example.org/geo/xmpp-websocket", "https://hub.example.org/geo/http-bind"},
		{proxied, "ws://evil.example/xmpp-websocket", "http://evil.example/http-bind"}, // the proxy's Host is trusted
	} {
		c := &client{e: tc.e, host: "evil.example"}
		var doc struct {
			Links []struct{ Rel, Href string }
		}
		c.must(http.StatusOK, "GET", "/.well-known/host-meta.json", nil).json(t, &doc)
		if len(doc.Links) != 2 || doc.Links[0].Href != tc.ws || doc.Links[1].Href != tc.bosh {
			t.Errorf("host-meta.json for Host evil.example: %+v, want %s and %s", doc.Links, tc.ws, tc.bosh)
		}
	}
	for _, bad := range []string{"ftp://hub.example.org", "https://", "hub.example.org", "https://u:p@hub.example.org", "https://hub.example.org/?x=1"} {
		if _, err := dashboard.ParsePublicURL(bad); err == nil {
			t.Errorf("public URL %q accepted", bad)
		}
	}
}

// The upgrade goes through the dashboard's middleware (gzip, security
// headers) untouched, even for a client that accepts gzip.
func TestXMPPWebSocketMounted(t *testing.T) {
	e := newEnv(t, withXMPPWebSocket)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.ts.URL, "http")+"/xmpp-websocket", &websocket.DialOptions{
		Subprotocols: []string{"xmpp"},
		HTTPHeader:   http.Header{"Accept-Encoding": {"gzip"}},
	})
	if err != nil {
		t.Fatalf("WebSocket through the dashboard: %v", err)
	}
	defer c.CloseNow()
	msg := "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>"
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := c.Read(ctx); err != nil || string(b) != msg {
		t.Fatalf("echo %q, %v", b, err)
	}
}
