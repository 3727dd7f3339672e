package wire

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/geohub/geohub/internal/xmlesc"
	"github.com/geohub/geohub/internal/xmlnode"
)

// scanAll feeds input to a fresh scanner chunk bytes at a time, the way a
// connection would, and returns the elements and the error it stopped at.
func scanAll(t testing.TB, input string, chunk int, lim Limits) ([]string, []*Element, error) {
	t.Helper()
	s := NewScanner(lim, "jabber:client")
	var buf []byte
	var raws []string
	var els []*Element
	rest := []byte(input)
	for {
		n := min(chunk, len(rest))
		buf = append(buf, rest[:n]...)
		rest = rest[n:]
		for {
			el, used, err := s.Next(buf)
			if err != nil {
				return raws, els, err
			}
			if used == 0 {
				break
			}
			if el != nil {
				raws = append(raws, string(el.Raw))
				cp := *el
				cp.Raw = []byte(string(el.Raw))
				els = append(els, &cp)
			}
			buf = append(buf[:0], buf[used:]...)
		}
		if len(rest) == 0 {
			return raws, els, nil
		}
	}
}

func TestScanSplitsStanzas(t *testing.T) {
	input := ` <message to='a@b' id="1"><body>hi &amp; bye</body></message>
	<presence/><iq type='get' id='x'><query xmlns='jabber:iq:roster'/></iq>
	<message><![CDATA[<not a tag>]]></message></stream:stream>`
	want := []string{
		`<message to='a@b' id="1"><body>hi &amp; bye</body></message>`,
		`<presence/>`,
		`<iq type='get' id='x'><query xmlns='jabber:iq:roster'/></iq>`,
		`<message><![CDATA[<not a tag>]]></message>`,
		`</stream:stream>`,
	}
	for _, chunk := range []int{1, 2, 3, 7, 64, 4096} {
		got, els, err := scanAll(t, input, chunk, Limits{})
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("chunk %d:\n got %q\nwant %q", chunk, got, want)
		}
		kinds := []Kind{KindMessage, KindPresence, KindIQ, KindMessage, KindStreamEnd}
		for i, el := range els {
			if el.Kind != kinds[i] {
				t.Errorf("chunk %d element %d: kind %d, want %d", chunk, i, el.Kind, kinds[i])
			}
		}
	}
}

