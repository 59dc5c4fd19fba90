package validate

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Cohere's documented minimums for classification fine-tunes ([DOC-DS-old],
// [DOC-CLS]).
const (
	classifyMinTrain    = 40
	classifyMinPerLabel = 5
	classifyMinLabels   = 2
	classifyMinEval     = 24
	labelSamples        = 3
	labelSampleBytes    = 200
)

// classifyRules check single-label (label is one string) and multi-label
// (label is a list of strings, possibly empty) classification data, and
// count examples per label. Only labels are remembered, never rows; their
// number is capped by Options.MaxLabels.
type classifyRules struct {
	multi     bool
	maxLabels int
	labels    map[string]*labelStat
	order     []string
	overflow  bool
	tok       Tokenizer
}

type labelStat struct {
	train, total int64
	samples      []string
}

func newClassifyRules(o *Options, multi bool) *classifyRules {
	return &classifyRules{multi: multi, maxLabels: o.MaxLabels, labels: map[string]*labelStat{}, tok: o.Tokenizer}
}

func (c *classifyRules) row(f *fields, _ *partState) ([]any, *rowError) {
	t, err := text(f, "text")
	if err != nil {
		return nil, err
	}
	lv, _ := f.get("label")
	if !c.multi {
		l, ok := lv.scalar()
		if !ok {
			return nil, rowErrorf("field label must be a string, not %s", lv.kind())
		}
		if blank(l) {
			return nil, rowErrorf("field label is empty")
		}
		return []any{t, l}, nil
	}
	labels, rerr := multiLabels(lv)
	if rerr != nil {
		return nil, rerr
	}
	return []any{t, labels}, nil
}

// multiLabels reads a list of labels; a single string is a list of one, and
// a label listed twice in one example counts once.
func multiLabels(v value) ([]string, *rowError) {
	if s, ok := v.scalar(); ok {
		if blank(s) {
			return []string{}, nil
		}
		return []string{s}, nil
	}
	var raw []json.RawMessage
	if v.kind() != "array" || !v.decode(&raw) {
		return nil, rowErrorf("field label must be a list of strings, not %s", v.kind())
	}
	out := make([]string, 0, len(raw))
	for _, r := range raw {
		s, ok := value{raw: r}.scalar()
		if !ok || blank(s) {
			return nil, rowErrorf("field label must be a list of non-empty strings")
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (c *classifyRules) add(b *tally, vals []any, p *partState) {
	t := vals[0].(string)
	b.tokens += c.tok.CountTokens(t)
	var labels []string
	if c.multi {
		labels = vals[1].([]string)
	} else {
		labels = []string{vals[1].(string)}
	}
	for _, l := range labels {
		b.tokens += c.tok.CountTokens(l)
		c.count(l, t, p.eval)
	}
}

func (c *classifyRules) count(label, text string, eval bool) {
	st := c.labels[label]
	if st == nil {
		if len(c.labels) >= c.maxLabels {
			c.overflow = true
			return
		}
		st = &labelStat{}
		c.labels[label] = st
		c.order = append(c.order, label)
	}
	st.total++
	if !eval {
		st.train++
	}
	if len(st.samples) < labelSamples {
		st.samples = append(st.samples, truncate(text, labelSampleBytes))
	}
}

func (c *classifyRules) finish(r *run) string {
	if c.overflow {
		return fmt.Sprintf("the dataset has more than %d distinct labels", c.maxLabels)
	}
	train := r.trainPart()
	if train.valid < classifyMinTrain {
		return notEnough(train, "train", classifyMinTrain, "")
	}
	var trainLabels int
	for _, l := range c.order {
		if st := c.labels[l]; st.train > 0 {
			trainLabels++
		}
	}
	if trainLabels < classifyMinLabels {
		return fmt.Sprintf("the train data has %d unique labels; at least %d unique labels are required",
			trainLabels, classifyMinLabels)
	}
	for _, l := range c.order {
		st := c.labels[l]
		if st.train > 0 && st.train < classifyMinPerLabel {
			return fmt.Sprintf("label %s has only %d train examples; at least %d examples per label are required",
				quote(l), st.train, classifyMinPerLabel)
		}
		if st.train == train.valid {
			return fmt.Sprintf("label %s is present in all examples; a label cannot be present in all examples", quote(l))
		}
	}
	if ev := r.evalPart(); ev != nil && !r.autoSplit && ev.valid < classifyMinEval {
		return "invalid eval file: " + notEnough(ev, "eval", classifyMinEval, "")
	}
	return ""
}

func (c *classifyRules) metrics(m *finetuneMetrics, _ *run) {
	cm := &classifyMetric{LabelMetrics: []labelMetric{}}
	for _, l := range c.order {
		st := c.labels[l]
		cm.LabelMetrics = append(cm.LabelMetrics, labelMetric{TotalExamples: st.total, Label: l, Samples: st.samples})
	}
	m.Classify = cm
}
