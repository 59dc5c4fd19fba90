package validate

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Cohere's documented minimums for reranker fine-tunes: "at least 256
// unique queries, in total" ([DOC-RR]) and 64 evaluation examples
// ([DOC-DS-old]).
const (
	rerankMinQueries = 256
	rerankMinEval    = 64
)

// rerankRules check {query, relevant_passages, hard_negatives} rows. Unique
// queries are only counted up to the minimum: past it, remembering more
// would cost memory and decide nothing.
type rerankRules struct {
	queries *hashSet
	tok     Tokenizer
}

func newRerankRules(o *Options) *rerankRules {
	return &rerankRules{queries: newHashSet(), tok: o.Tokenizer}
}

func (rr *rerankRules) row(f *fields, _ *partState) ([]any, *rowError) {
	q, err := text(f, "query")
	if err != nil {
		return nil, err
	}
	rel, err := passages(f, "relevant_passages")
	if err != nil {
		return nil, err
	}
	if len(rel) == 0 {
		return nil, rowErrorf("field relevant_passages has no passage: each query needs at least one relevant passage")
	}
	neg, err := passages(f, "hard_negatives")
	if err != nil {
		return nil, err
	}
	for _, n := range neg {
		if slices.Contains(rel, n) {
			return nil, rowErrorf("passage %s is in both relevant_passages and hard_negatives", quote(n))
		}
	}
	if rr.queries.len() < rerankMinQueries {
		rr.queries.add(q)
	}
	return []any{q, rel, neg}, nil
}

// passages reads a list of passages, dropping empty and repeated ones as
// Cohere does for hard negatives ([DOC-RR]). A missing list is empty.
func passages(f *fields, name string) ([]string, *rowError) {
	v, ok := f.get(name)
	if !ok {
		return []string{}, nil
	}
	var raw []json.RawMessage
	if v.kind() != "array" || !v.decode(&raw) {
		return nil, rowErrorf("field %s must be a list of strings, not %s", name, v.kind())
	}
	out := make([]string, 0, len(raw))
	for _, r := range raw {
		s, ok := value{raw: r}.str()
		if !ok {
			return nil, rowErrorf("field %s must be a list of strings", name)
		}
		if !blank(s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (rr *rerankRules) add(b *tally, vals []any, _ *partState) {
	b.queries++
	b.tokens += rr.tok.CountTokens(vals[0].(string))
	for i, n := range []*int64{&b.relevant, &b.hardNeg} {
		ps := vals[i+1].([]string)
		*n += int64(len(ps))
		for _, p := range ps {
			b.tokens += rr.tok.CountTokens(p)
		}
	}
}

func (rr *rerankRules) finish(r *run) string {
	if n := rr.queries.len(); n < rerankMinQueries {
		return fmt.Sprintf("not enough unique queries: found only %d unique queries in total; at least %d required",
			n, rerankMinQueries)
	}
	if ev := r.evalPart(); ev != nil && !r.autoSplit && ev.valid < rerankMinEval {
		return "invalid eval file: " + notEnough(ev, "eval", rerankMinEval, "")
	}
	return ""
}

func (rr *rerankRules) metrics(m *finetuneMetrics, r *run) {
	t, e := r.trainEval()
	m.Reranker = &rerankerMetric{
		NumTrainQueries: t.queries, NumTrainRelevantPassages: t.relevant, NumTrainHardNegatives: t.hardNeg,
		NumEvalQueries: e.queries, NumEvalRelevantPassages: e.relevant, NumEvalHardNegatives: e.hardNeg,
	}
}

func (rr *rerankRules) hashSets() []*hashSet { return []*hashSet{rr.queries} }
