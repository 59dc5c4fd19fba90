package validate

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"

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
type rowDecoder struct {
	dec      jsontext.Decoder
	buf      bytes.Buffer
	messages bool      // also decode the "messages" field
	tok      Tokenizer // counts the messages' tokens, if set
	scratch  []byte    // unquoting strings that hold escapes
}

// decode returns line's fields, or false when the row must take the slow
// path. The raw values alias line.
func (d *rowDecoder) decode(line []byte) (*fields, bool) {
	// A bytes.Buffer is parsed in place by jsontext, without a copy.
	d.buf = *bytes.NewBuffer(line)
	d.dec.Reset(&d.buf)
	if tok, err := d.dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, false
	}
	f := &fields{json: make(map[string]json.RawMessage, 2), line: line}
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
		f.json[key] = bytes.TrimLeft(raw, " \t\r\n:")
	}
	if tok, err := d.dec.ReadToken(); err != nil || tok.Kind() != '}' {
		return nil, false
	}
	if _, err := d.dec.ReadToken(); err != io.EOF {
		return nil, false // more after the object: let the slow path word the error
	}
	return f, true
}

// decodeMessages reads [{"role": "...", "content": "..."}, ...]; false for
// anything else (a missing or non-string role or content, an element that
// is not an object, a name that encoding/json would match to role or
// content case-insensitively).
func (d *rowDecoder) decodeMessages() ([]message, bool) {
	if _, err := d.dec.ReadToken(); err != nil { // [
		return nil, false
	}
	msgs := make([]message, 0, 4)
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
		if d.tok != nil {
			m.tokens, m.counted = d.tok.CountTokens(m.Content), true
		}
		msgs = append(msgs, m)
	}
	if tok, err := d.dec.ReadToken(); err != nil || tok.Kind() != ']' {
		return nil, false
	}
	return msgs, true
}

// plain returns a name without escapes as a string; false otherwise.
func (d *rowDecoder) plain(name jsontext.Value) (string, bool) {
	if bytes.IndexByte(name, '\\') >= 0 {
		return "", false
	}
	return string(name[1 : len(name)-1]), true
}

// str returns a valid JSON string value as a Go string. The roles every
// chat row repeats come back without an allocation.
func (d *rowDecoder) str(v jsontext.Value) (string, error) {
	if bytes.IndexByte(v, '\\') < 0 {
		switch s := v[1 : len(v)-1]; string(s) {
		case "User":
			return "User", nil
		case "Chatbot":
			return "Chatbot", nil
		case "System":
			return "System", nil
		default:
			return string(s), nil
		}
	}
	var err error
	d.scratch, err = jsontext.AppendUnquote(d.scratch[:0], v)
	return string(d.scratch), err
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
