package validate

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Cohere's documented limits for chat fine-tunes ([DOC-CHAT]).
const (
	chatMinTrain       = 2
	chatMaxTurnTokens  = 16384
	chatMaxPreamble    = 2048
	chatPreambleBytes  = 2048 // how much of the preamble the metrics show
	chatTokenListLimit = 20   // conversations listed in the too-many-tokens warning
)

// isChatRole reports whether a message's role is one of Cohere's three (a
// switch: a map lookup hashed every message's role).
func isChatRole(role string) bool {
	switch role {
	case "System", "User", "Chatbot":
		return true
	}
	return false
}

// chatRules check {"messages": [{"role", "content"}]} conversations. A
// leading System message is the preamble; later System messages are
// speakers. Duplicate conversations and conversations with a turn over the
// token limit are dropped, not failed, and counted in Cohere's "not enough
// valid examples" message and warnings.
type chatRules struct {
	seen     [2]*hashSet // per file: train, eval
	long     [2][]string // "conversation:turns" entries of the warning
	longN    [2]int
	preamble string
	tok      Tokenizer
	// rowTokens is the tokens of the row row() last accepted, which add()
	// counts next: a real tokenizer costs more than the rest of a chat
	// row's checks, so each message is tokenized once.
	rowTokens int64
	vals      [1]any // what row() returns
}

func newChatRules(o *Options) *chatRules {
	return &chatRules{seen: [2]*hashSet{newHashSet(), newHashSet()}, tok: o.Tokenizer}
}

func (c *chatRules) row(f *fields, p *partState) ([]any, *rowError) {
	// The decoding workers ran the row's own checks (prepare.go); a row
	// from another source runs them here.
	if !f.prep.done {
		if rerr := c.check(f, p.eval); rerr != nil {
			return nil, rerr
		}
	}
	pr := &f.prep
	i := partIndex(p)
	c.rowTokens = pr.total
	if pr.long > 0 {
		c.longN[i]++
		if len(c.long[i]) < chatTokenListLimit {
			// Cohere numbers conversations from 0 in this warning ([DOC-CHAT]:
			// "the conversation index x (which starts at 0)"); received
			// already counts this row, blank lines excluded.
			c.long[i] = append(c.long[i], fmt.Sprintf("%d:%d", p.received-1, pr.long))
		}
		return nil, &rowError{filtered: true, reason: filteredTokens}
	}
	if !c.seen[i].addHash(pr.key) {
		return nil, &rowError{filtered: true, reason: filteredDup}
	}
	// A pointer to the row's messages in a slice reused row after row: a
	// []message in a new []any was two allocations per row on the run's
	// goroutine. Nothing keeps a row's values past its turn.
	c.vals[0] = &pr.msgs
	return c.vals[:], nil
}

// longTurns counts the turns of a conversation over Cohere's limit. "A turn
// includes all messages up to the Chatbot speaker" ([DOC-CHAT], "Chat
// Customization Best Practices"): the messages since the previous Chatbot
// reply, that reply included. The preamble has its own limit and is in no
// turn; messages after the last reply end no turn, so they are in none.
func longTurns(msgs []message) (long int, total int64) {
	var sum int64
	for i, m := range msgs {
		n := m.tokens // counted where the row was decoded (countTokens)
		total += n
		if i == 0 && m.Role == "System" {
			continue
		}
		sum += n
		if m.Role == "Chatbot" {
			if sum > chatMaxTurnTokens {
				long++
			}
			sum = 0
		}
	}
	return long, total
}

func partIndex(p *partState) int { return evalIndex(p.eval) }

// chatMessages decodes the messages list, requiring string roles and
// contents. The common case takes one decoding pass; only a list that does
// not fit is decoded again to say what is wrong with it.
func chatMessages(f *fields) ([]message, *rowError) {
	if f.hasMsgs {
		return f.msgs, nil
	}
	v, _ := f.get("messages")
	var fast []struct {
		Role    *string `json:"role"`
		Content *string `json:"content"`
	}
	if v.kind() == "array" && v.decode(&fast) {
		msgs := make([]message, len(fast))
		for i, m := range fast {
			if m.Role == nil || m.Content == nil {
				return nil, chatMessageError(v, i)
			}
			msgs[i] = message{Role: *m.Role, Content: *m.Content}
		}
		return msgs, nil
	}
	return nil, chatMessageError(v, -1)
}

