package hub

import (
	"bytes"
	"encoding/xml"
	"errors"

	"github.com/geohub/geohub/internal/xmlesc"
)

// RFC 7395 framing. A WebSocket client sends and receives one complete XML
// element per message: <open/> and <close/> in the framing namespace stand
// for the stream header and its end, and every element declares its own
// namespaces because no <stream:stream> encloses it. Negotiation (mellium)
// and the session (wire.Scanner) read and write an RFC 6120 byte stream;
// the functions here translate between the two at element boundaries.

const (
	nsFraming  = "urn:ietf:params:xml:ns:xmpp-framing"
	nsStreamNS = "http://etherx.jabber.org/streams"
	nsJabber   = "jabber:client"
)

var errNotOneElement = errors.New("a WebSocket message must hold exactly one complete XML element (RFC 7395 §3.3.3)")

// frameIn translates one message from a client into stream bytes: <open/>
// becomes a stream header, <close/> the end of the stream, and any other
// element passes as it is (its own namespace declarations make it valid
// inside the stream too). A message of whitespace only yields nothing. A
// message that is not one complete element is an error; whether the
// element is well-formed beyond that is for the parser behind to judge.
func frameIn(dst, msg []byte) ([]byte, error) {
	m := bytes.TrimLeft(msg, " \t\r\n")
	m = bytes.TrimRight(m, " \t\r\n")
	if len(m) == 0 {
		return dst, nil
	}
	if len(m) < 2 || m[0] != '<' || m[1] == '/' || m[1] == '!' || m[1] == '?' || elementEnd(m) != len(m) {
		return dst, errNotOneElement
	}
	if !bytes.HasPrefix(m, []byte("<open")) && !bytes.HasPrefix(m, []byte("<close")) {
		return append(dst, m...), nil
	}
	start, ok := framingElement(m)
	switch {
	case !ok:
		return append(dst, m...), nil
	case start.Name.Local == "close":
		return append(dst, "</stream:stream>"...), nil
	}
	dst = append(dst, "<stream:stream xmlns='"+nsJabber+"' xmlns:stream='"+nsStreamNS+"'"...)
	dst = appendStreamAttrs(dst, start)
	return append(dst, '>'), nil
}

// framingElement parses m when it is an <open/> or <close/> of the framing
// namespace.
func framingElement(m []byte) (xml.StartElement, bool) {
	tok, err := xml.NewDecoder(bytes.NewReader(m)).RawToken()
	start, ok := tok.(xml.StartElement)
	if err != nil || !ok || start.Name.Space != "" || start.Name.Local != "open" && start.Name.Local != "close" {
		return xml.StartElement{}, false
	}
	for _, a := range start.Attr {
		if a.Name.Space == "" && a.Name.Local == "xmlns" {
			return start, a.Value == nsFraming
		}
	}
	return xml.StartElement{}, false
}

// appendStreamAttrs copies the attributes a stream header or <open/> may
// carry (RFC 6120 §4.7, RFC 7395 §3.4); namespace declarations are the
// caller's to write.
func appendStreamAttrs(dst []byte, start xml.StartElement) []byte {
	for _, a := range start.Attr {
		switch {
		case a.Name.Space == "" && (a.Name.Local == "to" || a.Name.Local == "from" || a.Name.Local == "id" || a.Name.Local == "version"):
			dst = xmlesc.Attr(dst, a.Name.Local, a.Value)
		case a.Name.Space == "xml" && a.Name.Local == "lang":
			dst = xmlesc.Attr(dst, "xml:lang", a.Value)
		}
	}
	return dst
}

// outUnit is what nextOut found at the start of the hub's output.
type outUnit uint8

const (
	outSkip    outUnit = iota // whitespace or the XML declaration: not sent
	outHeader                 // <stream:stream ...>: sent as <open/>
	outEnd                    // </stream:stream>: sent as <close/>
	outElement                // a complete top-level element
)

