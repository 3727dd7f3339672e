package component

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// scanner cuts the upstream's stream into its top-level elements, raw,
// for xmlnode to read one at a time. It checks only what it needs to find
// where an element ends: the upstream is an XMPP server that writes
// well-formed XML, authenticated by the shared secret, and xmlnode reads
// every element fully before anything acts on it.
type scanner struct {
	r   *bufio.Reader
	max int // bytes in one element
	buf []byte
}

func newScanner(r io.Reader, max int) *scanner {
	return &scanner{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// errStreamEnd is the upstream closing its stream.
var errStreamEnd = errors.New("component: the upstream closed the stream")

// header reads the stream's start tag, after an XML declaration if any,
// and returns it.
func (s *scanner) header() ([]byte, error) {
	for {
		if err := s.skipSpace(); err != nil {
			return nil, err
		}
		s.buf = s.buf[:0]
		if err := s.tag(); err != nil {
			return nil, err
		}
		if len(s.buf) > 1 && s.buf[1] == '?' {
			continue // <?xml ...?>
		}
		return s.buf, nil
	}
}

// next returns the next top-level element, valid until the next call, or
// errStreamEnd at </stream:stream>.
func (s *scanner) next() ([]byte, error) {
	if err := s.skipSpace(); err != nil {
		return nil, err
	}
	s.buf = s.buf[:0]
	depth := 0
	for {
		start := len(s.buf)
		if err := s.tag(); err != nil {
			return nil, err
		}
		t := s.buf[start:]
		switch {
		case t[1] == '/':
			if depth == 0 {
				return nil, errStreamEnd
			}
			depth--
		case t[1] == '!' || t[1] == '?':
			return nil, fmt.Errorf("component: unexpected %.20q in the stream", t)
		case t[len(t)-2] != '/':
			depth++
		}
		if depth == 0 {
			return s.buf, nil
		}
		if err := s.text(); err != nil {
			return nil, err
		}
	}
}

// skipSpace skips whitespace (keepalives) between elements.
func (s *scanner) skipSpace() error {
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '<':
			return s.r.UnreadByte()
		}
		return fmt.Errorf("component: text %q between elements", c)
	}
}

// tag appends one tag, from '<' to '>', quotes respected.
func (s *scanner) tag() error {
	var quote byte
	for first := true; ; first = false {
		c, err := s.r.ReadByte()
		if err != nil {
			return err
		}
		if first && c != '<' {
			return fmt.Errorf("component: expected a tag, got %q", c)
		}
		if err := s.add(c); err != nil {
			return err
		}
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			if len(s.buf) < 3 {
				return errors.New("component: empty tag")
			}
			return nil
		}
	}
}

// text appends character data up to the next tag.
func (s *scanner) text() error {
	for {
		b, err := s.r.Peek(1)
		if err != nil {
			return err
		}
		if b[0] == '<' {
			return nil
		}
		chunk, _ := s.r.Peek(s.r.Buffered())
		n := 0
		for n < len(chunk) && chunk[n] != '<' {
			n++
		}
		if len(s.buf)+n > s.max {
			return errTooBig
		}
		s.buf = append(s.buf, chunk[:n]...)
		s.r.Discard(n)
	}
}

var errTooBig = errors.New("component: an element from the upstream is over the stanza size limit")

func (s *scanner) add(c byte) error {
	if len(s.buf) >= s.max {
		return errTooBig
	}
	s.buf = append(s.buf, c)
	return nil
}
