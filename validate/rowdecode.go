package validate

import (
	"bytes"
	"io"
	"strings"
	"unsafe"

	"github.com/go-json-experiment/json/jsontext"
)

// rowDecoder reads a JSONL row in one pass of the v2 tokenizer: the row's
// fields as raw JSON and, for chat rows, the messages already decoded, so
// that the contents (~95% of a chat row's bytes) are scanned once instead
// of three times (utf8.Valid, the row into raw fields, messages again).
//
// It is a fast path, not a second parser with its own opinions: it accepts
// only rows whose meaning is unambiguous (strict JSON: valid UTF-8, no
// duplicate names; messages as objects with exactly-named string role and
// content). Anything else, well-formed or not, makes decode report false,
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
	dec      jsontext.Decoder
	buf      bytes.Buffer
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
	// A bytes.Buffer is parsed in place by jsontext, without a copy.
	d.buf = *bytes.NewBuffer(line)
	d.dec.Reset(&d.buf)
	if tok, err := d.dec.ReadToken(); err != nil || tok.Kind() != '{' {
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
	for d.dec.PeekKind() == '"' {
		name, err := d.dec.ReadValue()
		if err != nil {
			return nil, false
		}
		key, ok := d.plain(name)
		if !ok {
			return nil, false
		}
		start := d.dec.InputOffset()
		if d.messages && key == "messages" && d.dec.PeekKind() == '[' {
			if f.msgs, ok = d.decodeMessages(); !ok {
				return nil, false
			}
			f.hasMsgs = true
		} else if _, err := d.dec.ReadValue(); err != nil {
			return nil, false
		}
		raw := line[start:d.dec.InputOffset()]
		a.kvs = append(a.kvs, rawField{name: key, raw: bytes.TrimLeft(raw, " \t\r\n:")})
	}
	if tok, err := d.dec.ReadToken(); err != nil || tok.Kind() != '}' {
		return nil, false
	}
	if _, err := d.dec.ReadToken(); err != io.EOF {
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

// decodeMessages reads [{"role": "...", "content": "..."}, ...]; false for
// anything else (a missing or non-string role or content, an element that
// is not an object, a name that encoding/json would match to role or
// content case-insensitively).
func (d *rowDecoder) decodeMessages() ([]message, bool) {
	if _, err := d.dec.ReadToken(); err != nil { // [
		return nil, false
	}
	// The list goes to the end of the slab, as the fields do.
	a := d.a
	start := len(a.msgs)
	for d.dec.PeekKind() == '{' {
		if _, err := d.dec.ReadToken(); err != nil {
			return nil, false
		}
		var m message
		var role, content bool
		for d.dec.PeekKind() == '"' {
			name, err := d.dec.ReadValue()
			if err != nil {
				return nil, false
			}
			var dst *string
			switch string(name) {
			case `"role"`:
				dst, role = &m.Role, true
			case `"content"`:
				dst, content = &m.Content, true
			default:
				if foldsToMessageField(name) {
					return nil, false
				}
				if err := d.dec.SkipValue(); err != nil {
					return nil, false
				}
				continue
			}
			v, err := d.dec.ReadValue()
			if err != nil || v.Kind() != '"' {
				return nil, false
			}
			if *dst, err = d.str(v); err != nil {
				return nil, false
			}
		}
		if tok, err := d.dec.ReadToken(); err != nil || tok.Kind() != '}' || !role || !content {
			return nil, false
		}
		switch {
		case d.est:
			m.tokens, m.counted = CharEstimate{}.CountTokens(m.Content), true
		case d.tok != nil:
			m.tokens, m.counted = d.tok.CountTokens(strings.Clone(m.Content)), true
		}
		a.msgs = append(a.msgs, m)
	}
	if tok, err := d.dec.ReadToken(); err != nil || tok.Kind() != ']' {
		return nil, false
	}
	return a.msgs[start:len(a.msgs):len(a.msgs)], true
}

// plain returns a name without escapes as a view; false otherwise.
func (d *rowDecoder) plain(name jsontext.Value) (string, bool) {
	if bytes.IndexByte(name, '\\') >= 0 {
		return "", false
	}
	return view(name[1 : len(name)-1]), true
}

// str returns a valid JSON string value as a Go string: a view of the row,
// or for a string with escapes its unquoted text in the text slab.
func (d *rowDecoder) str(v jsontext.Value) (string, error) {
	if bytes.IndexByte(v, '\\') < 0 {
		return view(v[1 : len(v)-1]), nil
	}
	// The unquoted text is never longer than the quoted one, so appending
	// to a slab with that much room does not move it.
	a := d.a
	if cap(a.text)-len(a.text) < len(v) {
		a.text = make([]byte, 0, max(slabText, len(v)))
	}
	n := len(a.text)
	var err error
	a.text, err = jsontext.AppendUnquote(a.text, v)
	return view(a.text[n:len(a.text):len(a.text)]), err
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
