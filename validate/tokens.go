package validate

import "unicode/utf8"

// Tokenizer counts the tokens of a text: what the chat token limits and
// trainable_token_count are measured in. Options.Tokenizer plugs in a real
// one (validate/hfbpe reads a Hugging Face tokenizer.json; `silo serve
// --tokenizer FILE`); the default is CharEstimate. Implementations must be
// safe for concurrent use: one Validator serves concurrent validations.
type Tokenizer interface {
	CountTokens(s string) int64
}

// CharEstimate estimates a text's tokens as one per four characters (runes),
// rounded up: the usual rule of thumb for English with Cohere's and OpenAI's
// tokenizers, which needs no model file and costs one pass over the text.
// Against real byte-level BPE tokenizers it counts 2–9% too few tokens for
// English prose and 11–12% too few for source code (README.md, "Tokens"), so
// a text a little over a limit may pass with it.
type CharEstimate struct{}

// CountTokens returns ⌈runes/4⌉.
func (CharEstimate) CountTokens(s string) int64 { return charTokens(runeCount(s)) }

// charTokens is CharEstimate's count for a text of n runes.
func charTokens(n int) int64 { return int64(n+3) / 4 }

// runeCount is utf8.RuneCountInString (invalid bytes count one each), 16
// bytes at a step through ASCII: that loop decodes rune by rune, and was
// ~9% of a chat validation's CPU for text that is mostly ASCII.
func runeCount(s string) int {
	n := 0
	for len(s) > 0 {
		for len(s) >= 16 && (word(s)|word(s[8:]))&0x8080808080808080 == 0 {
			s, n = s[16:], n+16
		}
		if len(s) == 0 {
			break
		}
		if s[0] < utf8.RuneSelf {
			s, n = s[1:], n+1
			continue
		}
		_, size := utf8.DecodeRuneInString(s)
		s, n = s[size:], n+1
	}
	return n
}

// word is s's first 8 bytes, little-endian (one load once compiled).
func word(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
