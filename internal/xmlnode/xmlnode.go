// Package xmlnode reads a small XML element (a stanza the hub's scanner has
// already checked) into a tree with namespaces resolved and entities
// expanded. It exists for speed: reading a stanza through encoding/xml's
// reflection costs several times more, on the path every position takes.
// Input that is not well-formed gives an error, never a panic.
package xmlnode

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// NSXML is the namespace of the xml: prefix.
const NSXML = "http://www.w3.org/XML/1998/namespace"

// Attr is one attribute, namespace resolved, value unescaped. Namespace
// declarations are not attributes here.
type Attr struct {
	Space, Local, Value string
}

// Node is an element.
type Node struct {
	Space, Local string
	Attrs        []Attr
	Children     []*Node
	Text         string // the character data directly inside, joined
	Raw          []byte // the element as it appeared, start tag to end tag
	hasText      bool   // non-whitespace character data directly inside
	// base is the scope depth outside the element, outer the lowest
	// scope entry any name inside it resolved through (SelfContained).
	base, outer int32
}

// ErrSyntax means the input is not a well-formed element.
var ErrSyntax = errors.New("xmlnode: not a well-formed element")

type binding struct{ prefix, uri string }

type parser struct {
	doc   []byte
	pos   int
	scope []binding // prefix "" is the default namespace
	slab  []Node    // nodes are carved from here: one allocation for many
	attrs []rawAttr // scratch for the element being read
}

func (p *parser) newNode() *Node {
	if len(p.slab) == cap(p.slab) {
		p.slab = make([]Node, 0, 16)
	}
	p.slab = p.slab[:len(p.slab)+1]
	return &p.slab[len(p.slab)-1]
}

// Parse reads the element doc, whose default namespace, when it declares
// none, is defaultNS.
func Parse(doc []byte, defaultNS string) (*Node, error) {
	p := &parser{doc: doc, scope: []binding{{"", defaultNS}, xmlBinding: {"xml", NSXML}}}
	// One slab for every element: there are no more than the tags that
	// are not end tags.
	p.slab = make([]Node, 0, max(1, bytes.Count(doc, []byte("<"))-bytes.Count(doc, []byte("</"))))
	p.skipSpace()
	n, err := p.element()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(doc) {
		return nil, ErrSyntax
	}
	return n, nil
}

