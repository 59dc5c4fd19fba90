// Package validate checks uploaded datasets against the rules Cohere
// documents for each dataset type, streaming, and writes each part's Avro
// object container file as it goes.
//
// Nothing here holds a whole file: rows are read in bounded batches from
// JSONL (decoded on every core, ruled on in file order) and one at a time
// from CSV or TXT, a row longer than Options.MaxRowBytes fails validation
// with its line number, and the checks that must remember every row (unique
// custom_id, duplicate conversations, unique queries) keep 8-byte hashes,
// spilled to a temp file past a fixed number (hashset.go). The service
// (silo.Service) decides what to do with the verdict; this package does no
// storage of its own.
//
// README.md in this directory lists the rules implemented per type.
package validate

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/silo-datasets/silo"
)

// Options tune a Validator. The zero value of each field means its default.
type Options struct {
	// MaxRowBytes caps one row (a JSONL line, a CSV record, a TXT chunk).
	// Default 16 MiB: far above any real example, far below a node's memory.
	MaxRowBytes int
	// Samples is how many rows each part shows as samples. Default 5.
	Samples int
	// SampleBytes caps each sample's JSON text. Default 4096.
	SampleBytes int
	// MaxWarnings caps Report.Warnings; one more line then gives the total.
	// Default 50.
	MaxWarnings int
	// MaxLabels caps the distinct labels of a classification dataset, whose
	// per-label counts are kept in memory. Default 10,000.
	MaxLabels int
	// AvroBlockBytes is the uncompressed size at which an Avro block is
	// written out. Default 1 MiB.
	AvroBlockBytes int
	// Tokenizer counts tokens for the chat token limits and the metrics.
	// Default CharEstimate (characters / 4).
	Tokenizer Tokenizer
	// Deflate compresses Avro blocks with the deflate codec. Default off:
	// the null codec is the one every Avro reader supports without
	// configuration (avsc's BlockDecoder needs codecs passed in for
	// deflate), at the cost of parts about the size of the kept data.
	Deflate bool
}

// Defaults of Options.
const (
	DefaultMaxRowBytes    = 16 << 20
	DefaultSamples        = 5
	DefaultSampleBytes    = 4096
	DefaultMaxWarnings    = 50
	DefaultMaxLabels      = 10000
	DefaultAvroBlockBytes = 1 << 20
	// DefaultTextSeparator splits TXT uploads into rows when the create
	// gave no text_separator: one row per line, as most text exports (and
	// JSONL) are laid out. Blank lines are skipped.
	DefaultTextSeparator = "\n"
)

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxRowBytes, DefaultMaxRowBytes)
	def(&o.Samples, DefaultSamples)
	def(&o.SampleBytes, DefaultSampleBytes)
	def(&o.MaxWarnings, DefaultMaxWarnings)
	def(&o.MaxLabels, DefaultMaxLabels)
	def(&o.AvroBlockBytes, DefaultAvroBlockBytes)
	if o.Tokenizer == nil {
		o.Tokenizer = CharEstimate{}
	}
	return o
}

// Validator validates datasets; it implements silo.Validator. It holds no
// state between calls, so one Validator serves any number of concurrent
// validations.
type Validator struct {
	opts Options
}

var _ silo.Validator = (*Validator)(nil)

// New returns a Validator with opts, defaults filled in.
func New(opts Options) *Validator {
	return &Validator{opts: opts.withDefaults()}
}

// Validate checks d's files (the training file first, then the evaluation
// file, if any) and writes each one's Avro part to its Avro writer. A
// dataset that breaks a rule comes back with OK false and Report.Error set;
// the error result is only for I/O failures and ctx's cancellation. After a
// failed verdict the Avro writers hold nothing useful.
func (v *Validator) Validate(ctx context.Context, d *silo.Dataset, files []silo.ValidationFile) (*silo.Validation, error) {
	r, msg := v.newRun(ctx, d, files)
	if msg != "" {
		return &silo.Validation{Report: silo.Report{Error: msg},
			Parts: make([]silo.PartStats, len(files))}, nil
	}
	defer func() {
		for _, p := range r.parts {
			p.spool.close()
		}
	}()
	defer r.closeSets()
	for i, f := range files {
		if err := r.readPart(r.parts[i], f); err != nil {
			return nil, err
		}
	}
	r.finish()
	if err := r.closeSets(); err != nil {
		return nil, err
	}
	if r.meta != nil && r.err == "" {
		if err := r.writeSpooled(files); err != nil {
			return nil, err
		}
	}
	return r.verdict(), nil
}

// closeSets frees the temp files of the rules' hash sets, and returns the
// I/O error that made one of them inexact: then the verdict cannot be
// trusted.
func (r *run) closeSets() error {
	h, ok := r.rules.(setHolder)
	if !ok {
		return nil
	}
	var first error
	for _, s := range h.hashSets() {
		if err := s.close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// newRun prepares one validation; a message means d cannot be validated at
// all (unknown type, a field name Avro cannot carry).
func (v *Validator) newRun(ctx context.Context, d *silo.Dataset, files []silo.ValidationFile) (*run, string) {
	spec := specFor(d.Type)
	if spec == nil {
		return nil, fmt.Sprintf("The dataset type is invalid: %q", d.Type)
	}
	lay, msg := newLayout(spec, d.Params)
	if msg != "" {
		return nil, msg
	}
	r := &run{
		ctx: ctx, opts: v.opts, d: d, spec: spec, lay: lay,
		rules:  spec.rules(&v.opts),
		schema: avroSchema(lay.fields),
		warn:   warnings{max: v.opts.MaxWarnings},
	}
	for range len(lay.keep) + len(lay.optional) {
		r.meta = append(r.meta, &metaColumn{})
	}
	for _, f := range files {
		eval := f.Part != nil && f.Part.Kind == silo.PartEval
		r.parts = append(r.parts, &partState{eval: eval})
	}
	if spec.generic {
		r.warn.add(fmt.Sprintf("dataset type %s has no documented format: rows were accepted "+
			"as generic JSON objects and kept whole in the field \"json\"", d.Type))
	}
	return r, ""
}

// warnings collects validation warnings up to a cap, counting the rest.
type warnings struct {
	max   int
	list  []string
	total int
}

func (w *warnings) add(s string) {
	w.total++
	if len(w.list) < w.max {
		w.list = append(w.list, s)
	}
}

func (w *warnings) result() []string {
	if w.total <= len(w.list) {
		return w.list
	}
	return append(slices.Clone(w.list), fmt.Sprintf("... and %d more warnings (%d in total)",
		w.total-len(w.list), w.total))
}

// formatList renders field names as Cohere's CSV header message does:
// "[text, label]".
func formatList(names []string) string {
	return "[" + strings.Join(names, ", ") + "]"
}

func quote(s string) string { return fmt.Sprintf("%q", truncate(s, 100)) }