// chatMessageError says what is wrong with message i (or, for -1, the first
// wrong one) of a messages field.
func chatMessageError(v value, i int) *rowError {
	var raw []struct {
		Role    json.RawMessage `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if v.kind() != "array" || !v.decode(&raw) {
		return rowErrorf("field messages must be a list of messages with role and content, not %s", v.kind())
	}
	for j, r := range raw {
		if i >= 0 && j != i {
			continue
		}
		if _, ok := (value{raw: r.Role}).str(); !ok {
			return rowErrorf("message %d of field messages has no role string", j+1)
		}
		if _, ok := (value{raw: r.Content}).str(); !ok {
			return rowErrorf("message %d of field messages has no content string", j+1)
		}
	}
	return rowErrorf("field messages must be a list of messages with role and content")
}

// chatRoleRules apply the role rules with Cohere's messages.
func chatRoleRules(msgs []message, eval bool) *rowError {
	var user, bot bool
	for i, m := range msgs {
		if !isChatRole(m.Role) {
			return &rowError{msg: fmt.Sprintf("extra speaker in example: %s (line : {line})", m.Role)}
		}
		user = user || m.Role == "User"
		bot = bot || m.Role == "Chatbot"
		if i == 0 && m.Role == "System" && m.tokens > chatMaxPreamble {
			what := "train preambles are too long"
			if eval {
				what = "preambles are too long" // the eval prefix completes Cohere's wording
			}
			return &rowError{msg: fmt.Sprintf("%s: the preamble has about %d tokens, more than %d (line : {line})",
				what, m.tokens, chatMaxPreamble)}
		}
	}
	if !bot {
		return &rowError{msg: "missing Chatbot in example (line : {line})"}
	}
	if !user {
		return &rowError{msg: "missing User in example (line : {line})"}
	}
	return nil
}

func (c *chatRules) add(b *tally, vals []any, _ *partState) {
	msgs := messagesOf(vals[0])
	b.tokens += c.rowTokens
	for i, m := range msgs {
		if i == 0 && m.Role == "System" {
			if c.preamble == "" {
				// A copy: the content is a view of the row's buffer,
				// which the next rows reuse (rowDecoder).
				c.preamble = strings.Clone(truncate(m.Content, chatPreambleBytes))
			}
			continue
		}
		if m.Role == "Chatbot" {
			b.turns++ // a turn ends with each Chatbot reply (longTurns)
		}
	}
}

func (c *chatRules) finish(r *run) string {
	for i, name := range []string{"train", "eval"} {
		if c.longN[i] > 0 {
			more := ""
			if c.longN[i] > len(c.long[i]) {
				more = fmt.Sprintf(", ... (%d conversations in total)", c.longN[i])
			}
			r.warn.add(fmt.Sprintf("%s dataset has conversations with too many tokens. conversation number: "+
				"number of turns with too many tokens is as follows, %s%s", name, strings.Join(c.long[i], ", "), more))
		}
	}
	train := r.trainPart()
	if train.valid < chatMinTrain {
		tail := ""
		if r.autoSplit {
			tail = " since no eval data was provided"
		}
		return notEnough(train, "train", chatMinTrain, tail)
	}
	return ""
}

func (c *chatRules) metrics(m *finetuneMetrics, r *run) {
	t, e := r.trainEval()
	m.Chat = &chatMetric{NumTrainTurns: t.turns, NumEvalTurns: e.turns, Preamble: c.preamble}
}

// prefetch touches where the rows' conversations will be looked up in
// the duplicate set (prefetcher).
func (c *chatRules) prefetch(rows []decodedRow, eval bool) {
	set := c.seen[0]
	if eval {
		set = c.seen[1]
	}
	for _, r := range rows {
		if r.f != nil && r.f.prep.done && r.f.prep.rerr == nil && r.f.prep.long == 0 {
			set.prefetch(r.f.prep.key)
		}
	}
}

// hashSets lets the run free the duplicate sets' temp files when it ends
// and fail on a spilled page it could not read back (hashset.go).
func (c *chatRules) hashSets() []*hashSet { return c.seen[:] }

var _ setHolder = (*chatRules)(nil)
