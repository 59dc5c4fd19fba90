package validate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
	"github.com/silo-datasets/silo"
)

// run is one validation of one dataset.
type run struct {
	ctx    context.Context
	opts   Options
	d      *silo.Dataset
	spec   *typeSpec
	lay    *layout
	rules  rules
	schema string
	parts  []*partState
	warn   warnings
	err    string // the first error: the verdict's Report.Error
	// buckets sums accepted rows for the metrics: the training file's rows,
	// the fifth of them an 80/20 auto-split would move to eval, the eval file.
	train, split, eval tally
	autoSplit          bool
	buf                []byte
	// meta are the kept metadata columns (keep_fields, optional_fields),
	// whose rows are spooled until their types are known (metacols.go).
	meta []*metaColumn
}

// partState is what one file's reading found.
type partState struct {
	eval      bool
	received  int64 // rows read, valid or not
	valid     int64 // rows kept
	malformed int64 // rows dropped by skip_malformed_input
	invalid   int64 // invalid examples filtered out (typeSpec.filterInvalid)
	removed   []string
	dup       int64 // rows dropped as duplicates
	tooMany   int64 // rows dropped for too many tokens
	bytes     int64 // the file's size
	samples   []string
	spool     *spool // the kept rows, while a metadata column's type is open
}

// removedListed is how many removed examples a warning names.
const removedListed = 5

// Filter reasons of rowError.reason.
const (
	filteredDup = iota + 1
	filteredTokens
)

func (r *run) fail(msg string) {
	if r.err == "" {
		r.err = msg
	} else {
		r.warn.add(msg)
	}
}

// readPart reads one file to its end, writing the kept rows to its Avro part.
func (r *run) readPart(p *partState, f silo.ValidationFile) error {
	cr := &countingReader{r: f.Data}
	defer func() { p.bytes = cr.n }()
	src, rerr, err := r.open(p, f.Part, cr)
	if err != nil {
		return err
	}
	if c, ok := src.(interface{ close() }); ok {
		defer c.close() // before p.bytes is read: the reader is done then
	}
	if rerr != nil {
		// The file is not read further: its remaining rows cannot be parsed.
		r.fail(r.prefix(p, rerr.msg))
		return nil
	}
	if r.meta != nil {
		if p.spool, err = newSpool(); err != nil {
			return err
		}
		return r.readRows(p, src, nil)
	}
	// Hide the writer's concrete type: hamba/avro appends to an *os.File
	// that already holds data instead of starting a new container.
	enc, err := ocf.NewEncoder(r.schema, struct{ io.Writer }{f.Avro}, r.encoderOptions()...)
	if err != nil {
		return fmt.Errorf("validate: avro encoder: %w", err)
	}
	if err := r.readRows(p, src, enc); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("validate: writing avro: %w", err)
	}
	return nil
}

func (r *run) encoderOptions() []ocf.EncoderFunc {
	// The header carries the very schema string of Report.Schema, not
	// hamba's canonical form of it, so that both say the same thing.
	opts := []ocf.EncoderFunc{
		ocf.WithBlockLength(4096), ocf.WithBlockSize(r.opts.AvroBlockBytes),
		ocf.WithSchemaMarshaler(func(avro.Schema) ([]byte, error) { return []byte(r.schema), nil }),
		// A cache per part: the global one would keep every schema ever seen.
		ocf.WithEncoderSchemaCache(&avro.SchemaCache{}),
	}
	if r.opts.Deflate {
		opts = append(opts, ocf.WithCodec(ocf.Deflate))
	}
	return opts
}

// open picks the parser for the part's format, refusing formats the type
// does not come in.
func (r *run) open(p *partState, part *silo.Part, data io.Reader) (source, *rowError, error) {
	format := silo.FormatJSONL
	if part != nil && part.Format != "" {
		format = part.Format
	}
	if accepted := r.d.Type.Formats(); !slices.Contains(accepted, format) {
		return nil, rowErrorf("dataset type %s does not accept %s files (it accepts %s)",
			r.d.Type, format, silo.FormatNames(accepted)), nil
	}
	br := bufio.NewReaderSize(data, bufSize)
	if err := skipBOM(br); err != nil && err != io.EOF {
		return nil, nil, err
	}
	switch format {
	case silo.FormatCSV:
		return r.openCSV(br)
	case silo.FormatTXT:
		sep := r.d.Params.TextSeparator
		if sep == "" {
			sep = DefaultTextSeparator
		}
		return newTXTSource(br, sep, r.opts.MaxRowBytes), nil, nil
	}
	var rd rowDecoder
	if r.lay.hasMessages() {
		rd.messages, rd.tok = true, r.opts.Tokenizer
		_, rd.est = rd.tok.(CharEstimate)
	}
	rd.prep = r.rowPrepFunc(p.eval)
	if w := parallelWorkers(); w > 1 {
		src := newParallelJSONL(newChunker(br, newline, r.opts.MaxRowBytes), r.opts.MaxRowBytes, rd, w)
		if pf, ok := r.rules.(prefetcher); ok {
			src.warm = func(rows []decodedRow) { pf.prefetch(rows, p.eval) }
		}
		return src, nil, nil
	}
	return newJSONLSource(br, r.opts.MaxRowBytes, rd), nil, nil
}

