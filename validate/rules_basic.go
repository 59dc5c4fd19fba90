package validate

import "encoding/json"

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
type embedRules struct{}

func (embedRules) row(f *fields, _ *partState) ([]any, *rowError) {
	s, err := text(f, "text")
	if err != nil {
		return nil, err
	}
	return []any{s}, nil
}

func (embedRules) add(b *tally, vals []any, _ *partState) { b.tokens += tokens(vals[0].(string)) }
func (embedRules) finish(*run) string                     { return "" }
func (embedRules) metrics(*finetuneMetrics, *run)         {}

// genericRules keep any JSON object whole.
type genericRules struct{}

func (genericRules) row(f *fields, _ *partState) ([]any, *rowError) {
	return []any{compactJSON(f.line)}, nil
}

func (genericRules) add(*tally, []any, *partState)  {}
func (genericRules) finish(*run) string             { return "" }
func (genericRules) metrics(*finetuneMetrics, *run) {}

// batchEmbedRules: batch-embed-v2-input rows are {"custom_id", "body"} with
// a custom_id unique in the dataset and a body whose inputs are a non-empty
// list. The body is kept as its compact JSON text: its shape is the Embed v2
// request's, which a fixed Avro schema would only narrow.
type batchEmbedRules struct {
	ids *hashSet
}

func newBatchEmbedRules() *batchEmbedRules { return &batchEmbedRules{ids: newHashSet()} }

func (b *batchEmbedRules) row(f *fields, _ *partState) ([]any, *rowError) {
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
	if len(body.Inputs) == 0 {
		return nil, rowErrorf("field body.inputs must be a non-empty list")
	}
	if !b.ids.add(id) {
		return nil, rowErrorf("duplicate custom_id %s: custom_id must be unique", quote(id))
	}
	return []any{id, compactJSON(bv.raw)}, nil
}

func (b *batchEmbedRules) add(*tally, []any, *partState)  {}
func (b *batchEmbedRules) finish(*run) string             { return "" }
func (b *batchEmbedRules) metrics(*finetuneMetrics, *run) {}
