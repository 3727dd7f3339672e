package hub

import (
	"bytes"
	"encoding/xml"
	"io"
	"testing"
)

// FuzzParseBOSHBody: whatever a client posts, parseBOSHBody does not
// panic, and what it accepts hands the stream only complete, well-formed
// elements: its payload parses inside any parent, and ends where that
// parent's end tag is.
func FuzzParseBOSHBody(f *testing.F) {
	for _, s := range []string{
		"<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='localhost' wait='60' hold='1'/>",
		"<?xml version='1.0'?> <body xmlns='http://jabber.org/protocol/httpbind' sid='s' rid='2'><message xmlns='jabber:client' to='a@b'><body>hi &amp; bye</body></message><presence xmlns='jabber:client'/></body>\n",
		"<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' rid='3' xmpp:restart='true' xml:lang='en'/>",
		"<body xmlns='http://jabber.org/protocol/httpbind' rid='4' type='terminate'><![CDATA[x]]></body>",
		"<body xmlns='http://jabber.org/protocol/httpbind' rid='5'><a><!-- c --></a>text</body>",
		"<body xmlns='http://jabber.org/protocol/httpbind' rid='8'><a/><?pi x?></body>",
		"<b:body xmlns:b='http://jabber.org/protocol/httpbind' rid='6'><x xmlns='y'/></b:body>",
		"<body xmlns='jabber:client' rid='1'/>",
		"<body xmlns='http://jabber.org/protocol/httpbind' rid='7'><a></b></body>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := parseBOSHBody(raw)
		if err != nil {
			return
		}
		if b == nil || !b.has("rid") {
			t.Fatalf("accepted %q without a rid", raw)
		}
		wrapped := append(append([]byte("<p>"), b.payload...), "</p>"...)
		d := xml.NewDecoder(bytes.NewReader(wrapped))
		depth := 0
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("accepted %q, whose payload %q does not parse: %v", raw, b.payload, err)
			}
			switch tok.(type) {
			case xml.StartElement:
				depth++
			case xml.EndElement:
				depth--
				if depth == 0 && d.InputOffset() != int64(len(wrapped)) {
					t.Fatalf("accepted %q, whose payload %q closes its parent early", raw, b.payload)
				}
			}
		}
	})
}
