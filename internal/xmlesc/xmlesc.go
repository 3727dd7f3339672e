// Package xmlesc writes text into XML: escaped character data and attribute
// values that are always well-formed, appended to byte slices so that the
// hot paths that build stanzas do not allocate.
package xmlesc

import "unicode/utf8"

// Attr appends ` name='value'` with value escaped. Tabs and line feeds are
// written as references: a parser turns literal ones in an attribute into
// spaces (XML 1.0 §3.3.3).
func Attr(dst []byte, name, value string) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, '=', '\'')
	return append(escape(dst, value, &plainAttr), '\'')
}

// Text appends s escaped for use as character data or as an attribute value
// in either quote style. Characters XML forbids are replaced by U+FFFD so
// that the output is always well-formed.
func Text(dst []byte, s string) []byte { return escape(dst, s, &plainText) }

// plainText and plainAttr hold the ASCII bytes written as they are; runs
// of them are copied at once.
var plainText, plainAttr = func() (text, attr [utf8.RuneSelf]bool) {
	for c := range utf8.RuneSelf {
		text[c] = c >= 0x20 && c != '&' && c != '<' && c != '>' && c != '\'' && c != '"' || c == '\t' || c == '\n'
		attr[c] = text[c] && c != '\t' && c != '\n'
	}
	return text, attr
}()

func escape(dst []byte, s string, plain *[utf8.RuneSelf]bool) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			dst = append(append(dst, s[start:i]...), reference(c)...)
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || !IsChar(r) {
			dst = append(append(dst, s[start:i]...), "\uFFFD"...)
			start = i + n
		}
		i += n
	}
	return append(dst, s[start:]...)
}

// reference is what an ASCII byte that is not written as it is becomes.
func reference(c byte) string {
	switch c {
	case '&':
		return "&amp;"
	case '<':
		return "&lt;"
	case '>':
		return "&gt;"
	case '\'':
		return "&apos;"
	case '"':
		return "&quot;"
	case '\t':
		return "&#x9;"
	case '\n':
		return "&#xA;"
	case '\r':
		return "&#xD;"
	}
	return "\uFFFD" // other control characters: XML 1.0 forbids them
}

// IsChar reports whether r is a Char in the XML 1.0 grammar.
func IsChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= utf8.MaxRune
}
