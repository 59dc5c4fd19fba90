package validate

import (
	"strings"
	"unsafe"

	"github.com/go-json-experiment/json/jsontext"
)

// rowDecoder reads a JSONL row in one pass of the scanner (scan.go): the row's
// fields as raw JSON and, for chat rows, the messages already decoded, so
// that the contents (~95% of a chat row's bytes) are scanned once instead
// of three times (utf8.Valid, the row into raw fields, messages again).
//
// It is a fast path, not a second parser with its own opinions: it accepts
// only rows whose meaning is unambiguous (strict JSON: valid UTF-8, no
// control characters in strings; no duplicate names in the row or in a
// message, whose values it reads; messages as objects with exactly-named
// string role and content; escapes that encoding/json reads as strict JSON
// does). Duplicates deeper down do not matter: those values are kept raw,
// byte for byte what the slow path keeps. Anything else, well-formed or not, makes decode report false,
// and the caller decodes the row as before, with encoding/json's acceptance
// and error texts. Strict JSON is a subset of what encoding/json accepts,
// and on that subset both decode to the same values.
//
// The fields, names, roles and contents it returns are views of the row's
// bytes, not copies: a row is ruled on and written to Avro before its
// buffer is reused (the chunker's next call, or the next batch of the
// parallel source), and nothing of a row outlives that (chatRules keeps a
// copy of its preamble). Copying every content into a Go string was ~17%
// of a chat validation's CPU and most of its garbage. What cannot be a view
// (a string with escapes, the rows' fields and message lists) is carved out
// of the arena, which is reused only when the row's buffer is.
type rowDecoder struct {
	messages bool      // also decode the "messages" field
	tok      Tokenizer // counts the messages' tokens, if set
	// est is set when tok is CharEstimate, which keeps nothing of the
	// text: it is given the views. Another tokenizer may keep what it is
	// given (hfbpe caches pieces), so it gets a copy.
	est bool
	// a is where rows are carved out of: the batch's, or the sequential
	// source's; nil makes one.
	a *rowArena
	// prep runs the row's own checks where it is decoded (prepare.go).
	prep func(f *fields, a *rowArena)
}

// slabText is the least a text slab grows by.
const slabText = 32 << 10

// decode returns line's fields, or false when the row must take the slow
// path. The raw values, names and contents alias line.
func (d *rowDecoder) decode(line []byte) (*fields, bool) {
	s := scanner{b: line}
	if !s.eat('{') {
		return nil, false
	}
	if d.a == nil {
		d.a = new(rowArena)
	}
	a := d.a
	f := d.newFields(line)
	// The row's fields go to the end of the slab (which append may move:
	// earlier rows keep the old array).
	n := len(a.kvs)
	if !s.eat('}') {
		for {
			s.space()
			name, esc, ok := s.str()
			if !ok || esc || !s.eat(':') {
				return nil, false
			}
			key := view(name)
			for _, kv := range a.kvs[n:] {
				if kv.name == key {
					return nil, false // encoding/json keeps the last one
				}
			}
			var start int
			if d.messages && key == "messages" && s.peek() == '[' {
				start = s.i
				if f.msgs, ok = d.decodeMessages(&s); !ok {
					return nil, false
				}
				f.hasMsgs = true
			} else {
				s.space()
				start = s.i
				if !s.value(0) {
					return nil, false
				}
			}
			a.kvs = append(a.kvs, rawField{name: key, raw: line[start:s.i]})
			if s.eat(',') {
				continue
			}
			if !s.eat('}') {
				return nil, false
			}
			break
		}
	}
	if s.space(); s.i != len(line) {
		return nil, false // more after the object: let the slow path word the error
	}
	f.kv = a.kvs[n:len(a.kvs):len(a.kvs)]
	return f, true
}

// newFields carves a row's fields out of the arena. A full slab is
// replaced, not grown: the rows carved out of it stay where they are.
func (d *rowDecoder) newFields(line []byte) *fields {
	a := d.a
	if len(a.rows) == cap(a.rows) {
		a.rows = make([]fields, 0, max(64, 2*cap(a.rows)))
	}
	a.rows = append(a.rows, fields{line: line})
	return &a.rows[len(a.rows)-1]
}

