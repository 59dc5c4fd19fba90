package validate

import (
	"unicode/utf8"
)

// scanner reads strict JSON out of one row in place, for the fast path of
// rowDecoder: it never copies and never allocates, and it says no to
// anything it is not sure of, for the slow path (encoding/json semantics)
// to decide. Strict means RFC 8259 with valid UTF-8 and no control
// characters in strings, as encoding/json reads it; nesting deeper than
// maxScanDepth is left to the slow path too.
//
// It exists for speed: the contents of a chat row are ~95% of its bytes,
// and jsontext's string scan looks at them one byte at a time (a fifth of
// a chat validation's CPU); str looks at 32 at a time (indexSpecial).
type scanner struct {
	b     []byte
	i     int  // the next byte to read
	ascii bool // the last string str read had only ASCII bytes
}

const maxScanDepth = 256

// space skips white space.
func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// eat skips white space, then c if it comes next, and reports whether it
// did.
func (s *scanner) eat(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// peek skips white space and returns the next byte, 0 at the end.
func (s *scanner) peek() byte {
	s.space()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str reads the string that starts at s.i (its quote) and returns its
// bytes between the quotes, and whether they hold escapes (the caller
// unquotes those). Escapes are checked for form only: a \u escape of a
// lone surrogate passes, since the caller's unquoting, or encoding/json's
// reading of a raw value, decides what it means. s.ascii says whether the
// body was all ASCII (a tokenizer that counts runes may then use its
// length).
//
// The bytes are checked in one pass (indexSpecial, 32 at a time); only
// escapes and non-ASCII runes are looked at one by one.
func (s *scanner) str() (body []byte, esc, ok bool) {
	b := s.b
	if s.i >= len(b) || b[s.i] != '"' {
		return nil, false, false
	}
	start := s.i + 1
	s.ascii = true
	for i := start; ; {
		p := i + indexSpecial(b[i:])
		if p == len(b) {
			return nil, false, false
		}
		switch c := b[p]; {
		case c == '"':
			s.i = p + 1
			return b[start:p], esc, true
		case c == '\\':
			n := escapeLen(b[p:])
			if n == 0 {
				return nil, false, false
			}
			esc, i = true, p+n
		case c < 0x20:
			return nil, false, false
		default:
			// A run of runes (never a quote's byte), decoded one by one.
			s.ascii = false
			for p < len(b) && b[p] >= utf8.RuneSelf {
				r, n := utf8.DecodeRune(b[p:])
				if r == utf8.RuneError && n == 1 {
					return nil, false, false
				}
				p += n
			}
			i = p
		}
	}
}

// escapeLen returns the length of the escape at the start of b, 0 if it
// is not one.
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if len(b) < 6 {
			return 0
		}
		for _, c := range b[2:6] {
			if !isHex(c) {
				return 0
			}
		}
		return 6
	}
	return 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// value skips the value at s.i (after white space), checking it.
func (s *scanner) value(depth int) bool {
	switch s.peek() {
	case '"':
		_, _, ok := s.str()
		return ok
	case '{':
		if depth >= maxScanDepth {
			return false
		}
		s.i++
		if s.eat('}') {
			return true
		}
		for {
			s.space()
			if _, _, ok := s.str(); !ok || !s.eat(':') || !s.value(depth+1) {
				return false
			}
			if s.eat(',') {
				continue
			}
			return s.eat('}')
		}
	case '[':
		if depth >= maxScanDepth {
			return false
		}
		s.i++
		if s.eat(']') {
			return true
		}
		for {
			if !s.value(depth + 1) {
				return false
			}
			if s.eat(',') {
				continue
			}
			return s.eat(']')
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return s.number()
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *scanner) number() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return false
		}
		i = j
	}
	s.i = i
	return true
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
