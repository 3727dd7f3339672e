package hub

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestElementEnd(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int // -1: not an element; 0: incomplete; else len(in) minus the trailing "~~~"
	}{
		{"<a/>", 4},
		{"<a></a>", 7},
		{"<a><b/><c>x</c></a>~~~", -2},
		{"<a x='>' y=\"/>\">t</a>~~~", -2},
		{"<a><![CDATA[</a><b>]]></a>~~~", -2},
		{"<a><!-- </a> --></a>~~~", -2},
		{"<a><?pi </a> ?></a>~~~", -2},
		{"<a><!--></a>--></a>~~~", -2}, // "-->" may not overlap the opener
		{"<a><!---></a>--></a>~~~", -2},
		{"<a><![CDATA[]></a>]]></a>~~~", -2},
		{"<a>", 0},
		{"<a x='>", 0},
		{"<a><![CDATA[</a>", 0},
		{"<a><!", 0},
		{"<a><!-", 0},
		{"<a><![CDA", 0},
		{"<a><b></b>", 0},
		{"</a>", -1},
		{"<!-- c --><a/>", -1},
		{"<?xml?><a/>", -1},
		{"<a><!DOCTYPE x></a>", -1},
		{"x<a/>", -1},
	} {
		want := tc.want
		if want == -2 {
			want = len(tc.in) - 3
		}
		if got := elementEnd([]byte(tc.in)); got != want {
			t.Errorf("elementEnd(%q) = %d, want %d", tc.in, got, want)
		}
	}
}

// hubOutput is what negotiation and a session write, in order.
const hubOutput = `<?xml version="1.0" encoding="UTF-8"?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' id='abc' from='localhost' xml:lang='en'>` +
	`<stream:features><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>SCRAM-SHA-256</mechanism></mechanisms></stream:features>` +
	"\n" + `<message from='a@localhost/x' id="q'>/"><body><![CDATA[</message><x/>]]></body></message>` +
	`<iq xmlns='jabber:client' type='result' id='r'/>` +
	`<presence from='b@localhost/y'><c xmlns='http://jabber.org/protocol/caps' ver='x>'/></presence>` +
	`<stream:error xmlns:stream='http://etherx.jabber.org/streams'><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>` +
	`</stream:stream>`

var hubOutputFramed = []string{
	`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' version='1.0' id='abc' from='localhost' xml:lang='en'/>`,
	`<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>SCRAM-SHA-256</mechanism></mechanisms></stream:features>`,
	`<message xmlns='jabber:client' from='a@localhost/x' id="q'>/"><body><![CDATA[</message><x/>]]></body></message>`,
	`<iq xmlns='jabber:client' type='result' id='r'/>`,
	`<presence xmlns='jabber:client' from='b@localhost/y'><c xmlns='http://jabber.org/protocol/caps' ver='x>'/></presence>`,
	`<stream:error xmlns:stream='http://etherx.jabber.org/streams'><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`,
	`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`,
}

// frames writes chunks through a framer and returns the messages sent.
func frames(t testing.TB, chunks ...[]byte) ([]string, error) {
	var f framer
	var out []string
	for _, c := range chunks {
		if err := f.write(c, func(m []byte) error { out = append(out, string(m)); return nil }); err != nil {
			return out, err
		}
	}
	return out, nil
}

