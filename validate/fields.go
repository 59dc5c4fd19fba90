package validate

import (
	"bytes"
	"encoding/json"
	"strings"
)

// fields is one input row. A JSONL row keeps its values as raw JSON, so that
// fields nobody keeps are never decoded; a CSV or TXT row holds plain strings.
// A row the one-pass decoder read has its fields in kv (a few fields: a
// search costs less than building a map), one read by encoding/json in json.
type fields struct {
	kv   []rawField
	json map[string]json.RawMessage
	text map[string]string
	line []byte // the JSONL line, for types that keep rows whole
	// msgs is the messages field, already decoded by the row's one pass
	// (rowDecoder) when hasMsgs is set.
	msgs    []message
	hasMsgs bool
	// prep is what a decoding worker already checked (prepare.go).
	prep rowPrep
}

// rawField is one field of a JSONL row, name and value views of the row.
type rawField struct {
	name string
	raw  []byte
}

// value is one field of a row.
type value struct {
	raw    json.RawMessage
	s      string
	isText bool
}

func (f *fields) get(name string) (value, bool) {
	if f.text != nil {
		s, ok := f.text[name]
		return value{s: s, isText: true}, ok
	}
	var raw json.RawMessage
	ok := false
	if f.json != nil {
		raw, ok = f.json[name]
	} else {
		for _, kv := range f.kv {
			if kv.name == name {
				raw, ok = kv.raw, true
				break
			}
		}
	}
	if ok && isJSONNull(raw) {
		// A JSON null is how many exporters write "no value".
		return value{}, false
	}
	return value{raw: raw}, ok
}

func isJSONNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// str returns the value as a string if it is one.
func (v value) str() (string, bool) {
	if v.isText {
		return v.s, true
	}
	raw := bytes.TrimSpace(v.raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	// The row was checked as valid JSON and UTF-8 when it was read, so a
	// string without escapes is its bytes between the quotes: no second
	// decoding pass on the hot path.
	if len(raw) >= 2 && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// scalar returns a string, number or boolean as text: a label written as 3 or
// true is the label "3" or "true".
func (v value) scalar() (string, bool) {
	if s, ok := v.str(); ok {
		return s, true
	}
	raw := bytes.TrimSpace(v.raw)
	if len(raw) == 0 || raw[0] == '{' || raw[0] == '[' || raw[0] == 'n' {
		return "", false
	}
	return string(raw), true
}

// metadata returns the value as metadata fields are stored in Avro: strings
// as they are, any other JSON value as its compact JSON text. A schema must be
// fixed before the first row is read, so metadata cannot take the type of
// whatever the first row happens to hold.
func (v value) metadata() string {
	if s, ok := v.str(); ok {
		return s
	}
	return compactJSON(v.raw)
}

// decode unmarshals a JSON value. A CSV cell is only ever a string.
func (v value) decode(dst any) bool {
	if v.isText {
		return false
	}
	return unmarshal(v.raw, dst) == nil
}

// kind names the JSON kind of v for error messages.
func (v value) kind() string {
	if v.isText {
		return "string"
	}
	raw := bytes.TrimSpace(v.raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func compactJSON(raw []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(bytes.TrimSpace(raw))
	}
	return b.String()
}

// blank reports whether s holds nothing but white space.
func blank(s string) bool { return strings.TrimSpace(s) == "" }
