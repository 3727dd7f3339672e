package hub

// spaceFilter follows the element depth of the bytes a client sends during
// stream negotiation, so that negConn can drop whitespace between top-level
// elements. RFC 6120 §11.7 allows it there (and §4.6.1 uses it for
// keepalives), but mellium's server-side feature negotiation reads the next
// token and fails on character data (mellium trap 12), which ends the stream
// of go-xmpp clients such as go-sendxmpp: they write a newline after their
// stream header, after <starttls/> and after </auth>.
//
// It is a byte-level state machine, not a parser: the XML decoder above it
// still judges what is well-formed. It tracks tags, quoted attribute values,
// processing instructions, comments and CDATA sections only to know the
// depth; a stream header (any start tag named stream or *:stream) sets the
// depth to 1, which covers the stream restarts after STARTTLS and SASL.
type spaceFilter struct {
	depth int
	state filterState
	quote byte // the quote of the attribute value being read
	prev  byte // previous byte inside the tag, to spot "/>", "?>", "--", "]]"
	prev2 byte
	name  [16]byte // the first bytes of a start tag's name
	nlen  int
	named bool // the name is complete
}

type filterState uint8

const (
	inText     filterState = iota
	tagOpened              // just read '<'
	inStartTag             // <name attr='v' ...
	inAttr                 // inside a quoted attribute value
	inEndTag               // </name
	inPI                   // <? ... ?>
	inMarkup               // <! ... (a declaration, a comment or CDATA)
	inComment              // <!-- ... -->
	inCDATA                // <![CDATA[ ... ]]>
)

// keep reports whether b is passed on: false for whitespace between
// top-level elements (and before the stream header).
func (f *spaceFilter) keep(b byte) bool {
	switch f.state {
	case inText:
		if b == '<' {
			f.state, f.nlen, f.named, f.prev, f.prev2 = tagOpened, 0, false, 0, 0
			return true
		}
		return f.depth > 1 || !isSpace(b)
	case tagOpened:
		switch b {
		case '/':
			f.state = inEndTag
		case '?':
			f.state = inPI
		case '!':
			f.state = inMarkup
		default:
			f.state = inStartTag
			f.addName(b)
		}
	case inStartTag:
		switch {
		case b == '"' || b == '\'':
			f.state, f.quote, f.named = inAttr, b, true
		case b == '>':
			f.state = inText
			switch {
			case f.isStreamHeader():
				f.depth = 1
			case f.prev != '/':
				f.depth++
			}
		case isSpace(b) || b == '/':
			f.named = true
		default:
			f.addName(b)
		}
	case inAttr:
		if b == f.quote {
			f.state = inStartTag
		}
	case inEndTag:
		if b == '>' {
			f.state = inText
			if f.depth > 0 {
				f.depth--
			}
		}
	case inPI:
		if b == '>' && f.prev == '?' {
			f.state = inText
		}
	case inMarkup:
		switch {
		case b == '-' && f.prev == '-':
			f.state = inComment
			b = 0 // "<!--->" does not end the comment
		case b == '[' && f.prev == '!':
			f.state = inCDATA // "<![CDATA[": the rest of the opener is content to skip
		case b == '>':
			f.state = inText
		}
	case inComment:
		if b == '>' && f.prev == '-' && f.prev2 == '-' {
			f.state = inText
		}
	case inCDATA:
		if b == '>' && f.prev == ']' && f.prev2 == ']' {
			f.state = inText
		}
	}
	f.prev2, f.prev = f.prev, b
	return true
}

func (f *spaceFilter) addName(b byte) {
	if f.named {
		return
	}
	if f.nlen == len(f.name) {
		f.named = true
		return
	}
	f.name[f.nlen] = b
	f.nlen++
}

func (f *spaceFilter) isStreamHeader() bool {
	n := string(f.name[:f.nlen])
	return n == "stream" || len(n) > len(":stream") && n[len(n)-len(":stream"):] == ":stream"
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }
