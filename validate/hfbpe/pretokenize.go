package hfbpe

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// preTokenizer splits a piece of text into smaller pieces.
type preTokenizer interface {
	split(piece string, out []string) []string
}

// gpt2Pattern is the expression of the ByteLevel pre-tokenizer's use_regex.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

func parsePreTokenizer(raw json.RawMessage) ([]preTokenizer, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var p struct {
		Type           string            `json:"type"`
		PreTokenizers  []json.RawMessage `json:"pretokenizers"`
		AddPrefixSpace bool              `json:"add_prefix_space"`
		UseRegex       *bool             `json:"use_regex"`
		Pattern        struct {
			Regex  *string `json:"Regex"`
			String *string `json:"String"`
		} `json:"pattern"`
		Behavior         string `json:"behavior"`
		Invert           bool   `json:"invert"`
		IndividualDigits bool   `json:"individual_digits"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	switch p.Type {
	case "Sequence":
		var out []preTokenizer
		for _, r := range p.PreTokenizers {
			ps, err := parsePreTokenizer(r)
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
		}
		return out, nil
	case "ByteLevel":
		var out []preTokenizer
		if p.AddPrefixSpace {
			out = append(out, prefixSpace{})
		}
		if p.UseRegex == nil || *p.UseRegex {
			s, err := newSplitter(gpt2Pattern)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return append(out, byteLevelStep{}), nil
	case "Split":
		if p.Invert && p.Behavior != "Removed" || !p.Invert && p.Behavior != "Isolated" {
			// Both forms that real tokenizers use keep every match as its
			// own piece; other behaviours would need their own code.
			return nil, fmt.Errorf("Split with behavior %q and invert %v is not supported", p.Behavior, p.Invert)
		}
		pattern := ""
		switch {
		case p.Pattern.Regex != nil:
			pattern = *p.Pattern.Regex
		case p.Pattern.String != nil:
			pattern = regexp.QuoteMeta(*p.Pattern.String)
		default:
			return nil, fmt.Errorf("Split has no pattern")
		}
		s, err := newSplitter(pattern)
		if err != nil {
			return nil, err
		}
		return []preTokenizer{s}, nil
	case "Digits":
		return []preTokenizer{digits{individual: p.IndividualDigits}}, nil
	}
	return nil, fmt.Errorf("pre_tokenizer %q is not supported", p.Type)
}

func hasByteLevel(ps []preTokenizer) bool {
	for _, p := range ps {
		if _, ok := p.(byteLevelStep); ok {
			return true
		}
	}
	return false
}

// byteLevelStep maps each piece's bytes to byte-level characters; it comes
// last in every supported tokenizer.
type byteLevelStep struct{}

func (byteLevelStep) split(piece string, out []string) []string {
	return append(out, toByteLevel(piece))
}

type prefixSpace struct{}

func (prefixSpace) split(piece string, out []string) []string {
	if piece != "" && piece[0] != ' ' {
		piece = " " + piece
	}
	return append(out, piece)
}

// digits splits runs of digits from the rest (each digit alone if
// individual), as the Digits pre-tokenizer does.
type digits struct{ individual bool }

func (d digits) split(piece string, out []string) []string {
	start := 0
	prevDigit := false
	for i, r := range piece {
		isDigit := unicode.IsDigit(r)
		if i > start && (isDigit != prevDigit || isDigit && d.individual) {
			out = append(out, piece[start:i])
			start = i
		}
		prevDigit = isDigit
	}
	if start < len(piece) {
		out = append(out, piece[start:])
	}
	return out
}

// lookahead is the one look-ahead alternative real patterns hold.
const lookahead = `\s+(?!\S)`

// splitter cuts a piece at the matches of a pattern; matches and the text
// between them both become pieces (Split's "Isolated", and "Removed" with
// invert, for patterns that match every character, as these do).
type splitter struct {
	re *regexp.Regexp
	// wsGroup is the capture group of the `\s+` alternative that stands in
	// for `\s+(?!\S)|\s+`, or 0.
	wsGroup int
}

func newSplitter(pattern string) (*splitter, error) {
	alts := topLevelAlternatives(pattern)
	var kept []string
	wsAlt := -1
	for i, a := range alts {
		switch {
		case a == lookahead:
			if i+1 >= len(alts) || alts[i+1] != `\s+` {
				return nil, fmt.Errorf("pattern %q: %s is only supported just before \\s+", pattern, lookahead)
			}
			wsAlt = len(kept)
		case strings.Contains(a, "(?=") || strings.Contains(a, "(?!") || strings.Contains(a, "(?<"):
			return nil, fmt.Errorf("pattern %q: look-around is not supported", pattern)
		default:
			kept = append(kept, a)
		}
	}
	var sb strings.Builder
	for i, a := range kept {
		if i > 0 {
			sb.WriteByte('|')
		}
		sb.WriteString("(" + unicodeSpace(a) + ")")
	}
	re, err := regexp.Compile(sb.String())
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	s := &splitter{re: re}
	if wsAlt >= 0 {
		// Each alternative is wrapped in one group; the groups of the
		// alternatives before it come first.
		s.wsGroup = 1
		for _, a := range kept[:wsAlt] {
			sub, err := regexp.Compile(unicodeSpace(a))
			if err != nil {
				return nil, fmt.Errorf("pattern %q: %w", pattern, err)
			}
			s.wsGroup += 1 + sub.NumSubexp()
		}
	}
	return s, nil
}

// spaceClass is Unicode's White_Space, which \s means in the Rust and
// Oniguruma expressions tokenizers are written for; Go's \s is ASCII only.
const spaceClass = `\t\n\v\f\r\x{85}\p{Z}`

// unicodeSpace rewrites \s and \S to their Unicode meaning.
func unicodeSpace(p string) string {
	var sb strings.Builder
	inClass := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p) && (p[i+1] == 's' || p[i+1] == 'S'):
			neg := p[i+1] == 'S'
			switch {
			case inClass && !neg:
				sb.WriteString(spaceClass)
			case inClass:
				sb.WriteString(`\S`) // rare; kept with Go's meaning
			case neg:
				sb.WriteString("[^" + spaceClass + "]")
			default:
				sb.WriteString("[" + spaceClass + "]")
			}
			i++
			continue
		case c == '\\' && i+1 < len(p):
			sb.WriteByte(c)
			sb.WriteByte(p[i+1])
			i++
			continue
		case c == '[' && !inClass:
			inClass = true
		case c == ']' && inClass:
			inClass = false
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// topLevelAlternatives splits a pattern at the '|' outside groups and
// character classes.
func topLevelAlternatives(p string) []string {
	var out []string
	depth, start := 0, 0
	inClass := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\':
			i++
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return append(out, p[start:])
}

// splitWindow bounds each search: Go's regexp runs its fast backtracking
// engine only on short inputs, and a piece of text is a few bytes, so the
// search looks at the next splitWindow bytes, and at the whole rest only
// when a match comes within splitMargin of the window's end (where the cut
// might have changed which alternative matched).
const (
	splitWindow = 128
	splitMargin = 32
)

func (s *splitter) split(piece string, out []string) []string {
	pos := 0
	for pos < len(piece) {
		end := min(len(piece), pos+splitWindow)
		m := s.re.FindStringSubmatchIndex(piece[pos:end])
		if end < len(piece) && (m == nil || m[1] > end-pos-splitMargin) {
			m = s.re.FindStringSubmatchIndex(piece[pos:])
		}
		if m == nil {
			break
		}
		start, end := pos+m[0], pos+m[1]
		if end == start {
			// An empty match: step over one character.
			_, size := utf8.DecodeRuneInString(piece[start:])
			if start > pos {
				out = append(out, piece[pos:start])
			}
			out = append(out, piece[start:start+size])
			pos = start + size
			continue
		}
		if g := s.wsGroup; g > 0 && m[2*g] >= 0 && end < len(piece) {
			// `\s+(?!\S)`: a run of white space followed by a non-space
			// leaves its last character to the next piece, unless it is
			// only that one character (then plain `\s+` takes it).
			r, _ := utf8.DecodeRuneInString(piece[end:])
			if !unicode.IsSpace(r) {
				_, last := utf8.DecodeLastRuneInString(piece[start:end])
				if end-last > start {
					end -= last
				}
			}
		}
		if start > pos {
			out = append(out, piece[pos:start])
		}
		out = append(out, piece[start:end])
		pos = end
	}
	if pos < len(piece) {
		out = append(out, piece[pos:])
	}
	return out
}
