// Package hfbpe counts tokens with a byte-level BPE tokenizer read from a
// Hugging Face tokenizer.json, the format in which Cohere (Command R's
// tokenizer), Meta (Llama 3) and OpenAI's tokenizers (as published for
// transformers.js) are distributed. It implements validate.Tokenizer, so that
// an operator can make validation count tokens as a real model does
// (`silo serve --tokenizer FILE`) instead of estimating them.
//
// Only what counting needs is implemented: the normalizers NFC, NFKC and
// none; the pre-tokenizers ByteLevel, Split (a regular expression), Digits
// and Sequence of them; the BPE model with its merges (and ignore_merges).
// Added and special tokens are not matched in the text: user data is counted
// as plain text. A file that asks for anything else is refused at load time,
// never silently miscounted.
//
// The pre-tokenizer patterns of these tokenizers use one look-ahead,
// `\s+(?!\S)`, which Go's regexp (RE2) cannot express; it is rewritten to
// `\s+` with its effect applied by hand (a run of white space before a
// non-space gives its last character to the next piece), which makes the
// pieces identical to those of the original expression.
package hfbpe

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Tokenizer counts tokens. It is safe for concurrent use.
type Tokenizer struct {
	normalize func(string) string
	pre       []preTokenizer
	ranks     map[pair]int   // merge → priority (lower merges first)
	vocab     map[string]int // token → id
	ignore    bool           // ignore_merges: a piece in the vocabulary is one token
	cache     sync.Map       // piece → token count (bounded by cacheMax)
	cached    int64
	mu        sync.Mutex
}

type pair struct{ a, b string }

// cacheMax bounds the piece cache: words repeat, so most pieces are counted
// once, but a file of random strings must not grow it without end.
const cacheMax = 1 << 16

// file is the part of tokenizer.json that counting reads.
type file struct {
	Normalizer   json.RawMessage `json:"normalizer"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	Model        struct {
		Type         string            `json:"type"`
		Vocab        map[string]int    `json:"vocab"`
		Merges       []json.RawMessage `json:"merges"`
		IgnoreMerges bool              `json:"ignore_merges"`
		ByteFallback bool              `json:"byte_fallback"`
	} `json:"model"`
}

// Load reads a tokenizer.json file.
func Load(path string) (*Tokenizer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Parse reads the contents of a tokenizer.json file.
func Parse(data []byte) (*Tokenizer, error) {
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not a tokenizer.json: %w", err)
	}
	if f.Model.Type != "BPE" {
		return nil, fmt.Errorf("model type %q is not supported (only BPE)", f.Model.Type)
	}
	if len(f.Model.Vocab) == 0 {
		return nil, fmt.Errorf("the BPE model has no vocabulary")
	}
	t := &Tokenizer{vocab: f.Model.Vocab, ignore: f.Model.IgnoreMerges, ranks: make(map[pair]int, len(f.Model.Merges))}
	for i, m := range f.Model.Merges {
		p, err := parseMerge(m)
		if err != nil {
			return nil, fmt.Errorf("merge %d: %w", i, err)
		}
		if _, dup := t.ranks[p]; !dup {
			t.ranks[p] = i
		}
	}
	var err error
	if t.normalize, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, err
	}
	if t.pre, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	if !hasByteLevel(t.pre) {
		return nil, fmt.Errorf("only byte-level BPE tokenizers are supported (the pre-tokenizer has no ByteLevel step)")
	}
	return t, nil
}

// parseMerge reads a merge written as "a b" (older files) or ["a", "b"].
func parseMerge(raw json.RawMessage) (pair, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		a, b, ok := strings.Cut(s, " ")
		if !ok {
			return pair{}, fmt.Errorf("%q is not two symbols", s)
		}
		return pair{a, b}, nil
	}
	var ab []string
	if err := json.Unmarshal(raw, &ab); err != nil || len(ab) != 2 {
		return pair{}, fmt.Errorf("%s is not a merge", raw)
	}
	return pair{ab[0], ab[1]}, nil
}

func parseNormalizer(raw json.RawMessage) (func(string) string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var n struct {
		Type        string            `json:"type"`
		Normalizers []json.RawMessage `json:"normalizers"`
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	switch n.Type {
	case "NFC":
		return norm.NFC.String, nil
	case "NFKC":
		return norm.NFKC.String, nil
	case "Sequence":
		var fs []func(string) string
		for _, r := range n.Normalizers {
			f, err := parseNormalizer(r)
			if err != nil {
				return nil, err
			}
			if f != nil {
				fs = append(fs, f)
			}
		}
		return func(s string) string {
			for _, f := range fs {
				s = f(s)
			}
			return s
		}, nil
	}
	return nil, fmt.Errorf("normalizer %q is not supported", n.Type)
}

// CountTokens returns the number of tokens the tokenizer makes of s.
func (t *Tokenizer) CountTokens(s string) int64 {
	if t.normalize != nil {
		s = t.normalize(s)
	}
	pieces := []string{s}
	for _, p := range t.pre {
		var next []string
		for _, piece := range pieces {
			next = p.split(piece, next)
		}
		pieces = next
	}
	var n int64
	for _, piece := range pieces {
		n += t.countPiece(piece)
	}
	return n
}

// countPiece runs BPE over one byte-level piece.
func (t *Tokenizer) countPiece(piece string) int64 {
	if piece == "" {
		return 0
	}
	if v, ok := t.cache.Load(piece); ok {
		return v.(int64)
	}
	n := t.bpe(piece)
	t.mu.Lock()
	if t.cached < cacheMax {
		t.cached++
		t.cache.Store(piece, n)
	}
	t.mu.Unlock()
	return n
}

func (t *Tokenizer) bpe(piece string) int64 {
	if t.ignore {
		if _, ok := t.vocab[piece]; ok {
			return 1
		}
	}
	syms := make([]string, 0, utf8.RuneCountInString(piece))
	for _, r := range piece {
		syms = append(syms, string(r))
	}
	for len(syms) > 1 {
		best, at := -1, -1
		for i := 0; i+1 < len(syms); i++ {
			if r, ok := t.ranks[pair{syms[i], syms[i+1]}]; ok && (best < 0 || r < best) {
				best, at = r, i
			}
		}
		if at < 0 {
			break
		}
		// Merge every occurrence of the best pair, left to right, as the
		// reference implementation does.
		a, b := syms[at], syms[at+1]
		out := syms[:0]
		for i := 0; i < len(syms); i++ {
			if i+1 < len(syms) && syms[i] == a && syms[i+1] == b {
				out = append(out, a+b)
				i++
				continue
			}
			out = append(out, syms[i])
		}
		syms = out
	}
	return int64(len(syms))
}

// byteLevel maps each byte to the printable character GPT-2's byte-level
// BPE uses for it (bytes_to_unicode).
var byteLevel = func() [256]rune {
	var m [256]rune
	n := 0
	for b := 0; b < 256; b++ {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF {
			m[b] = rune(b)
		} else {
			m[b] = rune(256 + n)
			n++
		}
	}
	return m
}()

func toByteLevel(s string) string {
	var sb strings.Builder
	sb.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		sb.WriteRune(byteLevel[s[i]])
	}
	return sb.String()
}
