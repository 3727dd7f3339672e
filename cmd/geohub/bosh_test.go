package main

import (
	"strings"
	"testing"
)

// geohub serve --http-tls serves XMPP over BOSH at https://HOST/http-bind,
// announced by host-meta; over https:// the stream is secure, so PLAIN is
// offered beside SCRAM, and STARTTLS is not.
func TestServeXMPPBOSH(t *testing.T) {
	want, hc := serveHTTPTLS(t, "https", "/http-bind")
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
