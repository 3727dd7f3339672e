// Package jsonw appends JSON objects byte for byte as encoding/json
// writes them, without reflection, for the records every fix writes
// (a device's latest position, a pubsub item), where json.Marshal took a
// tenth of the database writer's time.
package jsonw

import (
	"errors"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// ErrNotJSON is a number or time JSON cannot hold (NaN, ±Inf, a year past
// 9999); json.Marshal refuses them too.
var ErrNotJSON = errors.New("a number or time JSON cannot hold")

// Object appends the members of an object to B, which holds its '{'. Err
// is the first value JSON cannot hold.
type Object struct {
	B   []byte
	Err error
}

// scratch holds objects to build records in: a record appended to nil
// grows its buffer several times before it is copied into a string.
var scratch = sync.Pool{New: func() any { return &Object{B: make([]byte, 0, 1024)} }}

// String returns what appendTo appends to an empty buffer, as a string:
// the buffer is pooled, so the string is the one allocation.
func String(appendTo func([]byte) []byte) string {
	w := scratch.Get().(*Object)
	w.B = appendTo(w.B[:0])
	s := string(w.B)
	release(w)
	return s
}

// Record returns the object whose members fill writes, as a string, built
// as String builds it, and the first value JSON could not hold.
func Record(fill func(*Object)) (string, error) {
	w := scratch.Get().(*Object)
	w.B, w.Err = append(w.B[:0], '{'), nil
	fill(w)
	w.B = append(w.B, '}')
	s, err := string(w.B), w.Err
	release(w)
	return s, err
}

// release pools w again, unless a rare large record grew it.
func release(w *Object) {
	if cap(w.B) <= 64<<10 {
		scratch.Put(w)
	}
}

// Name starts a member.
func (w *Object) Name(n string) {
	if w.B[len(w.B)-1] != '{' { // not the object's first member
		w.B = append(w.B, ',')
	}
	w.B = append(append(append(w.B, '"'), n...), `":`...)
}

// Str is a string member.
func (w *Object) Str(n, v string) {
	w.Name(n)
	w.B = AppendString(w.B, v)
}

// OptStr is a string member left out when empty (omitempty).
func (w *Object) OptStr(n, v string) {
	if v != "" {
		w.Str(n, v)
	}
}

// Num is a number member.
func (w *Object) Num(n string, v float64) {
	w.Name(n)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		w.Err = ErrNotJSON
		v = 0
	}
	format, abs := byte('f'), math.Abs(v)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e' // as encoding/json, so no number is hundreds of digits long
	}
	w.B = strconv.AppendFloat(w.B, v, format, -1, 64)
	if n := len(w.B); format == 'e' && w.B[n-4] == 'e' && w.B[n-3] == '-' && w.B[n-2] == '0' {
		w.B[n-2], w.B = w.B[n-1], w.B[:n-1] // 1e-07 as 1e-7, as encoding/json
	}
}

// OptNum is a number member left out when nil.
func (w *Object) OptNum(n string, v *float64) {
	if v != nil {
		w.Num(n, *v)
	}
}

// Time is a time member, RFC 3339 with nanoseconds as time.Time writes it.
func (w *Object) Time(n string, t time.Time) {
	w.Name(n)
	if y := t.Year(); y < 0 || y > 9999 {
		w.Err = ErrNotJSON
	}
	w.B = append(t.AppendFormat(append(w.B, '"'), time.RFC3339Nano), '"')
}

const hex = "0123456789abcdef"

// plain holds the ASCII bytes a JSON string takes as they are.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// AppendString appends s quoted as json.Marshal does: <, > and & escaped
// for HTML, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, `\b`...)
			case '\f':
				b = append(b, `\f`...)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case utf8.RuneError:
				b = append(b, `\ufffd`...)
			default:
				b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(append(b, s[start:]...), '"')
}
