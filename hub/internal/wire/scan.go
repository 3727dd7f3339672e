// Package wire reads XMPP stanzas at the byte level (RFC 6120 §4, §11).
//
// A Scanner finds where each top-level element of a stream ends, checks that
// it is well-formed XML within the restrictions of RFC 6120 §11.1 and within
// size and depth limits, and notes where the attributes the router needs are.
// It builds no tree and allocates nothing per stanza, so the hub can forward
// a stanza as the bytes it arrived in, with only its from attribute replaced.
package wire

import "bytes"

// Kind says what a top-level element is.
type Kind uint8

// Kinds of top-level elements.
const (
	KindMessage     Kind = iota + 1
	KindPresence         // <presence/>
	KindIQ               // <iq/>
	KindStreamError      // the peer's <stream:error/>
	KindStreamEnd        // the closing </stream:stream>
	KindNonza            // a stream-level element of stream management (XEP-0198) or client state (XEP-0352)
)

// Namespaces whose top-level elements are nonzas, not stanzas: they are
// neither routed nor counted as stanzas.
var nonzaSpaces = [][]byte{[]byte("urn:xmpp:sm:3"), []byte("urn:xmpp:csi:0")}

// Span is the byte range [Start, End) of a value inside Element.Raw.
// Start < 0 means the value is absent.
type Span struct{ Start, End int }

// absent is the Span of an attribute that is not there.
var absent = Span{-1, -1}

// Element is one complete top-level element. Raw aliases the caller's buffer
// and is valid only until the buffer is reused.
type Element struct {
	Kind     Kind
	Raw      []byte
	NameEnd  int  // offset just past the element name in the start tag
	StartEnd int  // offset just past the start tag
	Empty    bool // the element is a single <x/> tag

	// Attribute values as they appear on the wire (entities not expanded).
	To, From, Type, ID, Lang, NS Span
	// FromAttr and ToAttr cover the whole attribute including the space
	// before it, so that it can be cut out when the hub stamps its own.
	FromAttr, ToAttr Span
}

// Has reports whether the attribute at sp is present.
func (e *Element) Has(sp Span) bool { return sp.Start >= 0 }

// Value returns the raw attribute value at sp, or nil when it is absent.
func (e *Element) Value(sp Span) []byte {
	if sp.Start < 0 {
		return nil
	}
	return e.Raw[sp.Start:sp.End]
}

// Limits bound what one top-level element may cost.
type Limits struct {
	MaxSize  int // bytes in one top-level element
	MaxDepth int // nesting depth; the top-level element is depth 1
	MaxAttrs int // attributes on one element
}

// DefaultLimits are the limits used when a field of Limits is zero.
var DefaultLimits = Limits{MaxSize: 256 << 10, MaxDepth: 48, MaxAttrs: 64}

type span struct{ start, end int }

// nsDecl is a namespace prefix declared inside the current element.
type nsDecl struct {
	prefix, uri span
	level       int
}

// maxNSDecls bounds the prefixes declared in scope: each prefixed name is
// looked up among them.
const maxNSDecls = 32

// The namespace names XML reserves (Namespaces in XML 1.0 §3): nothing but
// the predefined prefixes may be bound to them.
var (
	nsXML   = []byte("http://www.w3.org/XML/1998/namespace")
	nsXMLNS = []byte("http://www.w3.org/2000/xmlns/")
)

// Scanner splits a stream into top-level elements. The zero value is not
// usable; call NewScanner.
//
// Next is given the unconsumed input, which always starts where the previous
// element ended. When it reports that it needs more input, the caller appends
// to the same buffer and calls again; the scanner resumes where it stopped, so
// a stanza trickled in byte by byte costs linear time.
type Scanner struct {
	lim       Limits
	defaultNS []byte

	pos     int // next byte to look at, relative to the element start
	depth   int
	names   []span
	ns      []nsDecl
	attrs   []span
	tagFrom int  // where the search for the current tag's '>' resumes
	quote   byte // quote open at tagFrom
	el      Element
}

