package hfbpe

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tokenizerJSON makes a small byte-level BPE tokenizer.json: every byte's
// character in the vocabulary, and merges that build "hello" and " hello".
func tokenizerJSON(t testing.TB, preTokenizer, normalizer string) []byte {
	t.Helper()
	vocab := map[string]int{}
	for b := 0; b < 256; b++ {
		vocab[string(byteLevel[b])] = b
	}
	merges := [][2]string{{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "hello"}}
	for _, m := range merges {
		vocab[m[0]+m[1]] = len(vocab)
	}
	b, err := json.Marshal(map[string]any{
		"version":       "1.0",
		"normalizer":    json.RawMessage(normalizer),
		"pre_tokenizer": json.RawMessage(preTokenizer),
		"model":         map[string]any{"type": "BPE", "vocab": vocab, "merges": merges},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	gpt2Style  = `{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}`
	llamaStyle = `{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]}`
)

// TestCountTokens: the counts of a tokenizer made here, worked out by hand
// from its merges, for both pre-tokenizer styles real files use.
func TestCountTokens(t *testing.T) {
	for _, pre := range []string{gpt2Style, llamaStyle} {
		tok, err := Parse(tokenizerJSON(t, pre, "null"))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			text string
			want int64
		}{
			{"", 0},
			{"hello", 1},
			{"hello hello", 2},  // "hello" + " hello"
			{"hello  hello", 3}, // "hello" + " " + " hello": the look-ahead leaves one space to the word
			{"hellohello", 2},   // one piece, merged into "hello" "hello"
			{"hi", 2},
			{"é", 2}, // two UTF-8 bytes, no merge
		} {
			if got := tok.CountTokens(tc.text); got != tc.want {
				t.Errorf("%s: CountTokens(%q) = %d, want %d", pre[:20], tc.text, got, tc.want)
			}
		}
	}
}

// TestSplitLookahead: `\s+(?!\S)` done by hand gives the pieces the
// original expression gives.
func TestSplitLookahead(t *testing.T) {
	s, err := newSplitter(gpt2Pattern)
	if err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string][]string{
		"a  b":      {"a", " ", " b"},
		"a b":       {"a", " b"},
		"a   ":      {"a", "   "},
		"a\n\n  b":  {"a", "\n\n ", " b"},
		"it's 42!":  {"it", "'s", " 42", "!"},
		"x\u00a0 y": {"x", "\u00a0", " y"}, // U+00A0 is white space to the tokenizers
	} {
		if got := s.split(text, nil); !slices.Equal(got, want) {
			t.Errorf("split(%q) = %q, want %q", text, got, want)
		}
	}
}

// TestUnsupported: a file this package cannot count exactly is refused.
func TestUnsupported(t *testing.T) {
	for name, data := range map[string]string{
		"wordpiece":  `{"model":{"type":"WordPiece","vocab":{"a":0}}}`,
		"metaspace":  string(tokenizerJSON(t, `{"type":"Metaspace","replacement":"▁"}`, "null")),
		"no bytes":   string(tokenizerJSON(t, `{"type":"Digits","individual_digits":true}`, "null")),
		"lookbehind": string(tokenizerJSON(t, `{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"(?<=a)b"},"behavior":"Isolated","invert":false},{"type":"ByteLevel","use_regex":false}]}`, "null")),
		"normalizer": string(tokenizerJSON(t, gpt2Style, `{"type":"Lowercase"}`)),
		"not json":   "{",
	} {
		if _, err := Parse([]byte(data)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// TestLoad: a file on disk, with an NFC normalizer (é as e + combining
// accent is one character after NFC: two bytes, two tokens).
func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := os.WriteFile(path, tokenizerJSON(t, gpt2Style, `{"type":"NFC"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.CountTokens("e\u0301"); got != 2 {
		t.Fatalf("NFC: got %d tokens, want 2", got)
	}
	if got := tok.CountTokens(strings.Repeat("hello ", 1000)); got != 1000+1 {
		t.Fatalf("got %d tokens, want 1001", got) // 1000 words, the trailing space
	}
}
