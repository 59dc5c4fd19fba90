package validate

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// kind is the Avro type of a kept field.
type kind int

const (
	kString    kind = iota // "string"
	kStrings               // {"type":"array","items":"string"}
	kMessages              // array of Message records {role, content}
	kOptString             // ["null","string"], default null: optional_fields
	// The types a kept metadata column takes when one JSON type holds for
	// all its values (metacols.go); with opt, ["null", T].
	kLong   // "long": JSON integers
	kDouble // "double": other JSON numbers
	kBool   // "boolean"
)

// field is one column of the dataset's Avro schema.
type field struct {
	name string
	kind kind
	opt  bool // ["null", kind] with default null: an optional_field
}

// message is one turn of a chat-finetune-input conversation.
type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// tokens is Content's token count once counted is set: counted once per
	// message, where the row is decoded (on the decoding workers when rows
	// are decoded in parallel), for every rule that needs it.
	tokens  int64
	counted bool
}

// countTokens fills in the token counts not counted yet.
func countTokens(msgs []message, tok Tokenizer) {
	for i := range msgs {
		if !msgs[i].counted {
			msgs[i].tokens, msgs[i].counted = tok.CountTokens(msgs[i].Content), true
		}
	}
}

// avroSchema returns the record schema of the kept fields as a JSON string,
// the form Cohere puts in the dataset's schema field and the Python SDK
// parses with json.loads.
func avroSchema(fs []field) string {
	type avroField struct {
		Name    string `json:"name"`
		Type    any    `json:"type"`
		Default any    `json:"default,omitempty"`
	}
	out := make([]avroField, 0, len(fs))
	for _, f := range fs {
		af := avroField{Name: f.name}
		switch f.kind {
		case kString:
			af.Type = "string"
		case kStrings:
			af.Type = arrayOf("string")
		case kMessages:
			af.Type = arrayOf(json.RawMessage(`{"type":"record","name":"Message","fields":[` +
				`{"name":"role","type":"string"},{"name":"content","type":"string"}]}`))
		case kOptString:
			af.Type = []string{"null", "string"}
			af.Default = json.RawMessage("null")
		case kLong:
			af.Type = "long"
		case kDouble:
			af.Type = "double"
		case kBool:
			af.Type = "boolean"
		}
		if f.opt {
			af.Type = []any{"null", af.Type}
			af.Default = json.RawMessage("null")
		}
		out = append(out, af)
	}
	b, _ := json.Marshal(struct {
		Type      string      `json:"type"`
		Name      string      `json:"name"`
		Namespace string      `json:"namespace"`
		Fields    []avroField `json:"fields"`
	}{"record", "Row", "silo", out})
	return string(b)
}

func arrayOf(items any) any {
	return struct {
		Type  string `json:"type"`
		Items any    `json:"items"`
	}{"array", items}
}

// validAvroName reports whether s can name an Avro field
// ([A-Za-z_][A-Za-z0-9_]*). Other names would make the schema unreadable to
// every Avro library, so a dataset that asks to keep one fails instead.
func validAvroName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9'
		if !ok {
			return false
		}
	}
	return true
}

// appendRow appends the Avro binary encoding of one row. Encoding by hand
// (the format is a handful of varints and byte strings) avoids reflection on
// every row; the OCF container around it is hamba/avro's, and the tests read
// the result back with two independent decoders.
func appendRow(b []byte, fs []field, vals []any) []byte {
	for i, f := range fs {
		if f.opt {
			if vals[i] == nil {
				b = binary.AppendVarint(b, 0)
				continue
			}
			b = binary.AppendVarint(b, 1)
		}
		switch f.kind {
		case kString:
			b = appendString(b, vals[i].(string))
		case kStrings:
			ss := vals[i].([]string)
			if len(ss) > 0 {
				b = binary.AppendVarint(b, int64(len(ss)))
				for _, s := range ss {
					b = appendString(b, s)
				}
			}
			b = binary.AppendVarint(b, 0)
		case kMessages:
			b = appendMessages(b, messagesOf(vals[i]))
		case kOptString:
			if s, ok := vals[i].(string); ok {
				b = binary.AppendVarint(b, 1)
				b = appendString(b, s)
			} else {
				b = binary.AppendVarint(b, 0)
			}
		case kLong:
			b = binary.AppendVarint(b, vals[i].(int64))
		case kDouble:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(vals[i].(float64)))
		case kBool:
			if vals[i].(bool) {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		}
	}
	return b
}

// messagesOf is a messages value of a row: a []message, or a pointer to
// one (chatRules.row).
func messagesOf(v any) []message {
	if p, ok := v.(*[]message); ok {
		return *p
	}
	return v.([]message)
}

// appendMessages writes an array of Message records: one block of them,
// then the empty block that ends an Avro array.
func appendMessages(b []byte, ms []message) []byte {
	if len(ms) > 0 {
		b = binary.AppendVarint(b, int64(len(ms)))
		for _, m := range ms {
			b = appendString(b, m.Role)
			b = appendString(b, m.Content)
		}
	}
	return binary.AppendVarint(b, 0)
}

// appendString writes an Avro string: its zig-zag length, then its bytes
// (binary.AppendVarint is exactly Avro's zig-zag varint).
func appendString(b []byte, s string) []byte {
	b = binary.AppendVarint(b, int64(len(s)))
	return append(b, s...)
}

// sampleJSON renders a kept row as a JSON object in schema order, cut to max
// bytes: samples are shown to people and stored with the dataset's metadata,
// so a 16 MiB row must not become a 16 MiB sample.
func sampleJSON(fs []field, vals []any, max int) string {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			sb.WriteByte(',')
		}
		k, _ := json.Marshal(f.name)
		v, err := json.Marshal(vals[i])
		if err != nil {
			v = []byte(fmt.Sprintf("%q", fmt.Sprint(vals[i])))
		}
		sb.Write(k)
		sb.WriteByte(':')
		sb.Write(v)
		if sb.Len() > max {
			break
		}
	}
	sb.WriteByte('}')
	return truncate(sb.String(), max)
}

// truncate cuts s to at most max bytes on a rune boundary, marking the cut.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const mark = "…"
	cut := max - len(mark)
	if cut < 0 {
		cut = 0
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// hasMessages reports whether the type keeps chat messages, whose rows are
// then decoded with their messages in one pass.
func (l *layout) hasMessages() bool {
	for _, f := range l.fields[:l.nType] {
		if f.kind == kMessages {
			return true
		}
	}
	return false
}