// NewScanner returns a scanner for a stream whose stanzas are in namespace
// defaultNS (jabber:client for clients).
func NewScanner(lim Limits, defaultNS string) *Scanner {
	if lim.MaxSize <= 0 {
		lim.MaxSize = DefaultLimits.MaxSize
	}
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = DefaultLimits.MaxDepth
	}
	if lim.MaxAttrs <= 0 {
		lim.MaxAttrs = DefaultLimits.MaxAttrs
	}
	return &Scanner{lim: lim, defaultNS: []byte(defaultNS)}
}

// Limits returns the limits the scanner enforces.
func (s *Scanner) Limits() Limits { return s.lim }

// Next scans buf, which starts at the beginning of the next top-level element
// or of whitespace between elements. It returns the number of bytes consumed
// and, when those bytes form a complete element, that element. (nil, 0, nil)
// means more input is needed. Whitespace between elements is consumed with a
// nil element. A non-nil error is a stream error (*Error); the stream cannot
// continue after it.
func (s *Scanner) Next(buf []byte) (*Element, int, error) {
	if s.pos == 0 {
		i := 0
		for i < len(buf) && isSpace(buf[i]) {
			i++
		}
		if i > 0 {
			return nil, i, nil
		}
		if len(buf) == 0 {
			return nil, 0, nil
		}
		if buf[0] != '<' {
			return nil, 0, notWellFormed("text outside of a stanza")
		}
	}
	for s.pos < len(buf) {
		if s.pos > s.lim.MaxSize {
			return nil, 0, errTooBig
		}
		if buf[s.pos] != '<' {
			more, err := s.text(buf)
			if err != nil {
				return nil, 0, err
			}
			if more {
				break
			}
			continue
		}
		if len(buf)-s.pos < 2 {
			break
		}
		switch buf[s.pos+1] {
		case '!':
			more, err := s.bang(buf)
			if err != nil {
				return nil, 0, err
			}
			if more {
				return nil, 0, s.needMore(buf)
			}
			continue
		case '?':
			return nil, 0, restricted("processing instructions are not allowed")
		}
		gt, ok := s.tagEnd(buf)
		if !ok {
			return nil, 0, s.needMore(buf)
		}
		var done bool
		var err error
		if buf[s.pos+1] == '/' {
			done, err = s.endTag(buf, gt)
		} else {
			done, err = s.startTag(buf, gt)
		}
		if err != nil {
			return nil, 0, err
		}
		s.pos = gt + 1
		if done {
			return s.complete(buf)
		}
	}
	return nil, 0, s.needMore(buf)
}

// needMore reports a policy violation when the incomplete element is already
// over the size limit, and nil otherwise.
func (s *Scanner) needMore(buf []byte) error {
	if len(buf) > s.lim.MaxSize {
		return errTooBig
	}
	return nil
}

// complete finishes the element that ends at s.pos.
func (s *Scanner) complete(buf []byte) (*Element, int, error) {
	end := s.pos
	el := &s.el
	if el.Kind != KindStreamEnd {
		if err := checkChars(buf[:end]); err != nil {
			return nil, 0, err
		}
	}
	el.Raw = buf[:end]
	s.pos, s.depth, s.tagFrom, s.quote = 0, 0, 0, 0
	s.names = s.names[:0]
	s.ns = s.ns[:0]
	return el, end, nil
}

// tagEnd finds the '>' that closes the tag at s.pos, skipping quoted
// attribute values, and remembers how far it got when the input runs out.
func (s *Scanner) tagEnd(buf []byte) (int, bool) {
	i, q := s.pos+1, byte(0)
	if s.tagFrom > i {
		i, q = s.tagFrom, s.quote
	}
	for ; i < len(buf); i++ {
		c := buf[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == '>':
			s.tagFrom, s.quote = 0, 0
			return i, true
		}
	}
	s.tagFrom, s.quote = i, q
	return 0, false
}

var (
	cdataOpen  = []byte("<![CDATA[")
	cdataClose = []byte("]]>")
)

