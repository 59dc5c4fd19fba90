package validate

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// source yields the rows of one uploaded file, whatever its format.
type source interface {
	// next returns the next row, the line it starts on and its size in
	// bytes. A malformed row comes back as a *rowError (fatal if the parser
	// cannot go on after it); io.EOF ends the file; any other error is I/O.
	// The row is the caller's until the next call only: a source may reuse
	// it (the values got from it stay valid).
	next() (f *fields, line, size int64, rerr *rowError, err error)
}

// rowError is why a row cannot be kept. msg may hold "{line}" where the line
// number goes (Cohere's chat messages put it in their own place); otherwise
// " (line: N)" is appended, as in Cohere's required-field message.
type rowError struct {
	msg      string
	fatal    bool // the parser cannot go on after it (CSV only)
	filtered bool // dropped by a rule, not malformed: a duplicate, too many tokens
	reason   int  // for filtered rows: what filtered it
	// keepField marks a missing keep_field, which fails the dataset even
	// where invalid examples are only filtered out.
	keepField bool
}

func rowErrorf(format string, args ...any) *rowError {
	return &rowError{msg: fmt.Sprintf(format, args...)}
}

func (e *rowError) text(line int64) string {
	if strings.Contains(e.msg, "{line}") {
		return strings.ReplaceAll(e.msg, "{line}", fmt.Sprint(line))
	}
	return fmt.Sprintf("%s (line: %d)", e.msg, line)
}

func tooLongError(max int) *rowError {
	return rowErrorf("row is longer than the limit of %d bytes", max)
}

// jsonlSource reads one JSON object per line. Blank lines are skipped, a
// trailing CR is dropped (CRLF files), and the last line needs no newline.
type jsonlSource struct {
	c     *chunker
	max   int
	rd    rowDecoder
	arena rowArena
}

// newJSONLSource reads JSONL rows, decoded by rd (which asks for chat
// messages, or not).
func newJSONLSource(br *bufio.Reader, max int, rd rowDecoder) *jsonlSource {
	s := &jsonlSource{c: newChunker(br, newline, max), max: max, rd: rd}
	s.rd.a = &s.arena
	return s
}

func (s *jsonlSource) next() (*fields, int64, int64, *rowError, error) {
	for {
		// The previous row is done with, as its chunk is (rowDecoder).
		s.arena.reset()
		chunk, line, tooLong, err := s.c.next()
		if err != nil {
			return nil, line, 0, nil, err
		}
		if tooLong {
			return nil, line, 0, tooLongError(s.max), nil
		}
		f, rerr, blank := s.rd.row(chunk)
		if blank {
			continue
		}
		return f, line, int64(len(chunk)) + 1, rerr, nil
	}
}

// row decodes one JSONL line (without its newline); blank reports a line
// of white space, which is skipped. The fields alias chunk.
func (d *rowDecoder) row(chunk []byte) (f *fields, rerr *rowError, blank bool) {
	chunk = bytes.TrimSuffix(chunk, []byte{'\r'})
	trimmed := bytes.TrimSpace(chunk)
	if len(trimmed) == 0 {
		return nil, nil, true
	}
	if trimmed[0] == '{' {
		if f, ok := d.decode(trimmed); ok {
			if d.prep != nil {
				d.prep(f, d.a)
			}
			return f, nil, false
		}
	}
	if !utf8.Valid(chunk) {
		return nil, rowErrorf("row is not valid UTF-8"), false
	}
	if trimmed[0] != '{' {
		return nil, rowErrorf("row is not a JSON object"), false
	}
	var m map[string]json.RawMessage
	if err := unmarshal(trimmed, &m); err != nil {
		return nil, rowErrorf("row is not valid JSON: %s", jsonErrText(err)), false
	}
	f = &fields{json: m, line: trimmed}
	if d.prep != nil {
		if d.a == nil {
			d.a = new(rowArena)
		}
		d.prep(f, d.a)
	}
	return f, nil, false
}

func jsonErrText(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}

// txtSource splits plain text at the text_separator; each chunk, with its
// surrounding white space trimmed, is one row {"text": chunk}. Chunks that are
// only white space (a trailing separator, blank lines) are skipped.
type txtSource struct {
	c   *chunker
	max int
}

func newTXTSource(br *bufio.Reader, sep string, max int) *txtSource {
	return &txtSource{c: newChunker(br, []byte(sep), max), max: max}
}

func (s *txtSource) next() (*fields, int64, int64, *rowError, error) {
	for {
		chunk, line, tooLong, err := s.c.next()
		if err != nil {
			return nil, line, 0, nil, err
		}
		if tooLong {
			return nil, line, 0, tooLongError(s.max), nil
		}
		size := int64(len(chunk) + len(s.c.sep))
		text := bytes.TrimSpace(chunk)
		if len(text) == 0 {
			continue
		}
		if !utf8.Valid(text) {
			return nil, line, size, rowErrorf("row is not valid UTF-8"), nil
		}
		return &fields{text: map[string]string{"text": string(text)}}, line, size, nil, nil
	}
}

// errRowTooLong stops the CSV parser once a record grows past the cap.
var errRowTooLong = errors.New("csv record too long")

// rowLimiter sits under encoding/csv, which would otherwise buffer a record
// of any length: once the bytes read since the end of the last record pass
// the cap, reading fails.
type rowLimiter struct {
	r     io.Reader
	total int64
	csv   *csv.Reader
	max   int64
}

func (l *rowLimiter) Read(p []byte) (int, error) {
	if l.csv != nil && l.total-l.csv.InputOffset() > l.max {
		return 0, errRowTooLong
	}
	n, err := l.r.Read(p)
	l.total += int64(n)
	return n, err
}