func (p *parser) skipSpace() {
	for p.pos < len(p.doc) && isSpace(p.doc[p.pos]) {
		p.pos++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '.' || c == ':' || c >= 0x80
}

func (p *parser) name() ([]byte, error) {
	start := p.pos
	for p.pos < len(p.doc) && isNameByte(p.doc[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		return nil, ErrSyntax
	}
	return p.doc[start:p.pos], nil
}

// lookup finds the binding of prefix and notes its depth in n.outer.
func (p *parser) lookup(n *Node, prefix []byte) (string, bool) {
	for i := len(p.scope) - 1; i >= 0; i-- {
		if p.scope[i].prefix == string(prefix) {
			if i != xmlBinding {
				n.outer = min(n.outer, int32(i))
			}
			return p.scope[i].uri, true
		}
	}
	return "", false
}

// xmlBinding is where Parse puts the xml: prefix, which every element
// has without declaring it.
const xmlBinding = 1

type rawAttr struct {
	name  []byte
	value string
}

// element reads one element starting at '<'.
func (p *parser) element() (*Node, error) {
	start := p.pos
	if p.pos >= len(p.doc) || p.doc[p.pos] != '<' {
		return nil, ErrSyntax
	}
	p.pos++
	qname, err := p.name()
	if err != nil {
		return nil, err
	}
	depth := len(p.scope)
	defer func() { p.scope = p.scope[:depth] }()
	raw := p.attrs[:0]
	empty := false
	for {
		p.skipSpace()
		if p.pos >= len(p.doc) {
			return nil, ErrSyntax
		}
		if c := p.doc[p.pos]; c == '>' {
			p.pos++
			break
		} else if c == '/' {
			if p.pos+1 >= len(p.doc) || p.doc[p.pos+1] != '>' {
				return nil, ErrSyntax
			}
			p.pos += 2
			empty = true
			break
		}
		an, err := p.name()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.doc) || p.doc[p.pos] != '=' {
			return nil, ErrSyntax
		}
		p.pos++
		p.skipSpace()
		if p.pos >= len(p.doc) || (p.doc[p.pos] != '"' && p.doc[p.pos] != '\'') {
			return nil, ErrSyntax
		}
		q := p.doc[p.pos]
		end := bytes.IndexByte(p.doc[p.pos+1:], q)
		if end < 0 {
			return nil, ErrSyntax
		}
		v, err := attrValue(p.doc[p.pos+1 : p.pos+1+end])
		if err != nil {
			return nil, err
		}
		p.pos += end + 2
		switch {
		case string(an) == "xmlns":
			p.scope = append(p.scope, binding{"", v})
		case bytes.HasPrefix(an, []byte("xmlns:")):
			p.scope = append(p.scope, binding{string(an[6:]), v})
		default:
			raw = append(raw, rawAttr{an, v})
		}
	}
	p.attrs = raw
	n := p.newNode()
	n.base, n.outer = int32(depth), int32(len(p.scope))
	if n.Space, n.Local, err = p.resolve(n, qname, true); err != nil {
		return nil, err
	}
	if len(raw) > 0 {
		n.Attrs = make([]Attr, len(raw))
		for i, a := range raw {
			n.Attrs[i].Value = a.value
			if n.Attrs[i].Space, n.Attrs[i].Local, err = p.resolve(n, a.name, false); err != nil {
				return nil, err
			}
		}
	}
	if !empty {
		if err := p.content(n, qname); err != nil {
			return nil, err
		}
	}
	n.Raw = p.doc[start:p.pos]
	return n, nil
}

// resolve splits a qualified name of n and finds its namespace.
// Unprefixed attributes have none.
func (p *parser) resolve(n *Node, qname []byte, element bool) (string, string, error) {
	prefix, local, ok := bytes.Cut(qname, []byte{':'})
	if !ok {
		if !element {
			return "", intern(qname), nil
		}
		uri, _ := p.lookup(n, nil)
		return uri, intern(qname), nil
	}
	uri, found := p.lookup(n, prefix)
	if !found || len(prefix) == 0 || len(local) == 0 || bytes.IndexByte(local, ':') >= 0 {
		return "", "", ErrSyntax
	}
	return uri, intern(local), nil
}

// content reads what is between the start and end tags of n.
func (p *parser) content(n *Node, qname []byte) error {
	// Most elements hold one run of text or none: it becomes n.Text as
	// it is; text is built only when there are more.
	var one string
	var text []byte
	runs := 0
	add := func(t string) {
		if runs++; runs == 1 {
			one = t
			return
		}
		if runs == 2 {
			text = append(text, one...)
		}
		text = append(text, t...)
	}
	for {
		i := bytes.IndexByte(p.doc[p.pos:], '<')
		if i < 0 {
			return ErrSyntax
		}
		if i > 0 {
			t, err := unescape(p.doc[p.pos : p.pos+i])
			if err != nil {
				return err
			}
			add(t)
			p.pos += i
		}
		rest := p.doc[p.pos:]
		switch {
		case bytes.HasPrefix(rest, []byte("</")):
			p.pos += 2
			name, err := p.name()
			if err != nil || !bytes.Equal(name, qname) {
				return ErrSyntax
			}
			p.skipSpace()
			if p.pos >= len(p.doc) || p.doc[p.pos] != '>' {
				return ErrSyntax
			}
			p.pos++
			if runs > 1 {
				one = string(text)
			}
			n.Text = one
			n.hasText = len(strings.TrimLeft(one, " \t\r\n")) > 0
			return nil
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			end := bytes.Index(rest, []byte("]]>"))
			if end < 0 {
				return ErrSyntax
			}
			add(string(rest[9:end]))
			p.pos += end + 3
		case bytes.HasPrefix(rest, []byte("<!")) || bytes.HasPrefix(rest, []byte("<?")):
			return ErrSyntax
		default:
			c, err := p.element()
			if err != nil {
				return err
			}
			n.outer = min(n.outer, c.outer)
			n.Children = append(n.Children, c)
		}
	}
}

// attrValue is an attribute's value unescaped; a known one (a namespace,
// an IQ type) is shared.
func attrValue(b []byte) (string, error) {
	if bytes.IndexByte(b, '&') < 0 && bytes.IndexByte(b, '\r') < 0 {
		return intern(b), nil
	}
	return unescape(b)
}

// unescape expands entity and character references and, as XML 1.0 §2.11
// asks, turns literal line ends ("\r\n" or "\r") into "\n".
func unescape(b []byte) (string, error) {
	if bytes.IndexByte(b, '&') < 0 && bytes.IndexByte(b, '\r') < 0 {
		return string(b), nil
	}
	out, err := AppendUnescaped(make([]byte, 0, len(b)), b)
	return string(out), err
}

// AppendUnescaped appends b, character data or an attribute value as it
// appears in a document, with its references expanded and its line ends
// normalized.
func AppendUnescaped(out, b []byte) ([]byte, error) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '&')
		if i < 0 {
			out = appendLines(out, b)
			break
		}
		out = appendLines(out, b[:i])
		b = b[i:]
		end := bytes.IndexByte(b, ';')
		if end < 0 {
			return out, ErrSyntax
		}
		ref := string(b[1:end])
		b = b[end+1:]
		switch ref {
		case "lt":
			out = append(out, '<')
		case "gt":
			out = append(out, '>')
		case "amp":
			out = append(out, '&')
		case "quot":
			out = append(out, '"')
		case "apos":
			out = append(out, '\'')
		default:
			if len(ref) < 2 || ref[0] != '#' {
				return out, ErrSyntax
			}
			var v uint64
			var err error
			if ref[1] == 'x' {
				v, err = strconv.ParseUint(ref[2:], 16, 32)
			} else {
				v, err = strconv.ParseUint(ref[1:], 10, 32)
			}
			if err != nil || v > utf8.MaxRune {
				return out, ErrSyntax
			}
			out = utf8.AppendRune(out, rune(v))
		}
	}
	return out, nil
}

// appendLines appends b with its line ends normalized.
func appendLines(out, b []byte) []byte {
	for {
		i := bytes.IndexByte(b, '\r')
		if i < 0 {
			return append(out, b...)
		}
		out = append(append(out, b[:i]...), '\n')
		b = b[i+1:]
		if len(b) > 0 && b[0] == '\n' {
			b = b[1:]
		}
	}
}

// Attr returns the value of the attribute with no namespace called local.
func (n *Node) Attr(local string) string {
	for _, a := range n.Attrs {
		if a.Local == local && a.Space == "" {
			return a.Value
		}
	}
	return ""
}

// Child returns the first child called local in namespace space, or nil.
func (n *Node) Child(space, local string) *Node {
	for _, c := range n.Children {
		if c.Local == local && c.Space == space {
			return c
		}
	}
	return nil
}

// SelfContained reports whether every name in the element resolves
// through namespaces it declares itself (or the xml: prefix), so that it
// reads the same taken out of its document, stored or sent on its own.
func (n *Node) SelfContained() bool { return n.outer >= n.base }

// HasText reports whether the element holds character data other than
// whitespace directly (beside its children).
func (n *Node) HasText() bool { return n.hasText }