// bang handles markup starting with "<!": CDATA sections are character data;
// comments and document type declarations are restricted (RFC 6120 §11.1).
func (s *Scanner) bang(buf []byte) (more bool, err error) {
	rest := buf[s.pos:]
	if s.depth == 0 || bytes.HasPrefix(rest, []byte("<!-")) {
		return false, restricted("comments and declarations are not allowed")
	}
	if len(rest) < len(cdataOpen) {
		if bytes.HasPrefix(cdataOpen, rest) {
			return true, nil
		}
		return false, restricted("document type declarations are not allowed")
	}
	if !bytes.HasPrefix(rest, cdataOpen) {
		return false, restricted("document type declarations are not allowed")
	}
	from := s.pos + len(cdataOpen)
	if s.tagFrom > from {
		from = s.tagFrom
	}
	i := bytes.Index(buf[from:], cdataClose)
	if i < 0 {
		// Keep the last two bytes: they may begin the closing "]]>".
		s.tagFrom = max(from, len(buf)-2)
		return true, nil
	}
	s.tagFrom = 0
	s.pos = from + i + len(cdataClose)
	return false, nil
}

// text scans character data up to the next '<'. It reports more when the
// input ends first.
func (s *Scanner) text(buf []byte) (more bool, err error) {
	if s.depth == 0 {
		return false, notWellFormed("text outside of a stanza")
	}
	i := s.pos
	for i < len(buf) {
		switch buf[i] {
		case '<':
			s.pos = i
			return false, nil
		case '&':
			n, err := entity(buf[i:])
			if err != nil {
				return false, err
			}
			if n == 0 {
				s.pos = i
				return true, nil
			}
			i += n
		case '>':
			if i >= 2 && buf[i-1] == ']' && buf[i-2] == ']' {
				return false, notWellFormed("']]>' in character data")
			}
			i++
		default:
			i++
		}
	}
	s.pos = i
	return true, nil
}

// startTag parses the start tag buf[s.pos:gt+1]. done is set when it is a
// top-level empty element, which completes the stanza.
func (s *Scanner) startTag(buf []byte, gt int) (done bool, err error) {
	level := s.depth + 1
	if level > s.lim.MaxDepth {
		return false, policy("elements nested too deeply")
	}
	i := s.pos + 1
	nameStart := i
	i = scanName(buf, i, gt)
	if i == nameStart {
		return false, nameError(buf, i, "a tag without a name")
	}
	name := span{nameStart, i}
	if i < gt && buf[i] >= 0x80 {
		return false, nameError(buf, i, "")
	}
	top := level == 1
	if top {
		s.el = Element{
			NameEnd: i, To: absent, From: absent, Type: absent, ID: absent,
			Lang: absent, NS: absent, FromAttr: absent, ToAttr: absent,
		}
	}
	s.attrs = s.attrs[:0]
	empty := false
	for {
		ws := i
		for i < gt && isSpace(buf[i]) {
			i++
		}
		if i == gt {
			break
		}
		if buf[i] == '/' {
			if i+1 != gt {
				return false, notWellFormed("'/' inside a tag")
			}
			empty = true
			break
		}
		if ws == i {
			return false, notWellFormed("attributes must be separated by whitespace")
		}
		aStart := i
		i = scanName(buf, i, gt)
		if i == aStart {
			return false, nameError(buf, i, "bad attribute name")
		}
		aName := span{aStart, i}
		if buf[i] >= 0x80 {
			return false, nameError(buf, i, "")
		}
		for i < gt && isSpace(buf[i]) {
			i++
		}
		if i >= gt || buf[i] != '=' {
			return false, notWellFormed("attribute without a value")
		}
		i++
		for i < gt && isSpace(buf[i]) {
			i++
		}
		if i >= gt || (buf[i] != '"' && buf[i] != '\'') {
			return false, notWellFormed("attribute value not quoted")
		}
		q := buf[i]
		i++
		vStart := i
		for buf[i] != q {
			switch buf[i] {
			case '<':
				return false, notWellFormed("'<' in an attribute value")
			case '&':
				n, err := entity(buf[i:gt])
				if err != nil {
					return false, err
				}
				if n == 0 {
					return false, notWellFormed("unterminated entity reference")
				}
				i += n
				continue
			}
			i++
		}
		value := span{vStart, i}
		i++
		if err := s.attr(buf, aName, value, level, ws); err != nil {
			return false, err
		}
	}
	if err := s.checkPrefixes(buf, name); err != nil {
		return false, err
	}
	if top {
		s.el.Kind, err = s.classify(buf, name)
		if err != nil {
			return false, err
		}
		s.el.StartEnd = gt + 1
		s.el.Empty = empty
	}
	if empty {
		s.popNS(level)
		return top, nil
	}
	s.depth = level
	s.names = append(s.names, name)
	return false, nil
}

