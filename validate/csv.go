package validate

import (
	"bufio"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

// csvSource reads a CSV file whose first record is the header. Quoted fields
// may hold the delimiter, quotes ("") and newlines; CRLF line ends are fine.
// Quoting is strict (no LazyQuotes): a stray quote is a malformed row rather
// than a silently merged one.
type csvSource struct {
	r      *csv.Reader
	row    fields            // what next returns, reused: a map per row was a third of the bytes a CSV validation allocated
	text   map[string]string // row.text
	lim    *rowLimiter
	header []string
	max    int
	off    int64
	line   int64 // where the next record starts, as far as the parser tells
	done   bool
}

// validDelimiter reports whether d can separate CSV fields: one character
// (Cohere answers anything else with 400), and not one that CSV itself uses.
func validDelimiter(d string) (rune, bool) {
	r, n := utf8.DecodeRuneInString(d)
	if n == 0 || n != len(d) || r == utf8.RuneError {
		return 0, false
	}
	if r == '"' || r == '\r' || r == '\n' || r == 0xFEFF {
		return 0, false
	}
	return r, true
}

// newCSVSource reads the header. A file with no header at all, or one that is
// not valid CSV, comes back as a rowError: it fails validation, not the call.
func newCSVSource(br *bufio.Reader, comma rune, max int) (*csvSource, *rowError, error) {
	lim := &rowLimiter{r: br, max: int64(max)}
	r := csv.NewReader(lim)
	r.Comma = comma
	r.ReuseRecord = true
	lim.csv = r
	s := &csvSource{r: r, lim: lim, max: max}
	s.text = make(map[string]string)
	s.row.text = s.text
	rec, err := r.Read()
	switch {
	case err == io.EOF:
		return nil, &rowError{msg: "the csv file is empty: it needs a header row"}, nil
	case errors.Is(err, errRowTooLong):
		return nil, &rowError{msg: "the csv header is longer than the row limit", fatal: true}, nil
	case err != nil:
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, &rowError{msg: "the csv header is not valid CSV: " + pe.Err.Error()}, nil
		}
		return nil, nil, err
	}
	for _, h := range rec {
		if !utf8.ValidString(h) {
			return nil, &rowError{msg: "the csv header is not valid UTF-8"}, nil
		}
		s.header = append(s.header, strings.TrimSpace(h))
	}
	s.off = r.InputOffset()
	s.advance(len(rec))
	return s, nil, nil
}

func (s *csvSource) next() (*fields, int64, int64, *rowError, error) {
	if s.done {
		return nil, 0, 0, nil, io.EOF
	}
	rec, err := s.r.Read()
	size := s.r.InputOffset() - s.off
	s.off = s.r.InputOffset()
	if err != nil {
		return s.fail(err)
	}
	line, _ := s.r.FieldPos(0)
	s.advance(len(rec))
	clear(s.text)
	for i, v := range rec {
		if !utf8.ValidString(v) {
			l, _ := s.r.FieldPos(i)
			return nil, int64(l), size, rowErrorf("row is not valid UTF-8"), nil
		}
		s.text[s.header[i]] = v
	}
	return &s.row, int64(line), size, nil, nil
}

// fail turns a parser error into a malformed row where the parser can carry
// on (a field count mismatch, a bad quote) and a fatal one where it cannot.
func (s *csvSource) fail(err error) (*fields, int64, int64, *rowError, error) {
	var pe *csv.ParseError
	switch {
	case err == io.EOF:
		return nil, 0, 0, nil, io.EOF
	case errors.Is(err, errRowTooLong):
		s.done = true
		re := tooLongError(s.max)
		re.fatal = true
		return nil, s.line, 0, re, nil
	case errors.As(err, &pe):
		msg := "row is not valid CSV: " + pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			msg = "row has a different number of fields than the header"
		}
		return nil, int64(pe.StartLine), 0, rowErrorf("%s", msg), nil
	}
	return nil, 0, 0, nil, err
}

// advance notes that the record just read ended on the line of its last
// field, so that a record too long to be parsed can still be given a line.
func (s *csvSource) advance(n int) {
	if n > 0 {
		l, _ := s.r.FieldPos(n - 1)
		s.line = int64(l) + 1
	}
}
