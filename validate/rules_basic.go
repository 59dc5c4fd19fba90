package validate

import (
	"encoding/json"
	"fmt"
	"strings"
)

// text returns a required text field that must be a non-empty string.
func text(f *fields, name string) (string, *rowError) {
	v, _ := f.get(name)
	s, ok := v.str()
	if !ok {
		return "", rowErrorf("field %s must be a string, not %s", name, v.kind())
	}
	if blank(s) {
		return "", rowErrorf("field %s is empty", name)
	}
	return s, nil
}

// embedRules: embed-input rows need a non-empty text ("None of the rows in
// the file can be empty").
type embedRules struct{ tok Tokenizer }

func (*embedRules) row(f *fields, _ *partState) ([]any, *rowError) {
	s, err := text(f, "text")
	if err != nil {
		return nil, err
	}
	return []any{s}, nil
}

func (e *embedRules) add(b *tally, vals []any, _ *partState) {
	b.tokens += e.tok.CountTokens(vals[0].(string))
}
func (*embedRules) finish(*run) string             { return "" }
func (*embedRules) metrics(*finetuneMetrics, *run) {}

// genericRules keep any JSON object whole.
type genericRules struct{}

func (genericRules) row(f *fields, _ *partState) ([]any, *rowError) {
	return []any{compactJSON(f.line)}, nil
}

func (genericRules) add(*tally, []any, *partState)  {}
func (genericRules) finish(*run) string             { return "" }
func (genericRules) metrics(*finetuneMetrics, *run) {}

// batchEmbedRules: batch-embed-v2-input rows are {"custom_id", "body"}, the
// shape of Cohere's batch notebook ([NB-BATCH]); custom_id must be a
// non-empty string and body an object, or the row cannot be kept in the
// part's schema. No Cohere document states more rules: a custom_id used
// twice and a body without a non-empty inputs list are what a batch job
// would trip on, so they are reported as warnings (one per rule, with a
// count and the first lines) and the rows are kept. The body is kept as its
// compact JSON text: its shape is the Embed v2 request's, which a fixed Avro
// schema would only narrow.
type batchEmbedRules struct {
	ids               *hashSet
	dupIDs, noInputs  int64
	dupLine, noInLine []string
}

func newBatchEmbedRules() *batchEmbedRules { return &batchEmbedRules{ids: newHashSet()} }

func (b *batchEmbedRules) row(f *fields, p *partState) ([]any, *rowError) {
	idv, _ := f.get("custom_id")
	id, ok := idv.str()
	if !ok {
		return nil, rowErrorf("field custom_id must be a string, not %s", idv.kind())
	}
	if blank(id) {
		return nil, rowErrorf("field custom_id is empty")
	}
	bv, _ := f.get("body")
	var body struct {
		Inputs []json.RawMessage `json:"inputs"`
	}
	if bv.kind() != "object" || !bv.decode(&body) {
		return nil, rowErrorf("field body must be an object, not %s", bv.kind())
	}
	// p.received is this row's number among the file's rows, from 1.
	if len(body.Inputs) == 0 {
		b.noInputs++
		note(&b.noInLine, p, quote(id))
	}
	if !b.ids.add(id) {
		b.dupIDs++
		note(&b.dupLine, p, quote(id))
	}
	return []any{id, compactJSON(bv.raw)}, nil
}

// note remembers the first few rows a batch warning names.
func note(list *[]string, p *partState, id string) {
	if len(*list) < removedListed {
		where := fmt.Sprintf("row %d", p.received)
		if p.eval {
			where = "eval " + where
		}
		*list = append(*list, id+" ("+where+")")
	}
}

func (b *batchEmbedRules) add(*tally, []any, *partState) {}

func (b *batchEmbedRules) finish(r *run) string {
	if b.dupIDs > 0 {
		r.warn.add(fmt.Sprintf("%s a custom_id that an earlier row already has (%s); "+
			"they were kept, but results are matched to requests by custom_id", rowsHave(b.dupIDs), listed(b.dupLine, b.dupIDs)))
	}
	if b.noInputs > 0 {
		r.warn.add(fmt.Sprintf("%s a body without a non-empty inputs list (%s); "+
			"they were kept, but an Embed v2 request needs inputs", rowsHave(b.noInputs), listed(b.noInLine, b.noInputs)))
	}
	return ""
}

func rowsHave(n int64) string {
	if n == 1 {
		return "1 row has"
	}
	return fmt.Sprintf("%d rows have", n)
}

func listed(l []string, n int64) string {
	s := strings.Join(l, ", ")
	if n > int64(len(l)) {
		s += ", ..."
	}
	return s
}

func (b *batchEmbedRules) metrics(*finetuneMetrics, *run) {}

func (b *batchEmbedRules) hashSets() []*hashSet { return []*hashSet{b.ids} }
