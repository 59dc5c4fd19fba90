package validate

import (
	"fmt"
	"strings"

	"github.com/silo-datasets/silo"
)

// rules are one dataset type's checks beyond "every required field is
// there", and its share of the metrics.
type rules interface {
	// row checks the type's own fields of one row and returns their values,
	// in the order of typeSpec.fields.
	row(f *fields, p *partState) ([]any, *rowError)
	// add counts an accepted row into bucket; vals are row's values.
	add(bucket *tally, vals []any, p *partState)
	// finish checks the dataset as a whole once every file is read and
	// returns why it fails, or "".
	finish(r *run) string
	// metrics adds the type's sub-metrics.
	metrics(m *finetuneMetrics, r *run)
}

// autoSplitWarning is Cohere's documented warning for a fine-tune dataset
// without (valid) eval data.
const autoSplitWarning = "dataset has 0 valid eval rows. dataset will be auto-split"

// finish runs the dataset-level checks once every file is read.
func (r *run) finish() {
	if r.spec.finetune {
		r.autoSplit = !r.hasEval()
	}
	r.judge()
	// A failed dataset is never split: the warning would only distract
	// from the error that failed it.
	if r.autoSplit && r.err == "" {
		r.warn.add(autoSplitWarning)
	}
	r.filteredWarnings()
}

// judge runs the dataset-level checks, unless a row already failed it.
func (r *run) judge() {
	if r.err != "" {
		return
	}
	if r.trainPart() == nil {
		r.fail("the dataset has no training data")
		return
	}
	if !r.spec.finetune && r.trainPart().valid == 0 {
		r.fail("the dataset has no valid rows")
		return
	}
	if msg := r.rules.finish(r); msg != "" {
		r.fail(msg)
	}
}

// hasEval reports whether an eval file with at least one valid row was given.
func (r *run) hasEval() bool {
	for _, p := range r.parts {
		if p.eval && p.valid > 0 {
			return true
		}
	}
	return false
}

func (r *run) trainPart() *partState {
	for _, p := range r.parts {
		if !p.eval {
			return p
		}
	}
	return nil
}

func (r *run) evalPart() *partState {
	for _, p := range r.parts {
		if p.eval {
			return p
		}
	}
	return nil
}

func (r *run) filteredWarnings() {
	for _, p := range r.parts {
		if p.invalid > 0 {
			r.warn.add(removedWarning(p))
		}
		if p.dup > 0 {
			r.warn.add(fmt.Sprintf("%s dataset has %d duplicated examples; they were dropped", partName(p), p.dup))
		}
	}
}

// removedWarning lists the invalid examples filtered out of a part:
// "1 example was removed: field text is empty (line: 3)".
func removedWarning(p *partState) string {
	what := "1 example was removed"
	if p.invalid > 1 {
		what = fmt.Sprintf("%d examples were removed", p.invalid)
	}
	if p.eval {
		what += " from the eval file"
	}
	list := strings.Join(p.removed, "; ")
	if p.invalid > int64(len(p.removed)) {
		list += "; ..."
	}
	return what + ": " + list
}

func partName(p *partState) string {
	if p.eval {
		return "eval"
	}
	return "train"
}

// verdict builds the result from the run.
func (r *run) verdict() *silo.Validation {
	v := &silo.Validation{OK: r.err == ""}
	v.Report = silo.Report{
		Error:          r.err,
		Warnings:       r.warn.result(),
		Schema:         r.schema,
		RequiredFields: r.lay.required,
		PreserveFields: preserve(r.d.Params),
	}
	for _, p := range r.parts {
		v.Parts = append(v.Parts, silo.PartStats{NumRows: p.valid, Samples: p.samples})
	}
	if r.spec.finetune && v.OK {
		v.Report.Metrics = marshalMetrics(r.metrics())
	}
	return v
}

// metrics computes finetune_dataset_metrics. With an auto-split, every fifth
// valid training row counts as eval, as the service will split it; the
// parts themselves stay as uploaded.
func (r *run) metrics() *finetuneMetrics {
	train, eval := r.trainEval()
	trainBytes := int64(0)
	if p := r.trainPart(); p != nil {
		trainBytes = p.bytes
	}
	evalBytes := int64(0)
	if p := r.evalPart(); p != nil {
		evalBytes = p.bytes
	}
	if r.autoSplit {
		evalBytes = r.split.bytes
		trainBytes -= r.split.bytes
	}
	m := &finetuneMetrics{
		TrainableTokenCount: train.tokens,
		TotalExamples:       train.examples + eval.examples,
		TrainExamples:       train.examples,
		TrainSizeBytes:      trainBytes,
		EvalExamples:        eval.examples,
		EvalSizeBytes:       evalBytes,
	}
	r.rules.metrics(m, r)
	return m
}

// trainEval returns the train and eval tallies as the metrics see them.
func (r *run) trainEval() (tally, tally) {
	if r.autoSplit {
		return r.train, r.split
	}
	t := r.train
	t.plus(r.split)
	return t, r.eval
}

// notEnough is Cohere's wording for too few valid examples, counting why
// rows were dropped.
func notEnough(p *partState, what string, min int64, tail string) string {
	removed := ""
	if p.invalid > 0 {
		removed = fmt.Sprintf("%d invalid, ", p.invalid)
	}
	return fmt.Sprintf("not enough valid examples: found only %d valid %s examples of %d received "+
		"(%s%d incorrectly encoded, %d duplicated, %d too many tokens); at least %d valid examples required%s",
		p.valid, what, p.received, removed, p.malformed, p.dup, p.tooMany, min, tail)
}