func TestScanAttributes(t *testing.T) {
	_, els, err := scanAll(t, `<message  from='forged@x/y' to="bob@example.com/r&amp;1" type='chat' id='m1' xml:lang='en' xmlns='jabber:client'><body/></message>`, 5, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	el := els[0]
	for _, tc := range []struct {
		sp   Span
		want string
	}{
		{el.To, "bob@example.com/r&amp;1"}, {el.From, "forged@x/y"}, {el.Type, "chat"},
		{el.ID, "m1"}, {el.Lang, "en"}, {el.NS, "jabber:client"},
	} {
		if got := string(el.Value(tc.sp)); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	if got, _ := xmlnode.AppendUnescaped(nil, el.Value(el.To)); string(got) != "bob@example.com/r&1" {
		t.Errorf("unescaped to = %q", got)
	}
	stamped := string(AppendStamped(nil, el, []byte(` from='alice@example.com/gps'`)))
	want := `<message from='alice@example.com/gps' to="bob@example.com/r&amp;1" type='chat' id='m1' xml:lang='en' xmlns='jabber:client'><body/></message>`
	if stamped != want {
		t.Errorf("stamped\n got %s\nwant %s", stamped, want)
	}
}

func TestAppendAddressed(t *testing.T) {
	for _, in := range []string{
		`<presence to='x@y' from='f@g/h'><show>away</show></presence>`,
		`<presence from='f@g/h' id='1' to='x@y'/>`,
		`<presence id='1'/>`,
	} {
		_, els, err := scanAll(t, in, 100, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		got := string(AppendAddressed(nil, els[0], []byte(` from='a@b/c'`), []byte(` to='d@e/f'`)))
		_, out, err := scanAll(t, got, 100, Limits{})
		if err != nil {
			t.Fatalf("%s -> %s: %v", in, got, err)
		}
		if string(out[0].Value(out[0].From)) != "a@b/c" || string(out[0].Value(out[0].To)) != "d@e/f" {
			t.Errorf("%s -> %s", in, got)
		}
	}
}

func TestScanStampWithoutFrom(t *testing.T) {
	_, els, err := scanAll(t, `<presence/>`, 100, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(AppendStamped(nil, els[0], []byte(` from='a@b/c'`))); got != `<presence from='a@b/c'/>` {
		t.Errorf("got %s", got)
	}
}

func TestScanErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, cond string
		lim            Limits
	}{
		{"mismatched end tag", `<message><body></message>`, "not-well-formed", Limits{}},
		{"bad entity", `<message><body>&nbsp;</body></message>`, "not-well-formed", Limits{}},
		{"lt in attribute", `<message id='a<b'/>`, "not-well-formed", Limits{}},
		{"unquoted attribute", `<message id=a/>`, "not-well-formed", Limits{}},
		{"duplicate attribute", `<message id='a' id='b'/>`, "not-well-formed", Limits{}},
		{"text at top level", `hello`, "not-well-formed", Limits{}},
		{"control character", "<message><body>\x01</body></message>", "not-well-formed", Limits{}},
		{"invalid utf-8", "<message><body>\xff</body></message>", "not-well-formed", Limits{}},
		{"char ref to NUL", `<message><body>&#0;</body></message>`, "not-well-formed", Limits{}},
		{"undeclared prefix", `<message><x:y/></message>`, "not-well-formed", Limits{}},
		{"undeclared attribute prefix", `<message><y x:a='1'/></message>`, "not-well-formed", Limits{}},
		{"comment", `<message><!-- hi --></message>`, "restricted-xml", Limits{}},
		{"processing instruction", `<?xml version='1.0'?>`, "restricted-xml", Limits{}},
		{"doctype", `<!DOCTYPE x>`, "restricted-xml", Limits{}},
		{"unknown stanza", `<foo/>`, "unsupported-stanza-type", Limits{}},
		{"wrong namespace", `<message xmlns='jabber:server'/>`, "invalid-namespace", Limits{}},
		{"too big", `<message><body>` + strings.Repeat("a", 200) + `</body></message>`, "policy-violation", Limits{MaxSize: 100}},
		{"too deep", `<message><a><b><c/></b></a></message>`, "policy-violation", Limits{MaxDepth: 3}},
		{"too many attributes", `<message a='1' b='2' c='3'/>`, "policy-violation", Limits{MaxAttrs: 2}},
		{"end of stream mismatch", `</message>`, "not-well-formed", Limits{}},
		{"non-ASCII element name", "<message><x\u00d7/></message>", "policy-violation", Limits{}},
		{"non-ASCII first letter", "<message><\u01c5/></message>", "policy-violation", Limits{}},
		{"non-ASCII attribute name", "<message><x a\u00a0b='1'/></message>", "policy-violation", Limits{}},
		{"non-ASCII end tag", "<message><x></x\u00d7></message>", "policy-violation", Limits{}},
		{"one namespace, two prefixes", `<message><x xmlns:p='urn:a' xmlns:q='urn:a' p:a='1' q:a='2'/></message>`, "not-well-formed", Limits{}},
		{"prefix bound to xmlns namespace", `<message><x xmlns:foo='http://www.w3.org/2000/xmlns/'/></message>`, "not-well-formed", Limits{}},
		{"prefix bound to xml namespace", `<message><x xmlns:foo='http://www.w3.org/XML/1998/namespace'/></message>`, "not-well-formed", Limits{}},
		{"default bound to xml namespace", `<message><x xmlns='http://www.w3.org/XML/1998/namespace'/></message>`, "not-well-formed", Limits{}},
		{"too many prefixes", "<message>" + strings.Repeat("<a xmlns:p='urn:p'>", 40) + strings.Repeat("</a>", 40) + "</message>", "policy-violation", Limits{}},
	} {
		for _, chunk := range []int{1, 1000} {
			_, _, err := scanAll(t, tc.in, chunk, tc.lim)
			var we *Error
			if !errors.As(err, &we) {
				t.Errorf("%s (chunk %d): got %v, want %s", tc.name, chunk, err, tc.cond)
				continue
			}
			if we.Condition != tc.cond {
				t.Errorf("%s (chunk %d): got %s (%s), want %s", tc.name, chunk, we.Condition, we.Text, tc.cond)
			}
		}
	}
}

func TestScanAcceptsDistinctNamespacedAttributes(t *testing.T) {
	in := `<message><x xmlns:p='urn:a' xmlns:q='urn:b' p:a='1' q:a='2' a='3'><body xml:lang='de'>\u00fcber</body></x></message>`
	if _, _, err := scanAll(t, in, 7, Limits{}); err != nil {
		t.Fatal(err)
	}
}

func TestScanAcceptsNamespacesAndRefs(t *testing.T) {
	in := `<iq type='set' id='p'><pubsub xmlns='http://jabber.org/protocol/pubsub' xmlns:g='urn:g'>` +
		`<publish node='n'><item g:x='1'><g:geo>&#x41;&#66;&lt;&quot;</g:geo></item></publish></pubsub></iq>`
	got, _, err := scanAll(t, in, 3, Limits{})
	if err != nil || len(got) != 1 || got[0] != in {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestScanTrickleIsLinear(t *testing.T) {
	// A 200 KB attribute value sent a byte at a time must not be rescanned
	// from its start on every byte.
	in := `<message id='` + strings.Repeat("x", 200<<10) + `'/>`
	s := NewScanner(Limits{}, "jabber:client")
	buf := make([]byte, 0, len(in))
	steps := 0
	for i := 0; i < len(in); i++ {
		buf = append(buf, in[i])
		el, n, err := s.Next(buf)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			if el == nil || i != len(in)-1 {
				t.Fatalf("element ended early at %d", i)
			}
		}
		steps++
	}
	if s.tagFrom != 0 {
		t.Fatalf("scanner state not reset")
	}
}

func TestAppendWithChild(t *testing.T) {
	child := []byte(`<delay xmlns='urn:xmpp:delay'/>`)
	if got := string(AppendWithChild(nil, []byte(`<message to='a'/>`), len(`<message to='a'/>`), true, child)); got != `<message to='a'><delay xmlns='urn:xmpp:delay'/></message>` {
		t.Errorf("empty: %s", got)
	}
	raw := `<message to='a'><body>x</body></message>`
	if got := string(AppendWithChild(nil, []byte(raw), len(`<message to='a'>`), false, child)); got != `<message to='a'><body>x</body><delay xmlns='urn:xmpp:delay'/></message>` {
		t.Errorf("full: %s", got)
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	for _, s := range []string{"plain", `a&b<c>d'e"f`, "ünï©ødé", "tab\tnl\n"} {
		esc := xmlesc.Text(nil, s)
		if got, _ := xmlnode.AppendUnescaped(nil, esc); string(got) != s {
			t.Errorf("%q -> %q -> %q", s, esc, got)
		}
	}
	if got := string(xmlesc.Text(nil, "bad\x00byte\xff")); got != "bad\uFFFDbyte\uFFFD" {
		t.Errorf("forbidden characters: %q", got)
	}
}

// wellFormed reports whether encoding/xml accepts el inside a client stream.
func wellFormed(el []byte) error {
	doc := `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>` + string(el) + `</stream:stream>`
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = true
	for {
		_, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func FuzzScanner(f *testing.F) {
	for _, seed := range []string{
		`<message to='a@b'><body>hi</body></message>`,
		`<presence/>`,
		`<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>`,
		`<message><![CDATA[x]]>&amp;&#x41;</message>`,
		`<message xmlns:a='urn:a'><a:b a:c='d'/></message>`,
		`</stream:stream>`,
		`<message><body>&#0;</body></message>`,
	} {
		f.Add(seed, uint8(3))
	}
	f.Fuzz(func(t *testing.T, in string, chunk uint8) {
		whole, wholeEls, wholeErr := scanAll(t, in, len(in)+1, Limits{})
		parts, _, partErr := scanAll(t, in, int(chunk%16)+1, Limits{})
		if (wholeErr == nil) != (partErr == nil) || strings.Join(whole, "\x00") != strings.Join(parts, "\x00") {
			t.Fatalf("chunking changed the result: %q %v vs %q %v", whole, wholeErr, parts, partErr)
		}
		for i, el := range wholeEls {
			if el.Kind == KindStreamEnd || el.Kind == KindStreamError {
				continue
			}
			if err := wellFormed(el.Raw); err != nil {
				t.Fatalf("scanner accepted %q, encoding/xml says %v", whole[i], err)
			}
			stamped := AppendStamped(nil, el, []byte(` from='x@y/z'`))
			if _, _, err := scanAll(t, string(stamped), 1000, Limits{MaxSize: 1 << 20}); err != nil {
				t.Fatalf("stamping broke %q: %v", stamped, err)
			}
			if bytes.Count(stamped, []byte(" from=")) != 1+bytes.Count(el.Raw[el.StartEnd:], []byte(" from=")) {
				t.Fatalf("stamped element has a stray from: %q", stamped)
			}
		}
	})
}
