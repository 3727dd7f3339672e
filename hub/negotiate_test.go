package hub_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/geohub/geohub/devices"
	"github.com/geohub/geohub/hub/hubtest"
	"github.com/geohub/geohub/internal/xmpptest"
)

// Raw probes of how real clients write their negotiation, each of which
// once ended the stream.

const (
	startTLS = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
	headerNL = "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>\n"
)

// go-xmpp (go-sendxmpp) writes a newline after its stream header, after
// <starttls/> and after </auth>; RFC 6120 §11.7 allows whitespace between
// top-level elements. Whitespace keepalives during negotiation are the same.
func TestWhitespaceBetweenElementsDuringNegotiation(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "car", devices.RoleDevice)
	for _, tc := range []struct {
		name string
		// lateNewline: the newline after <starttls/> arrives after
		// <proceed/>, just before the TLS handshake.
		lateNewline bool
	}{{"newline in the same write", false}, {"newline after proceed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := xmpptest.DialRaw(t, h.Addr)
			r.Send(headerNL)
			r.ReadUntil("</stream:features>")
			r.Send(" \r\n\t")
			if tc.lateNewline {
				r.Send(startTLS)
				r.ReadUntil("<proceed")
				r.ReadUntil(">")
				r.Send("\n")
			} else {
				r.Send(startTLS + "\n")
				r.ReadUntil("<proceed")
				r.ReadUntil(">")
			}
			r.UpgradeTLS(h.ClientTLS)
			r.Send(headerNL + "  ")
			r.ReadUntil("</stream:features>")
			plain := base64.StdEncoding.EncodeToString([]byte("\x00car\x00" + pw))
			r.Send("\n<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + plain + "</auth>\n")
			r.ReadUntil("<success")
			r.Send(headerNL)
			r.ReadUntil("</stream:features>")
			r.Send("\n<iq type='set' id='b1'>\n <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>\n")
			if out := r.ReadUntil("</iq>"); !strings.Contains(out, "<jid>car@localhost/r</jid>") {
				t.Fatalf("bind: %q", out)
			}
			r.Send("\n<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>\n")
			if out := r.ReadUntil("id='p1'"); !strings.Contains(out, "type='result'") {
				t.Errorf("ping after bind: %q", out)
			}
		})
	}
}

// loudmouth (mcabber) sends <starttls ...></starttls>: the same element as
// <starttls/>. Its end tag may come with the start tag or after <proceed/>.
func TestStartTLSWithEndTag(t *testing.T) {
	h := hubtest.Start(t)
	pw := h.Account(t, "car", devices.RoleDevice)
	for _, split := range []bool{false, true} {
		r := xmpptest.DialRaw(t, h.Addr)
		r.Open("localhost")
		if split {
			r.Send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>")
			r.ReadUntil("<proceed")
			r.ReadUntil(">")
			r.Send("</starttls>")
		} else {
			r.Send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'></starttls>")
			r.ReadUntil("<proceed")
			r.ReadUntil(">")
		}
		r.UpgradeTLS(h.ClientTLS)
		r.Open("localhost")
		if out := r.AuthPlain("car", pw); !strings.Contains(out, "<success") {
			t.Errorf("split=%v: login after STARTTLS: %q", split, out)
		}
	}
}

// Whatever else is sent before the TLS handshake could have been injected
// by a man in the middle: it ends the stream, with or without an end tag
// or whitespace before it.
func TestStartTLSInjectionStillRefused(t *testing.T) {
	h := hubtest.Start(t)
	for _, tail := range []string{
		startTLS + "<iq type='get' id='x'/>",
		startTLS + "\n<message to='a@localhost'><body>x</body></message>",
		"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'></starttls> <presence/>",
		"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>" + strings.Repeat(" ", 100) + "</starttls>",
	} {
		r := xmpptest.DialRaw(t, h.Addr)
		r.Open("localhost")
		r.Send(tail)
		if out := r.ReadToEOF(); strings.Contains(out, "TLS handshake") || !strings.Contains(out, "</stream:stream>") {
			t.Errorf("%q: got %q, want the stream ended", tail, out)
		}
	}
}

// RFC 6120 §4.7.4: the response stream header carries xml:lang, before and
// after TLS.
func TestStreamHeaderHasLang(t *testing.T) {
	h := hubtest.Start(t)
	r := xmpptest.DialRaw(t, h.Addr)
	r.Send(xmpptest.Header("localhost"))
	if out := r.ReadUntil("</stream:features>"); !strings.Contains(out, "xml:lang='en'") {
		t.Errorf("first header: %q", out)
	}
	r.Send(startTLS)
	r.ReadUntil("<proceed")
	r.ReadUntil(">")
	r.UpgradeTLS(h.ClientTLS)
	r.Send(xmpptest.Header("localhost"))
	if out := r.ReadUntil("</stream:features>"); !strings.Contains(out, "xml:lang='en'") {
		t.Errorf("header over TLS: %q", out)
	}
	bad := xmpptest.DialRaw(t, h.Addr)
	bad.Send("<?xml version='1.0'?><stream:stream to='elsewhere' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
	if out := bad.ReadToEOF(); !strings.Contains(out, "xml:lang='en'") || !strings.Contains(out, "host-unknown") {
		t.Errorf("header before an error: %q", out)
	}
}
