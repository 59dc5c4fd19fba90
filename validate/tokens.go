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
func (CharEstimate) CountTokens(s string) int64 {
	return int64(utf8.RuneCountInString(s)+3) / 4
}
