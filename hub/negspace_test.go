package hub

import (
	"bytes"
	"encoding/xml"
	"io"
	"testing"
)

// filtered is what spaceFilter lets through of in.
func filtered(in []byte) []byte {
	var f spaceFilter
	var out []byte
	for _, b := range in {
		if f.keep(b) {
			out = append(out, b)
		}
	}
	return out
}

func TestSpaceFilter(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"\n<stream:stream a='1'>\n <starttls/>\n", "<stream:stream a='1'><starttls/>"},
		{"<stream:stream>\n<auth m='x'> a b </auth>\n", "<stream:stream><auth m='x'> a b </auth>"},
		{"<stream:stream><iq a='>'>\n <bind/> </iq> <x/>", "<stream:stream><iq a='>'>\n <bind/> </iq><x/>"},
		// a stream restart inside the old stream
		{"<stream:stream><a></a>\n<?xml version='1.0'?>\n<stream:stream>\n<b/>", "<stream:stream><a></a><?xml version='1.0'?><stream:stream><b/>"},
		{"<stream xmlns='http://etherx.jabber.org/streams'> <a/>", "<stream xmlns='http://etherx.jabber.org/streams'><a/>"},
		{"<s:stream><a><![CDATA[<b> ]]> </a> ", "<s:stream><a><![CDATA[<b> ]]> </a>"},
		{"<s:stream><a><!-- <b> --> x</a> ", "<s:stream><a><!-- <b> --> x</a>"},
		{"<s:stream><!---> x --> <a> y</a>", "<s:stream><!---> x --><a> y</a>"},
	} {
		if got := string(filtered([]byte(tc.in))); got != tc.want {
			t.Errorf("%q:\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// The filter changes nothing but text at the stream's top level (which
// TestSpaceFilter checks): elements, their attributes and their content
// read the same from its output as from its input.
func FuzzSpaceFilter(f *testing.F) {
	for _, s := range []string{
		"<stream:stream>\n<a x='&gt;'>t <b/>\n</a>\n",
		"<stream:stream><a><![CDATA[ <x> ]]></a> <!-- c --> <?p x?> </stream:stream>",
		"<s:stream>\n<a/><s:stream> <b>\n</b>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want, werr := topTokens(in)
		got, gerr := topTokens(filtered(in))
		if werr != nil {
			return // malformed input: the decoder above the filter refuses it
		}
		if gerr != nil || !equalTokens(want, got) {
			t.Fatalf("%q:\nunfiltered %v\n  filtered %v (%v)", in, want, got, gerr)
		}
	})
}

// topTokens decodes in, leaving out text at the stream's top level (what
// the filter may change); a stream header (local name stream) resets the
// depth to 1.
func topTokens(in []byte) ([]xml.Token, error) {
	d := xml.NewDecoder(bytes.NewReader(in))
	d.Strict = true
	var out []xml.Token
	depth := 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		switch v := tok.(type) {
		case xml.StartElement:
			if v.Name.Local == "stream" {
				depth = 0
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth <= 1 {
				continue
			}
		}
		out = append(out, xml.CopyToken(tok))
	}
}

func equalTokens(a, b []xml.Token) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		ca, okA := a[i].(xml.CharData)
		cb, okB := b[i].(xml.CharData)
		if okA != okB {
			return false
		}
		if okA {
			if !bytes.Equal(ca, cb) {
				return false
			}
			continue
		}
		if !tokenEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

func tokenEqual(a, b xml.Token) bool {
	switch x := a.(type) {
	case xml.StartElement:
		y, ok := b.(xml.StartElement)
		if !ok || x.Name != y.Name || len(x.Attr) != len(y.Attr) {
			return false
		}
		for i := range x.Attr {
			if x.Attr[i] != y.Attr[i] {
				return false
			}
		}
		return true
	case xml.EndElement:
		y, ok := b.(xml.EndElement)
		return ok && x == y
	case xml.Comment:
		y, ok := b.(xml.Comment)
		return ok && bytes.Equal(x, y)
	case xml.ProcInst:
		y, ok := b.(xml.ProcInst)
		return ok && x.Target == y.Target && bytes.Equal(x.Inst, y.Inst)
	case xml.Directive:
		y, ok := b.(xml.Directive)
		return ok && bytes.Equal(x, y)
	}
	return false
}