// attr records one attribute of the tag being parsed.
func (s *Scanner) attr(buf []byte, name, value span, level, wsStart int) error {
	if len(s.attrs) >= s.lim.MaxAttrs {
		return policy("too many attributes")
	}
	n := buf[name.start:name.end]
	for _, a := range s.attrs {
		if bytes.Equal(buf[a.start:a.end], n) {
			return notWellFormed("duplicate attribute " + string(n))
		}
	}
	s.attrs = append(s.attrs, name)
	if bytes.HasPrefix(n, []byte("xmlns:")) {
		prefix := span{name.start + 6, name.end}
		p, uri := buf[prefix.start:prefix.end], buf[value.start:value.end]
		if len(uri) == 0 {
			return notWellFormed("empty namespace for prefix " + string(p))
		}
		if bytes.Equal(p, []byte("xmlns")) || bytes.Equal(p, []byte("xml")) {
			return notWellFormed("reserved prefix " + string(p))
		}
		if bytes.Equal(uri, nsXML) || bytes.Equal(uri, nsXMLNS) {
			return notWellFormed("prefix " + string(p) + " bound to a reserved namespace")
		}
		if len(s.ns) >= maxNSDecls {
			return policy("too many namespace declarations")
		}
		s.ns = append(s.ns, nsDecl{prefix: prefix, uri: value, level: level})
		return nil
	}
	if bytes.Equal(n, []byte("xmlns")) {
		if uri := buf[value.start:value.end]; bytes.Equal(uri, nsXML) || bytes.Equal(uri, nsXMLNS) {
			return notWellFormed("default namespace bound to a reserved namespace")
		}
	}
	if level != 1 {
		return nil
	}
	v := Span{value.start, value.end}
	switch string(n) {
	case "to":
		s.el.To = v
		s.el.ToAttr = Span{wsStart, value.end + 1}
	case "from":
		s.el.From = v
		s.el.FromAttr = Span{wsStart, value.end + 1}
	case "type":
		s.el.Type = v
	case "id":
		s.el.ID = v
	case "xml:lang":
		s.el.Lang = v
	case "xmlns":
		s.el.NS = v
	}
	return nil
}

// checkPrefixes verifies that the element's and its attributes' prefixes are
// declared. An undeclared prefix would break the stream of every recipient.
func (s *Scanner) checkPrefixes(buf []byte, name span) error {
	if p, ok := prefix(buf[name.start:name.end]); ok && !isDeclared(s.declared(buf, p)) {
		if s.depth == 0 {
			// Top-level prefixes refer to the stream header (stream:error).
			return nil
		}
		return notWellFormed("undeclared namespace prefix " + string(p))
	}
	for i, a := range s.attrs {
		p, ok := prefix(buf[a.start:a.end])
		if !ok || bytes.Equal(p, []byte("xmlns")) || bytes.Equal(p, []byte("xml")) {
			continue
		}
		uri, ok := s.declared(buf, p)
		if !ok {
			return notWellFormed("undeclared namespace prefix " + string(p))
		}
		// Two prefixes bound to one namespace make p:a and q:a the same
		// attribute (Namespaces in XML 1.0 §6.3).
		local := buf[a.start+len(p)+1 : a.end]
		for _, b := range s.attrs[:i] {
			q, ok := prefix(buf[b.start:b.end])
			if !ok || !bytes.Equal(buf[b.start+len(q)+1:b.end], local) {
				continue
			}
			if uri2, ok := s.declared(buf, q); ok && bytes.Equal(buf[uri2.start:uri2.end], buf[uri.start:uri.end]) {
				return notWellFormed("duplicate attribute " + string(local) + " in one namespace")
			}
		}
	}
	return nil
}

// declared returns the namespace bound to prefix p in scope.
func (s *Scanner) declared(buf, p []byte) (span, bool) {
	for i := len(s.ns) - 1; i >= 0; i-- {
		d := s.ns[i].prefix
		if bytes.Equal(buf[d.start:d.end], p) {
			return s.ns[i].uri, true
		}
	}
	return span{}, false
}

func (s *Scanner) popNS(level int) {
	n := len(s.ns)
	for n > 0 && s.ns[n-1].level >= level {
		n--
	}
	s.ns = s.ns[:n]
}

