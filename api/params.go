package api

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/silo-datasets/silo"
)

// parseCreateQuery reads a create's query parameters as the SDKs send them:
// arrays as repeated keys (and, for hand-written URLs, comma-separated),
// booleans as true/false.
func parseCreateQuery(q url.Values) (silo.UploadRequest, error) {
	req := silo.UploadRequest{
		Name: q.Get("name"),
		Type: silo.DatasetType(q.Get("type")),
		Params: silo.CreateParams{
			KeepFields:     listParam(q, "keep_fields"),
			OptionalFields: listParam(q, "optional_fields"),
			TextSeparator:  q.Get("text_separator"),
			CSVDelimiter:   q.Get("csv_delimiter"),
		},
	}
	var err error
	if req.Params.KeepOriginalFile, err = boolParam(q, "keep_original_file", true); err != nil {
		return req, err
	}
	if req.Params.SkipMalformedInput, err = boolParam(q, "skip_malformed_input", false); err != nil {
		return req, err
	}
	return req, nil
}

func listParam(q url.Values, name string) []string {
	var out []string
	for _, v := range q[name] {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

func boolParam(q url.Values, name string, def bool) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return def, silo.Errorf(silo.EINVALID, "%s must be true or false, not %q", name, v)
	}
	return b, nil
}

// parseListQuery reads a list's filters. Names are Cohere's camelCase, with
// the old snake_case accepted too. Numbers may come as floats ("10.0", the
// Python SDK types limit as float); timestamps are RFC 3339, fraction
// optional.
func parseListQuery(q url.Values) (silo.DatasetFilter, error) {
	var f silo.DatasetFilter
	f.Type = silo.DatasetType(first(q, "datasetType", "dataset_type"))
	f.Status = silo.Status(first(q, "validationStatus", "validation_status"))
	var err error
	if f.Before, err = parseTime(q, "before"); err != nil {
		return f, err
	}
	if f.After, err = parseTime(q, "after"); err != nil {
		return f, err
	}
	limit, err := parseInt(q, "limit")
	if err != nil {
		return f, err
	}
	if limit != nil {
		if *limit < 1 || *limit > silo.MaxListLimit {
			return f, silo.Errorf(silo.EUNPROCESSABLE, "limit must be between 1 and %d, not %d", silo.MaxListLimit, *limit)
		}
		f.Limit = *limit
	}
	offset, err := parseInt(q, "offset")
	if err != nil {
		return f, err
	}
	if offset != nil {
		if *offset < 0 {
			return f, silo.Errorf(silo.EUNPROCESSABLE, "offset must not be negative, not %d", *offset)
		}
		f.Offset = *offset
	}
	return f, nil
}

func first(q url.Values, names ...string) string {
	for _, n := range names {
		if v := q.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// parseInt reads a whole number that may be written as a float ("10",
// "10.0"); nil if absent. Unparseable is 400; a fraction is 422.
func parseInt(q url.Values, name string) (*int, error) {
	v := q.Get(name)
	if v == "" {
		return nil, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, silo.Errorf(silo.EINVALID, "%s must be a number, not %q", name, v)
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<31 {
		return nil, silo.Errorf(silo.EUNPROCESSABLE, "%s must be a whole number in range, not %q", name, v)
	}
	n := int(f)
	return &n, nil
}

func parseTime(q url.Values, name string) (*time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, silo.Errorf(silo.EINVALID, "%s must be an RFC 3339 timestamp such as 2024-01-02T15:04:05Z, not %q", name, v)
	}
	return &t, nil
}

// timeLayout is how times are rendered, as Cohere does: RFC 3339, UTC,
// microseconds.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// formatTime renders t in timeLayout.
func formatTime(t time.Time) string {
	var b [len(timeLayout)]byte
	return string(appendTime(b[:0], t))
}

// appendTime appends t in timeLayout. It writes the digits itself: Format
// parses its layout on every call, and every usage answer has a time.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, timeLayout)
	}
	hour, min, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, min, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1000, 6)
	return append(b, 'Z')
}

// appendDigits appends n (≥ 0) in exactly width decimal digits.
func appendDigits(b []byte, n, width int) []byte {
	b = append(b, make([]byte, width)...)
	for i := len(b) - 1; i >= len(b)-width; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return b
}
