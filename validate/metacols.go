package validate

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2/ocf"
	"github.com/silo-datasets/silo"
)

// Kept metadata fields (keep_fields, optional_fields) keep their JSON type
// in the Avro part where one type holds for the whole column: a number stays
// a number ("views": 5674.44 is an Avro double, "wiki_id": 69407798 a long),
// a boolean a boolean. A column whose values have several JSON types (or
// objects and arrays, which no single Avro type carries) is kept as strings,
// each value as its JSON text, with a warning for mixed columns.
//
// The column's type is known only once every row is read, but the schema
// heads the part. So a dataset with metadata fields spools its kept rows to
// a temporary file (the type's own fields already Avro-encoded, each
// metadata value tagged with its JSON type) and writes the parts from it
// when the last file has been read: one more sequential pass over data of
// about the part's size, for these datasets only.

// metaTag is the JSON type of a spooled metadata value.
const (
	tagNull byte = iota
	tagString
	tagNumber // its JSON text
	tagTrue
	tagFalse
	tagJSON // an object or array, as compact JSON text
)

// maxSafeInt is the largest integer every Avro reader silo is tested with
// reads exactly (avsc refuses a long past 2^53 rather than round it).
const maxSafeInt = 1<<53 - 1

// metaColumn records which JSON types one metadata column holds.
type metaColumn struct {
	seen    [tagJSON + 1]bool
	bigInt  bool // an integer beyond ±2^53
	nonInt  bool // a number that is not an integer
	decided kind
}

// spool is one part's kept rows, waiting for the column types.
type spool struct {
	f *os.File
	w *bufio.Writer
}

func newSpool() (*spool, error) {
	f, err := os.CreateTemp("", "silo-validate-*.spool")
	if err != nil {
		return nil, fmt.Errorf("validate: spool: %w", err)
	}
	// Unlinked at once: nothing is left behind whatever happens next.
	os.Remove(f.Name())
	return &spool{f: f, w: bufio.NewWriterSize(f, bufSize)}, nil
}

func (s *spool) close() {
	if s != nil {
		s.f.Close()
	}
}

// spoolRow appends one kept row: the type's fields in Avro, then each
// metadata value tagged (vals[nType:] are values, or nil for absent).
func (r *run) spoolRow(p *partState, vals []any) error {
	b := appendRow(r.buf[:0], r.lay.fields[:r.lay.nType], vals[:r.lay.nType])
	typed := len(b)
	for i, v := range vals[r.lay.nType:] {
		b = r.meta[i].appendTagged(b, v)
	}
	r.buf = b
	var hdr [2 * binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(b)))
	n += binary.PutUvarint(hdr[n:], uint64(typed))
	if _, err := p.spool.w.Write(hdr[:n]); err != nil {
		return fmt.Errorf("validate: spool: %w", err)
	}
	if _, err := p.spool.w.Write(b); err != nil {
		return fmt.Errorf("validate: spool: %w", err)
	}
	return nil
}

// appendTagged appends a metadata value with its JSON type and notes the
// type in the column.
func (c *metaColumn) appendTagged(b []byte, v any) []byte {
	val, ok := v.(value)
	if !ok {
		return append(b, tagNull)
	}
	var tag byte
	var text string
	switch val.kind() {
	case "string":
		tag, text = tagString, val.metadata()
	case "number":
		tag, text = tagNumber, compactJSON(val.raw)
		if n, err := strconv.ParseInt(text, 10, 64); err != nil {
			if strings.ContainsAny(text, ".eE") {
				c.nonInt = true
			} else {
				c.bigInt = true
			}
		} else if n > maxSafeInt || n < -maxSafeInt {
			c.bigInt = true
		}
	case "boolean":
		tag = tagFalse
		if val.metadata() == "true" {
			tag = tagTrue
		}
	default:
		tag, text = tagJSON, val.metadata()
	}
	c.seen[tag] = true
	b = append(b, tag)
	b = binary.AppendUvarint(b, uint64(len(text)))
	return append(b, text...)
}

// decide picks the column's Avro type, and says why when it falls back to
// strings for a column of several types.
func (c *metaColumn) decide() (kind, string) {
	var types []string // in alphabetical order
	if c.seen[tagTrue] || c.seen[tagFalse] {
		types = append(types, "boolean")
	}
	if c.seen[tagNumber] {
		types = append(types, "number")
	}
	if c.seen[tagJSON] {
		types = append(types, "object or array")
	}
	if c.seen[tagString] {
		types = append(types, "string")
	}
	c.decided = kString
	switch {
	case len(types) > 1:
		return kString, fmt.Sprintf("values of several JSON types (%s)", strings.Join(types, ", "))
	case c.seen[tagNumber] && c.bigInt:
		return kString, "integers beyond 2^53, which not every Avro reader can read as numbers"
	case c.seen[tagNumber] && c.nonInt:
		c.decided = kDouble
	case c.seen[tagNumber]:
		c.decided = kLong
	case c.seen[tagTrue] || c.seen[tagFalse]:
		c.decided = kBool
	}
	return c.decided, ""
}

