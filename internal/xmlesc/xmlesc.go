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
	for i := 0; i < len(value); {
		j := i
		for j < len(value) && value[j] != '\t' && value[j] != '\n' {
			j++
		}
		dst = Text(dst, value[i:j])
		if j < len(value) {
			if value[j] == '\t' {
				dst = append(dst, "&#x9;"...)
			} else {
				dst = append(dst, "&#xA;"...)
			}
			j++
		}
		i = j
	}
	return append(dst, '\'')
}

// Text appends s escaped for use as character data or as an attribute value
// in either quote style. Characters XML forbids are replaced by U+FFFD so
// that the output is always well-formed.
func Text(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '&':
				dst = append(dst, "&amp;"...)
			case '<':
				dst = append(dst, "&lt;"...)
			case '>':
				dst = append(dst, "&gt;"...)
			case '\'':
				dst = append(dst, "&apos;"...)
			case '"':
				dst = append(dst, "&quot;"...)
			case '\t', '\n':
				dst = append(dst, c)
			case '\r':
				dst = append(dst, "&#xD;"...)
			default:
				if c < 0x20 {
					dst = append(dst, "\uFFFD"...)
				} else {
					dst = append(dst, c)
				}
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || !IsChar(r) {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return dst
}

// IsChar reports whether r is a Char in the XML 1.0 grammar.
func IsChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= utf8.MaxRune
}
