package validate

import (
	"bytes"
	"encoding/binary"
	"math/bits"
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
// a chat validation's CPU); str looks at eight at a time.
type scanner struct {
	b []byte
	i int // the next byte to read
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

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// firstSpecial returns the index of b's first backslash, control
// character or non-ASCII byte, or len(b): eight bytes at a time, since
// string bodies are most of a chat row's bytes.
func firstSpecial(b []byte) int {
	const bs = ones * '\\'
	// A byte's high bit is set if it is < 0x20 (subtracting 0x20
	// borrows), >= 0x80, or a backslash (w^bs is zero there). A borrow can
	// set bits above a true one, never below: the lowest set bit is the
	// first special byte.
	mask := func(w uint64) uint64 { return ((w - ones*0x20) | w | ((w^bs)-ones)&^(w^bs)) & highs }
	i := 0
	for ; i+16 <= len(b); i += 16 {
		m, n := mask(binary.LittleEndian.Uint64(b[i:])), mask(binary.LittleEndian.Uint64(b[i+8:]))
		if m|n != 0 {
			if m != 0 {
				return i + bits.TrailingZeros64(m)>>3
			}
			return i + 8 + bits.TrailingZeros64(n)>>3
		}
	}
	for ; i+8 <= len(b); i += 8 {
		if m := mask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c >= utf8.RuneSelf || c == '\\' {
			return i
		}
	}
	return i
}

// str reads the string that starts at s.i (its quote) and returns its
// bytes between the quotes, and whether they hold escapes (the caller
// unquotes those). Escapes are checked for form only: a \u escape of a
// lone surrogate passes, since the caller's unquoting, or encoding/json's
// reading of a raw value, decides what it means.
//
// The closing quote is found with IndexByte (vectorised), the bytes before
// it checked a word at a time; only escapes and non-ASCII runes are looked
// at one by one.
func (s *scanner) str() (body []byte, esc, ok bool) {
	b := s.b
	if s.i >= len(b) || b[s.i] != '"' {
		return nil, false, false
	}
	start := s.i + 1
	for i := start; ; {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return nil, false, false
		}
		q += i
		for i <= q {
			p := i + firstSpecial(b[i:q])
			if p == q {
				s.i = q + 1
				return b[start:q], esc, true
			}
			switch c := b[p]; {
			case c == '\\':
				n := escapeLen(b[p:])
				if n == 0 {
					return nil, false, false
				}
				esc, i = true, p+n // past q if it escaped the quote at q
			case c < 0x20:
				return nil, false, false
			default: // a rune's bytes are never a quote
				r, n := utf8.DecodeRune(b[p:q])
				if r == utf8.RuneError && n == 1 {
					return nil, false, false
				}
				i = p + n
			}
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