// typedMetadata fixes the metadata columns' types (with a warning for each
// column that falls back to strings), the schema that heads every part.
func (r *run) typedMetadata() {
	for i, c := range r.meta {
		f := &r.lay.fields[r.lay.nType+i]
		k, why := c.decide()
		if why != "" {
			r.warn.add(fmt.Sprintf("field %s holds %s: it is kept as strings in the Avro parts", f.name, why))
		}
		f.opt = f.kind == kOptString
		f.kind = k
	}
	r.schema = avroSchema(r.lay.fields)
}

// writeSpooled writes each spooled part as its Avro container, re-encoding
// the metadata values with their columns' types, and takes its samples.
func (r *run) writeSpooled(files []silo.ValidationFile) error {
	r.typedMetadata()
	for i, p := range r.parts {
		if p.spool == nil {
			continue
		}
		if err := r.writePart(p, files[i].Avro); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) writePart(p *partState, w io.Writer) error {
	if err := p.spool.w.Flush(); err != nil {
		return fmt.Errorf("validate: spool: %w", err)
	}
	if _, err := p.spool.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("validate: spool: %w", err)
	}
	enc, err := ocf.NewEncoder(r.schema, struct{ io.Writer }{w}, r.encoderOptions()...)
	if err != nil {
		return fmt.Errorf("validate: avro encoder: %w", err)
	}
	br := bufio.NewReaderSize(p.spool.f, bufSize)
	vals := make([]any, len(r.lay.fields))
	var row []byte
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := r.ctx.Err(); err != nil {
				return err
			}
		}
		size, err := binary.ReadUvarint(br)
		if errors.Is(err, io.EOF) {
			break
		}
		typed, err2 := binary.ReadUvarint(br)
		if err != nil || err2 != nil {
			return fmt.Errorf("validate: spool: %w", errors.Join(err, err2))
		}
		row = append(row[:0], make([]byte, size)...)
		if _, err := io.ReadFull(br, row); err != nil {
			return fmt.Errorf("validate: spool: %w", err)
		}
		out := append(r.buf[:0], row[:typed]...)
		rest := row[typed:]
		for i := range r.meta {
			f := r.lay.fields[r.lay.nType+i]
			vals[r.lay.nType+i], rest = typedValue(f.kind, rest)
		}
		out = appendRow(out, r.lay.fields[r.lay.nType:], vals[r.lay.nType:])
		r.buf = out
		if len(p.samples) < r.opts.Samples {
			decodeTyped(r.lay.fields[:r.lay.nType], row[:typed], vals)
			p.samples = append(p.samples, sampleJSON(r.lay.fields, vals, r.opts.SampleBytes))
		}
		if _, err := enc.Write(out); err != nil {
			return fmt.Errorf("validate: writing avro: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("validate: writing avro: %w", err)
	}
	return nil
}

// typedValue reads one tagged metadata value as the Go value of its
// column's kind (nil for null).
func typedValue(k kind, b []byte) (any, []byte) {
	tag := b[0]
	if tag == tagNull {
		return nil, b[1:] // a null has no text (appendTagged)
	}
	n, w := binary.Uvarint(b[1:])
	text := string(b[1+w : 1+w+int(n)])
	rest := b[1+w+int(n):]
	switch {
	case k == kLong:
		v, _ := strconv.ParseInt(text, 10, 64)
		return v, rest
	case k == kDouble:
		v, _ := strconv.ParseFloat(text, 64)
		if math.IsInf(v, 0) {
			v = math.MaxFloat64 * float64(sign(text))
		}
		return v, rest
	case k == kBool:
		return tag == tagTrue, rest
	case tag == tagTrue:
		return "true", rest
	case tag == tagFalse:
		return "false", rest
	}
	return text, rest
}

func sign(text string) int {
	if strings.HasPrefix(text, "-") {
		return -1
	}
	return 1
}

// decodeTyped reads the type's own fields back from their Avro encoding
// into vals, for the samples.
func decodeTyped(fs []field, b []byte, vals []any) {
	str := func() string {
		n, w := binary.Varint(b)
		s := string(b[w : w+int(n)])
		b = b[w+int(n):]
		return s
	}
	count := func() int64 {
		n, w := binary.Varint(b)
		b = b[w:]
		return n
	}
	for i, f := range fs {
		switch f.kind {
		case kString:
			vals[i] = str()
		case kStrings:
			ss := []string{}
			for n := count(); n != 0; n = count() {
				for ; n > 0; n-- {
					ss = append(ss, str())
				}
			}
			vals[i] = ss
		case kMessages:
			ms := []message{}
			for n := count(); n != 0; n = count() {
				for ; n > 0; n-- {
					ms = append(ms, message{Role: str(), Content: str()})
				}
			}
			vals[i] = ms
		}
	}
}
