package xmlesc

import (
	"encoding/xml"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEscapeReadsBack: what Text and Attr write, an XML parser reads back
// as the input with the characters XML forbids replaced by U+FFFD, line
// ends and tabs included (they are written as references where a parser
// would change them).
func FuzzEscapeReadsBack(f *testing.F) {
	for _, s := range []string{"", "car@localhost/phone", "a&b<c>d'e\"f", "tab\there\nline\r\n", "\x00\x1f\x7f", "ü € 😀", "\xff\xfe", "\uFFFE\uFFFF\U0010FFFF"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want strings.Builder
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 || !IsChar(r) {
				r = utf8.RuneError
			}
			want.WriteRune(r)
			i += n
		}
		var el struct {
			A    string `xml:"a,attr"`
			Text string `xml:",chardata"`
		}
		doc := append(Attr([]byte("<e"), "a", s), '>')
		doc = append(Text(doc, s), "</e>"...)
		if err := xml.Unmarshal(doc, &el); err != nil {
			t.Fatalf("%q: %s does not parse: %v", s, doc, err)
		}
		if el.Text != want.String() || el.A != want.String() {
			t.Fatalf("%q: read back as text %q and attribute %q, want %q", s, el.Text, el.A, want.String())
		}
	})
}

func BenchmarkAttr(b *testing.B) {
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf = Attr(buf[:0], "from", "dev-0417@fleet.example.com/firmware-sim")
	}
}
