package validate

import (
	"bytes"
	"encoding/json"
	"testing"
)

// rowDecoderSeeds are rows at the edges of the fast path: escapes, names
// encoding/json matches case-insensitively, duplicates, nulls, non-objects,
// trailing data.
var rowDecoderSeeds = []string{
	`{"messages":[{"role":"User","content":"日本語 é 😀 and a long ASCII tail past a 32-byte block"},{"role":"Chatbot","content":"\u65e5 x"}]}`,
	`{"messages":[{"role":"User","content":"hi"},{"role":"Chatbot","content":"yo"}]}`,
	`{"messages":[{"role":"User","content":"h\u00e9\n\"q\""},{"content":"x","role":"Chatbot","n":[1,{"a":2}]}]}`,
	`{"messages":[{"Role":"User","content":"hi"}]}`,
	`{"messages":[{"role":"User","ROLE":"Chatbot","content":"hi"}]}`,
	`{"messages":[{"role":"User","con_tent":"hi","content":"x"}]}`,
	`{"messages":[{"role":"User","role":"Chatbot","content":"hi"}]}`,
	`{"messages":[{"role":null,"content":"hi"}]}`,
	`{"messages":[{"role":"User"}]}`,
	`{"messages":["x"]}`,
	`{"messages":null}`,
	`{"messages":[]}`,
	`{"messages":{}}`,
	`{"messages":[{"role":"User","content":"\ud800"}]}`,
	`{"messages":[],"messages":[]}`,
	`{"mess\u0061ges":[{"role":"User","content":"hi"}]}`,
	`{"text":"a","n":1.5e3,"b":true,"o":{"x":[null]}}`,
	` {"text" : "a" , "x":  [1, 2] } `,
	`{"text":"a"} {"text":"b"}`,
	`{"text":"a"}x`,
	`{"text":"a",}`,
	"{\"text\":\"\xff\"}",
	`{"messages":[{"role":"User","content":"hi"}],"title":{"k":"v"}}`,
}

// FuzzRowDecoder checks the one-pass decoder against the decoding it
// replaces: whenever it accepts a row, encoding/json semantics (the v1 mode
// of the slow path) accept it too, with the same fields and messages, and
// the messages' tokens are CharEstimate's count of their contents.
func FuzzRowDecoder(f *testing.F) {
	for _, s := range rowDecoderSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] != '{' {
			return
		}
		d := rowDecoder{messages: true, est: true}
		fast, ok := d.decode(bytes.Clone(line))
		if !ok {
			return
		}
		var slow map[string]json.RawMessage
		if err := unmarshal(line, &slow); err != nil {
			t.Fatalf("fast path accepted what the slow path refuses (%v): %q", err, line)
		}
		if len(slow) != len(fast.kv) {
			t.Fatalf("fields %q, slow path %q", fast.kv, slow)
		}
		for k, v := range slow {
			got, ok := fast.get(k)
			if !ok && !isJSONNull(v) || ok && !bytes.Equal(bytes.TrimSpace(v), got.raw) {
				t.Fatalf("field %q: %q, slow path %q", k, got.raw, v)
			}
		}
		if !fast.hasMsgs {
			return
		}
		want, rerr := chatMessages(&fields{json: slow})
		if rerr != nil {
			t.Fatalf("fast path decoded messages the slow path refuses (%s): %q", rerr.msg, line)
		}
		if len(want) != len(fast.msgs) {
			t.Fatalf("messages %+v, slow path %+v", fast.msgs, want)
		}
		for i, m := range want {
			if got := fast.msgs[i]; got.Role != m.Role || got.Content != m.Content {
				t.Fatalf("message %d: %+v, slow path %+v", i, got, m)
			}
			if got, want := fast.msgs[i].tokens, (CharEstimate{}).CountTokens(m.Content); got != want || !fast.msgs[i].counted {
				t.Fatalf("message %d: %d tokens, CharEstimate counts %d", i, got, want)
			}
		}
	})
}

// TestRowDecoderSlowPath checks that the rows encoding/json reads
// differently from strict JSON are left to it.
func TestRowDecoderSlowPath(t *testing.T) {
	for _, s := range []string{
		`{"messages":[{"Role":"User","content":"hi"}]}`,
		`{"messages":[{"role":"User","role":"Chatbot","content":"hi"}]}`,
		`{"messages":[],"messages":[]}`,
		`{"text":"a"} {"text":"b"}`,
		"{\"text\":\"\xff\"}",
		`{"messages":[{"role":"User","content":"\ud800"}]}`,
	} {
		d := rowDecoder{messages: true}
		if _, ok := d.decode([]byte(s)); ok {
			t.Errorf("fast path took %q", s)
		}
	}
}
