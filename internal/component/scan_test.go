package component

import (
	"errors"
	"strings"
	"testing"
)

// The scanner cuts the upstream's stream into its elements: quotes may
// hold '>' and '/', whitespace keepalives come between, and the stream's
// end is told apart.
func TestScannerElements(t *testing.T) {
	in := "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' id=\"abc\" from='geo.localhost'>" +
		"<handshake/> \n<iq type='get' id='a>b' to='x/y'><ping xmlns='urn:xmpp:ping'/></iq>" +
		"<message from='a@b'><body>1 &lt; 2 / 3</body><x xmlns='u'><y/></x></message></stream:stream>"
	sc := newScanner(strings.NewReader(in), 1000)
	head, err := sc.header()
	if err != nil || !strings.HasPrefix(string(head), "<stream:stream") || idAttr.FindSubmatch(head) == nil {
		t.Fatalf("header %q %v", head, err)
	}
	want := []string{"<handshake/>", "<iq type='get' id='a>b' to='x/y'><ping xmlns='urn:xmpp:ping'/></iq>",
		"<message from='a@b'><body>1 &lt; 2 / 3</body><x xmlns='u'><y/></x></message>"}
	for _, w := range want {
		el, err := sc.next()
		if err != nil || string(el) != w {
			t.Fatalf("next: %q %v, want %q", el, err, w)
		}
	}
	if _, err := sc.next(); !errors.Is(err, errStreamEnd) {
		t.Errorf("at </stream:stream>: %v", err)
	}
}

// An element over the limit ends the stream, however it is cut up.
func TestScannerLimit(t *testing.T) {
	for _, in := range []string{"<message><body>" + strings.Repeat("x", 200) + "</body></message>",
		"<message a='" + strings.Repeat("x", 200) + "'/>"} {
		sc := newScanner(strings.NewReader(in), 100)
		if _, err := sc.next(); !errors.Is(err, errTooBig) {
			t.Errorf("%.30q: %v, want errTooBig", in, err)
		}
	}
	sc := newScanner(strings.NewReader("<a><!-- no --></a>"), 100)
	if _, err := sc.next(); err == nil {
		t.Error("a comment passed")
	}
}