var errBadOutput = errors.New("websocket: the hub wrote something that is not an XML element")

// nextOut finds the first unit of b, which the hub wrote (mellium or a
// session: well-formed, apart from the stream header that is never
// closed). n is 0 when b does not hold a complete unit yet.
func nextOut(b []byte) (u outUnit, n int, err error) {
	for n < len(b) && isXMLSpace(b[n]) {
		n++
	}
	if n > 0 || len(b) < 2 {
		return outSkip, n, nil
	}
	switch b[1] {
	case '?':
		if i := bytes.Index(b, []byte("?>")); i >= 0 {
			return outSkip, i + 2, nil
		}
		return outSkip, 0, nil
	case '/':
		if i := bytes.IndexByte(b, '>'); i >= 0 {
			return outEnd, i + 1, nil
		}
		return outSkip, 0, nil
	}
	if b[0] != '<' {
		return outSkip, 0, errBadOutput
	}
	gt := tagEnd(b)
	if gt < 0 {
		return outSkip, 0, nil
	}
	if bytes.Equal(b[1:nameEnd(b)], []byte("stream:stream")) {
		return outHeader, gt + 1, nil
	}
	switch end := elementEnd(b); {
	case end < 0:
		return outSkip, 0, errBadOutput
	case end == 0:
		return outSkip, 0, nil
	default:
		return outElement, end, nil
	}
}

// framer cuts what the hub writes into messages, one per element, however
// the writes split it.
type framer struct {
	pending []byte // written but not yet a complete element
	frame   []byte // the message being built
	opened  bool   // an <open/> went out
}

// write sends each complete unit in p, after what earlier writes left, as
// one message; the rest of an element waits for the next write. On an
// error the unsent output is dropped.
func (f *framer) write(p []byte, send func(msg []byte) error) error {
	b := p
	if len(f.pending) > 0 {
		f.pending = append(f.pending, p...)
		b = f.pending
	}
	off := 0
	for off < len(b) {
		u, n, err := nextOut(b[off:])
		if err != nil {
			f.pending = f.pending[:0]
			return err
		}
		if n == 0 {
			break
		}
		el := b[off : off+n]
		off += n
		var msg []byte
		switch u {
		case outSkip:
			continue
		case outHeader:
			msg = frameOpen(f.frame[:0], el)
			f.opened = true
		case outEnd:
			msg = []byte(frameClose)
		case outElement:
			msg = frameElement(f.frame[:0], el)
		}
		if u != outEnd && &msg[0] != &el[0] && cap(msg) <= maxPooledBuf {
			f.frame = msg[:0] // built in f.frame, perhaps grown: keep it
		}
		if err := send(msg); err != nil {
			f.pending = f.pending[:0]
			return err
		}
	}
	// Keep what did not make an element. append copies forward, so b
	// may be f.pending itself.
	f.pending = append(f.pending[:0], b[off:]...)
	return nil
}

// frameOpen turns the hub's stream header into <open/> (RFC 7395 §3.4).
func frameOpen(dst, header []byte) []byte {
	dst = append(dst, "<open xmlns='"+nsFraming+"'"...)
	if tok, err := xml.NewDecoder(bytes.NewReader(header)).RawToken(); err == nil {
		if start, ok := tok.(xml.StartElement); ok {
			dst = appendStreamAttrs(dst, start)
		}
	}
	return append(dst, "/>"...)
}

const frameClose = "<close xmlns='" + nsFraming + "'/>"

