package wire

import (
	"bytes"
)

// AppendStamped appends el to dst with its from attribute replaced by
// fromAttr, a complete escaped attribute with its leading space, such as
// ` from='car-17@example.com/gps'` (RFC 6120 §8.1.2.1: the server stamps
// from on everything a client sends).
func AppendStamped(dst []byte, el *Element, fromAttr []byte) []byte {
	raw := el.Raw
	dst = append(dst, raw[:el.NameEnd]...)
	dst = append(dst, fromAttr...)
	if el.FromAttr.Start < 0 {
		return append(dst, raw[el.NameEnd:]...)
	}
	dst = append(dst, raw[el.NameEnd:el.FromAttr.Start]...)
	return append(dst, raw[el.FromAttr.End:]...)
}

// AppendAddressed appends el with both its from and to attributes replaced
// by fromAttr and toAttr (complete escaped attributes with a leading space).
func AppendAddressed(dst []byte, el *Element, fromAttr, toAttr []byte) []byte {
	raw := el.Raw
	dst = append(dst, raw[:el.NameEnd]...)
	dst = append(dst, fromAttr...)
	dst = append(dst, toAttr...)
	cut1, cut2 := el.FromAttr, el.ToAttr
	if cut2.Start >= 0 && (cut1.Start < 0 || cut2.Start < cut1.Start) {
		cut1, cut2 = cut2, cut1
	}
	i := el.NameEnd
	for _, c := range [2]Span{cut1, cut2} {
		if c.Start < 0 {
			continue
		}
		dst = append(dst, raw[i:c.Start]...)
		i = c.End
	}
	return append(dst, raw[i:]...)
}

// AppendWithChild appends the top-level element raw (whose start tag ends at
// startEnd and which is a single empty tag when empty) with child inserted as
// its last child.
func AppendWithChild(dst, raw []byte, startEnd int, empty bool, child []byte) []byte {
	if empty {
		// "<x .../>" becomes "<x ...>" child "</x>".
		dst = append(dst, raw[:startEnd-2]...)
		dst = append(dst, '>')
		dst = append(dst, child...)
		name := raw[1:]
		if i := bytes.IndexAny(name, " \t\r\n/>"); i >= 0 {
			name = name[:i]
		}
		dst = append(dst, "</"...)
		dst = append(dst, name...)
		return append(dst, '>')
	}
	end := bytes.LastIndexByte(raw, '<')
	dst = append(dst, raw[:end]...)
	dst = append(dst, child...)
	return append(dst, raw[end:]...)
}