// classify names the top-level element and checks its namespace.
func (s *Scanner) classify(buf []byte, name span) (Kind, error) {
	n := buf[name.start:name.end]
	if p, ok := prefix(n); ok {
		if bytes.Equal(n[len(p)+1:], []byte("error")) {
			return KindStreamError, nil
		}
		return 0, &Error{Condition: "unsupported-stanza-type", Text: "unknown top-level element " + string(n)}
	}
	var k Kind
	switch string(n) {
	case "message":
		k = KindMessage
	case "presence":
		k = KindPresence
	case "iq":
		k = KindIQ
	default:
		if ns := s.el.NS; ns.Start >= 0 {
			for _, sp := range nonzaSpaces {
				if bytes.Equal(buf[ns.Start:ns.End], sp) {
					return KindNonza, nil
				}
			}
		}
		return 0, &Error{Condition: "unsupported-stanza-type", Text: "unknown top-level element " + string(n)}
	}
	if ns := s.el.NS; ns.Start >= 0 && !bytes.Equal(buf[ns.Start:ns.End], s.defaultNS) {
		return 0, &Error{Condition: "invalid-namespace", Text: "stanzas must be in namespace " + string(s.defaultNS)}
	}
	return k, nil
}

// endTag parses the end tag buf[s.pos:gt+1]. done is set when it closes the
// top-level element or the stream itself.
func (s *Scanner) endTag(buf []byte, gt int) (done bool, err error) {
	i := s.pos + 2
	nameStart := i
	i = scanName(buf, i, gt)
	if i == nameStart {
		return false, nameError(buf, i, "an end tag without a name")
	}
	n := buf[nameStart:i]
	if buf[i] >= 0x80 {
		return false, nameError(buf, i, "")
	}
	for i < gt && isSpace(buf[i]) {
		i++
	}
	if i != gt {
		return false, notWellFormed("junk in an end tag")
	}
	if s.depth == 0 {
		local := n
		if p, ok := prefix(n); ok {
			local = n[len(p)+1:]
		}
		if !bytes.Equal(local, []byte("stream")) {
			return false, notWellFormed("unexpected end tag " + string(n))
		}
		s.el = Element{Kind: KindStreamEnd, To: absent, From: absent, Type: absent,
			ID: absent, Lang: absent, NS: absent, FromAttr: absent, ToAttr: absent}
		return true, nil
	}
	open := s.names[len(s.names)-1]
	if !bytes.Equal(buf[open.start:open.end], n) {
		return false, notWellFormed("end tag " + string(n) + " does not match " + string(buf[open.start:open.end]))
	}
	s.names = s.names[:len(s.names)-1]
	s.popNS(s.depth)
	s.depth--
	return s.depth == 0, nil
}

func isDeclared(_ span, ok bool) bool { return ok }

// nameError explains a name the scanner cannot read: non-ASCII names are
// refused by policy (many XML parsers disagree on which characters names may
// hold, and a name one of them refuses would break the recipient's stream).
func nameError(buf []byte, i int, text string) error {
	if i < len(buf) && buf[i] >= 0x80 {
		return policy("element and attribute names must be ASCII")
	}
	return notWellFormed(text)
}

// prefix returns the part of a qualified name before its colon.
func prefix(name []byte) ([]byte, bool) {
	i := bytes.IndexByte(name, ':')
	if i < 0 {
		return nil, false
	}
	return name[:i], true
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// scanName returns the end of the qualified name (NCName, optionally
// prefixed by "NCName:") starting at buf[i], or i when there is none. Names
// are ASCII only (see nameError).
func scanName(buf []byte, i, end int) int {
	start := i
	if i >= end || !nameStart(buf[i]) {
		return start
	}
	i++
	for i < end && nameChar(buf[i]) {
		i++
	}
	if i < end && buf[i] == ':' {
		i++
		if i >= end || !nameStart(buf[i]) {
			return start
		}
		for i < end && nameChar(buf[i]) {
			i++
		}
	}
	if i < end && buf[i] == ':' {
		return start
	}
	return i
}

func nameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func nameChar(c byte) bool {
	return nameStart(c) || c >= '0' && c <= '9' || c == '-' || c == '.'
}
