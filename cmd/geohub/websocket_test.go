package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// geohub serve --http-tls serves XMPP over WebSocket at
// wss://HOST/xmpp-websocket, announced by host-meta; over wss:// the
// stream is secure, so PLAIN is offered beside SCRAM, and STARTTLS is not.
func TestServeXMPPWebSocket(t *testing.T) {
	want, hc := serveHTTPTLS(t, "wss", "/xmpp-websocket")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, want, &websocket.DialOptions{Subprotocols: []string{"xmpp"}, HTTPClient: hc})
	if err != nil {
		t.Fatalf("dial %s: %v", want, err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 2 {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("after <open/>: %v (got %q)", err, got)
		}
		got = append(got, string(b))
	}
	if !strings.HasPrefix(got[0], "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'") {
		t.Errorf("first message %q, want <open/>", got[0])
	}
	if f := got[1]; !strings.HasPrefix(f, "<stream:features") || !strings.Contains(f, "<mechanism>PLAIN</mechanism>") ||
		!strings.Contains(f, "SCRAM-SHA-256") || strings.Contains(f, "starttls") {
		t.Errorf("features over wss:// %q, want SCRAM and PLAIN, no STARTTLS", f)
	}
}