// The framer cuts at elements whatever the writes: all at once, byte by
// byte, or at every split point.
func TestFramerCutsAtElements(t *testing.T) {
	got, err := frames(t, []byte(hubOutput))
	if err != nil || !slices.Equal(got, hubOutputFramed) {
		t.Fatalf("in one write: %v\n%s\nwant\n%s", err, strings.Join(got, "\n"), strings.Join(hubOutputFramed, "\n"))
	}
	var bytewise [][]byte
	for i := range len(hubOutput) {
		bytewise = append(bytewise, []byte{hubOutput[i]})
	}
	if got, err := frames(t, bytewise...); err != nil || !slices.Equal(got, hubOutputFramed) {
		t.Fatalf("byte by byte: %v\n%s", err, strings.Join(got, "\n"))
	}
	for k := range len(hubOutput) {
		if got, err := frames(t, []byte(hubOutput[:k]), []byte(hubOutput[k:])); err != nil || !slices.Equal(got, hubOutputFramed) {
			t.Fatalf("split at %d: %v\n%s", k, err, strings.Join(got, "\n"))
		}
	}
	// Each message is one document that a namespace-aware parser reads
	// with the names it had inside the stream.
	for _, m := range got {
		d := xml.NewDecoder(strings.NewReader(m))
		tok, err := d.Token()
		start, ok := tok.(xml.StartElement)
		if err != nil || !ok || start.Name.Space == "" {
			t.Errorf("%s: %v %v", m, tok, err)
		}
		if err := d.Skip(); err != nil {
			t.Errorf("%s: %v", m, err)
		}
		if _, err := d.Token(); err != io.EOF {
			t.Errorf("%s: more after the element: %v", m, err)
		}
	}
}

func TestFrameIn(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0' xml:lang='en'/>`,
			`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0' xml:lang='en'>`, ""},
		{`<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="a&amp;b"></open>`,
			`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='a&amp;b'>`, ""},
		{` <close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>` + "\n", `</stream:stream>`, ""},
		{`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing' see-other-uri='wss://x'/>`, `</stream:stream>`, ""},
		{`<message xmlns='jabber:client' to='a'><body>hi</body></message>`, `<message xmlns='jabber:client' to='a'><body>hi</body></message>`, ""},
		{`<open xmlns='jabber:client'/>`, `<open xmlns='jabber:client'/>`, ""}, // not framing: the parser behind refuses it
		{" \r\n", "", ""},
		{`<a/><b/>`, "", "one complete"},
		{`<a>`, "", "one complete"},
		{`</close>`, "", "one complete"},
		{`<?xml version='1.0'?><open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`, "", "one complete"},
		{`hello`, "", "one complete"},
	} {
		got, err := frameIn(nil, []byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("frameIn(%q) = %q, %v; want an error", tc.in, got, err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("frameIn(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// FuzzFrameIn: any message is taken or refused without a panic; one that
// is taken and is not <open/> or <close/> passes unchanged.
func FuzzFrameIn(f *testing.F) {
	for _, s := range append(hubOutputFramed,
		`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>`,
		`<message xmlns='jabber:client'><body><![CDATA[<]]></body></message>`, `<a x='>'/>`, `<a><!--`) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		out, err := frameIn(nil, msg)
		if err != nil || len(out) == 0 {
			return
		}
		trimmed := bytes.TrimSpace(msg)
		if !bytes.HasPrefix(out, []byte("<stream:stream ")) && !bytes.Equal(out, []byte("</stream:stream>")) && !bytes.Equal(out, trimmed) {
			t.Fatalf("frameIn(%q) = %q", msg, out)
		}
		if elementEnd(trimmed) != len(trimmed) {
			t.Fatalf("frameIn took %q, which is not one element", msg)
		}
	})
}

// FuzzFramer: however the hub's output is split into writes, the same
// messages go out.
func FuzzFramer(f *testing.F) {
	f.Add([]byte(hubOutput), uint16(100))
	f.Add([]byte(`<a><b x='<'/></a><c/>`), uint16(3))
	f.Fuzz(func(t *testing.T, b []byte, split uint16) {
		whole, werr := frames(t, b)
		k := int(split) % (len(b) + 1)
		parts, perr := frames(t, b[:k], b[k:])
		if (werr == nil) != (perr == nil) && !errors.Is(werr, errBadOutput) && !errors.Is(perr, errBadOutput) {
			t.Fatalf("whole: %v, split at %d: %v", werr, k, perr)
		}
		if werr == nil && perr == nil && !slices.Equal(whole, parts) {
			t.Fatalf("%q split at %d:\n%q\nwant\n%q", b, k, parts, whole)
		}
	})
}
