package wire

import (
	"unicode/utf8"

	"github.com/geohub/geohub/internal/xmlesc"
)

// Error is a stream-level error condition (RFC 6120 §4.9.3) found in input.
type Error struct {
	Condition string // a defined condition such as "not-well-formed"
	Text      string // what was wrong, for the peer and the log
}

func (e *Error) Error() string { return e.Condition + ": " + e.Text }

var errTooBig = &Error{Condition: "policy-violation", Text: "stanza too large"}

func notWellFormed(text string) error { return &Error{Condition: "not-well-formed", Text: text} }
func restricted(text string) error    { return &Error{Condition: "restricted-xml", Text: text} }
func policy(text string) error        { return &Error{Condition: "policy-violation", Text: text} }

// maxEntity is the longest reference accepted: "&#x10FFFF;" and its padding.
const maxEntity = 12

// entity checks the reference at the start of b (b[0] == '&') and returns its
// length. It returns 0 when b ends before the reference does. Only the five
// predefined entities and character references exist in XMPP: there is no DTD.
func entity(b []byte) (int, error) {
	end := -1
	for i := 1; i < len(b) && i < maxEntity; i++ {
		if b[i] == ';' {
			end = i
			break
		}
	}
	if end < 0 {
		if len(b) < maxEntity {
			return 0, nil
		}
		return 0, notWellFormed("bad entity reference")
	}
	name := b[1:end]
	switch string(name) {
	case "lt", "gt", "amp", "quot", "apos":
		return end + 1, nil
	}
	if len(name) < 2 || name[0] != '#' {
		return 0, notWellFormed("undefined entity &" + string(name) + ";")
	}
	digits, base := name[1:], rune(10)
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 {
		return 0, notWellFormed("empty character reference")
	}
	var r rune
	for _, c := range digits {
		var d rune
		switch {
		case c >= '0' && c <= '9':
			d = rune(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = rune(c-'A') + 10
		default:
			return 0, notWellFormed("bad character reference")
		}
		r = r*base + d
		if r > utf8.MaxRune {
			return 0, notWellFormed("character reference out of range")
		}
	}
	if !xmlesc.IsChar(r) {
		return 0, notWellFormed("character reference to a character XML forbids")
	}
	return end + 1, nil
}

// checkChars verifies that b is UTF-8 made only of characters XML 1.0 allows.
func checkChars(b []byte) error {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return notWellFormed("control character in stream")
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return notWellFormed("invalid UTF-8")
		}
		if !xmlesc.IsChar(r) {
			return notWellFormed("character XML forbids")
		}
		i += n
	}
	return nil
}