// decodeMessages reads [{"role": "...", "content": "..."}, ...] at s.i;
// false for anything else (a missing, repeated or non-string role or
// content, an element that is not an object, a name that encoding/json
// would match to role or content case-insensitively).
func (d *rowDecoder) decodeMessages(s *scanner) ([]message, bool) {
	if !s.eat('[') {
		return nil, false
	}
	// The list goes to the end of the slab, as the fields do.
	a := d.a
	start := len(a.msgs)
	if s.eat(']') {
		return a.msgs[start:start:start], true
	}
	for {
		m, ascii, ok := d.message(s)
		if !ok {
			return nil, false
		}
		switch {
		case d.est && ascii:
			m.tokens, m.counted = charTokens(len(m.Content)), true // a rune a byte
		case d.est:
			m.tokens, m.counted = CharEstimate{}.CountTokens(m.Content), true
		case d.tok != nil:
			m.tokens, m.counted = d.tok.CountTokens(strings.Clone(m.Content)), true
		}
		a.msgs = append(a.msgs, m)
		if s.eat(',') {
			continue
		}
		if !s.eat(']') {
			return nil, false
		}
		return a.msgs[start:len(a.msgs):len(a.msgs)], true
	}
}

// message reads one {"role": "...", "content": "..."} at s.i, and
// whether its content is all ASCII, escapes included.
func (d *rowDecoder) message(s *scanner) (m message, ascii, ok bool) {
	if !s.eat('{') {
		return m, false, false
	}
	var role, content bool
	if !s.eat('}') {
		for {
			s.space()
			q := s.i
			name, _, ok := s.str()
			if !ok || !s.eat(':') {
				return m, false, false
			}
			switch string(name) {
			case "role", "content":
				dst, seen := &m.Role, &role
				if name[0] == 'c' {
					dst, seen = &m.Content, &content
				}
				if *seen || s.peek() != '"' {
					return m, false, false
				}
				*seen = true
				vq := s.i
				body, esc, ok := s.str()
				if !ok {
					return m, false, false
				}
				if dst == &m.Content {
					ascii = s.ascii && !esc // an escape may stand for any rune
				}
				if *dst, ok = d.unquote(body, esc, s.b[vq:s.i]); !ok {
					return m, false, false
				}
			default:
				if foldsToMessageField(s.b[q:q+len(name)+2]) || !s.value(0) {
					return m, false, false
				}
			}
			if s.eat(',') {
				continue
			}
			if !s.eat('}') {
				return m, false, false
			}
			break
		}
	}
	return m, ascii, role && content
}

// unquote returns a string as a Go string: its body as a view of the row,
// or for a string with escapes its unquoted text in the text slab; false
// for an escape that strict JSON refuses and encoding/json reads its own
// way (a lone surrogate). quoted is the string with its quotes.
func (d *rowDecoder) unquote(body []byte, esc bool, quoted []byte) (string, bool) {
	if !esc {
		return view(body), true
	}
	// The unquoted text is never longer than the quoted one, so appending
	// to a slab with that much room does not move it.
	a := d.a
	if cap(a.text)-len(a.text) < len(quoted) {
		a.text = make([]byte, 0, max(slabText, len(quoted)))
	}
	n := len(a.text)
	var err error
	a.text, err = jsontext.AppendUnquote(a.text, quoted)
	return view(a.text[n:len(a.text):len(a.text)]), err == nil
}

// view is b as a string without a copy; b must not change while the
// string is used (rowDecoder says why that holds).
func view(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// foldsToMessageField reports whether a quoted name other than "role" or
// "content" could still match one of them in encoding/json, which matches
// names case-insensitively (and non-ASCII letters may fold to ASCII ones):
// such rows take the slow path.
func foldsToMessageField(quoted []byte) bool {
	name := quoted[1 : len(quoted)-1]
	for _, c := range name {
		if c >= 0x80 || c == '\\' {
			return true
		}
	}
	s := strings.NewReplacer("_", "", "-", "").Replace(string(name))
	return strings.EqualFold(s, "role") || strings.EqualFold(s, "content")
}