func (r *run) openCSV(br *bufio.Reader) (source, *rowError, error) {
	comma := ','
	if d := r.d.Params.CSVDelimiter; d != "" {
		c, ok := validDelimiter(d)
		if !ok {
			return nil, rowErrorf("You have used an invalid csv delimiter: %q; it must be one character long", d), nil
		}
		comma = c
	}
	src, rerr, err := newCSVSource(br, comma, r.opts.MaxRowBytes)
	if err != nil || rerr != nil {
		return nil, rerr, err
	}
	for _, name := range r.lay.required {
		if !slices.Contains(src.header, name) {
			return nil, rowErrorf("csv files must have a header with the required fields: %s.",
				formatList(r.lay.required)), nil
		}
	}
	return src, nil, nil
}

// readRows is the loop over one file's rows. After the dataset has failed it
// keeps reading, without writing Avro, so that later errors show up in the
// warnings as Cohere lists them.
func (r *run) readRows(p *partState, src source, enc *ocf.Encoder) error {
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := r.ctx.Err(); err != nil {
				return err
			}
		}
		f, line, size, rerr, err := src.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("validate: reading part: %w", err)
		}
		p.received++
		vals := r.checkRow(p, f, rerr, line)
		if vals == nil {
			if rerr != nil && rerr.fatal {
				return nil
			}
			continue
		}
		if err := r.keep(p, f, vals, size, enc); err != nil {
			return err
		}
	}
}

// checkRow applies the required fields, the type's rules and the kept
// metadata fields to a row; nil means the row is not kept.
func (r *run) checkRow(p *partState, f *fields, rerr *rowError, line int64) []any {
	if rerr == nil {
		if f.prep.done { // a decoding worker checked it (prepare.go)
			rerr = f.prep.rerr
		} else {
			rerr = r.missing(f)
		}
	}
	var vals []any
	if rerr == nil {
		vals, rerr = r.rules.row(f, p)
	}
	if rerr != nil {
		r.reject(p, rerr, line)
		return nil
	}
	// Metadata values go to the spool as they are; their Avro type is
	// decided once every row is read (metacols.go).
	for _, n := range r.lay.keep {
		v, _ := f.get(n)
		vals = append(vals, v)
	}
	for _, n := range r.lay.optional {
		if v, ok := f.get(n); ok {
			vals = append(vals, v)
		} else {
			vals = append(vals, nil)
		}
	}
	return vals
}

// missing checks that the row has every required field, with the message
// Cohere documents (typo included: clients may match on it).
func (r *run) missing(f *fields) *rowError {
	for _, n := range r.lay.required {
		if _, ok := f.get(n); !ok {
			// A missing keep_field fails the dataset whatever its type:
			// "if the field is missing from an entry, the dataset will fail
			// validation" ([DOC-DS], "Dataset Metadata Preservation").
			return &rowError{msg: fmt.Sprintf("The required field %s was not fund in the dataset (line: {line})", n),
				keepField: slices.Contains(r.lay.keep, n)}
		}
	}
	return nil
}

// reject handles a row that is not kept: filtered rows are only counted;
// malformed ones fail the dataset, or with skip_malformed_input are dropped
// and listed in the warnings.
func (r *run) reject(p *partState, rerr *rowError, line int64) {
	if rerr.filtered {
		switch rerr.reason {
		case filteredDup:
			p.dup++
		case filteredTokens:
			p.tooMany++
		}
		return
	}
	if r.spec.filterInvalid && !rerr.fatal && !rerr.keepField {
		p.invalid++
		if len(p.removed) < removedListed {
			p.removed = append(p.removed, rerr.text(line))
		}
		return
	}
	msg := r.prefix(p, rerr.text(line))
	if r.d.Params.SkipMalformedInput && !rerr.fatal {
		p.malformed++
		r.warn.add("dropped malformed row: " + msg)
		return
	}
	r.fail(msg)
}

func (r *run) prefix(p *partState, msg string) string {
	if p.eval {
		return "invalid eval file: " + msg
	}
	return msg
}

// keep counts an accepted row and writes it to the Avro part.
func (r *run) keep(p *partState, f *fields, vals []any, size int64, enc *ocf.Encoder) error {
	if r.err != "" {
		return nil
	}
	bucket := &r.train
	switch {
	case p.eval:
		bucket = &r.eval
	case p.valid%5 == 4:
		bucket = &r.split
	}
	bucket.examples++
	bucket.bytes += size
	r.rules.add(bucket, vals[:r.lay.nType], p)
	p.valid++
	if p.spool != nil {
		return r.spoolRow(p, vals)
	}
	if len(p.samples) < r.opts.Samples {
		p.samples = append(p.samples, sampleJSON(r.lay.fields, vals, r.opts.SampleBytes))
	}
	row := f.prep.avro // encoded by a decoding worker
	if row == nil {
		r.buf = appendRow(r.buf[:0], r.lay.fields, vals)
		row = r.buf
	}
	if _, err := enc.Write(row); err != nil {
		return fmt.Errorf("validate: writing avro: %w", err)
	}
	return nil
}