// frameElement returns el as a message: it declares the namespaces it
// relied on the stream header for. A stream-level element (stream:features,
// stream:error) declares the stream prefix; an unprefixed element without
// a namespace of its own is a stanza in jabber:client (RFC 7395 §3.3.3).
// el is returned itself when it needs nothing; otherwise the result is
// built in dst.
func frameElement(dst, el []byte) []byte {
	ne := nameEnd(el)
	name := el[1:ne]
	var decl string
	switch {
	case bytes.HasPrefix(name, []byte("stream:")):
		if !hasAttr(el, ne, "xmlns:stream") {
			decl = " xmlns:stream='" + nsStreamNS + "'"
		}
	case bytes.IndexByte(name, ':') < 0:
		if !hasAttr(el, ne, "xmlns") {
			decl = " xmlns='" + nsJabber + "'"
		}
	}
	if decl == "" {
		return el
	}
	dst = append(dst, el[:ne]...)
	dst = append(dst, decl...)
	return append(dst, el[ne:]...)
}

// elementEnd returns the length of the element that b starts with, 0 when
// b ends before the element does, and -1 when b does not start with a
// start tag or has an end tag too many. It follows only what decides where
// an element ends: tags with their quoted attribute values, CDATA sections,
// comments and processing instructions. It is linear in len(b).
func elementEnd(b []byte) int {
	if len(b) < 2 || b[0] != '<' || b[1] == '/' || b[1] == '!' || b[1] == '?' {
		return -1
	}
	depth, i := 0, 0
	for i < len(b) {
		if b[i] != '<' {
			j := bytes.IndexByte(b[i:], '<')
			if j < 0 {
				return 0
			}
			i += j
		}
		rest := b[i:]
		if len(rest) < 2 {
			return 0
		}
		var skip []byte // what ends a CDATA section, comment or processing instruction
		from := 2       // where that end may start: after the opener
		switch rest[1] {
		case '!':
			switch {
			case bytes.HasPrefix(rest, []byte("<![CDATA[")):
				skip, from = []byte("]]>"), len("<![CDATA[")
			case bytes.HasPrefix(rest, []byte("<!--")):
				skip, from = []byte("-->"), len("<!--")
			case len(rest) < len("<![CDATA[") && (bytes.HasPrefix([]byte("<![CDATA["), rest) || bytes.HasPrefix([]byte("<!--"), rest)):
				return 0
			default:
				return -1
			}
		case '?':
			skip = []byte("?>")
		case '/':
			gt := bytes.IndexByte(rest, '>')
			if gt < 0 {
				return 0
			}
			i += gt + 1
			depth--
			if depth == 0 {
				return i
			}
			continue
		default:
			gt := tagEnd(rest)
			if gt < 0 {
				return 0
			}
			i += gt + 1
			if rest[gt-1] != '/' {
				depth++
			} else if depth == 0 {
				return i
			}
			continue
		}
		j := bytes.Index(rest[from:], skip)
		if j < 0 {
			return 0
		}
		i += from + j + len(skip)
	}
	return 0
}

// tagEnd returns the index of the '>' that ends the tag b starts with,
// skipping quoted attribute values, or -1.
func tagEnd(b []byte) int {
	var q byte
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == '>':
			return i
		}
	}
	return -1
}

// nameEnd returns the end of the element name in the tag b starts with.
func nameEnd(b []byte) int {
	i := 1
	for i < len(b) && !isXMLSpace(b[i]) && b[i] != '/' && b[i] != '>' {
		i++
	}
	return i
}

// hasAttr reports whether the start tag of el, whose name ends at ne, has
// the attribute name. el is the hub's output, hence well-formed.
func hasAttr(el []byte, ne int, name string) bool {
	i := ne
	for i < len(el) {
		for i < len(el) && isXMLSpace(el[i]) {
			i++
		}
		if i >= len(el) || el[i] == '/' || el[i] == '>' {
			return false
		}
		start := i
		for i < len(el) && el[i] != '=' && !isXMLSpace(el[i]) {
			i++
		}
		attr := el[start:i]
		for i < len(el) && el[i] != '\'' && el[i] != '"' {
			i++
		}
		if i >= len(el) {
			return false
		}
		q := el[i]
		j := bytes.IndexByte(el[i+1:], q)
		if j < 0 {
			return false
		}
		i += j + 2
		if string(attr) == name {
			return true
		}
	}
	return false
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
