package api

import (
	"net/url"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
)

// The parsers of what clients send: whatever the input, no panic, and an
// error is always one of the client-error codes (never internal).

func clientError(t *testing.T, err error) {
	t.Helper()
	if c := silo.ErrorCode(err); err != nil && c != silo.EINVALID && c != silo.EUNPROCESSABLE {
		t.Fatalf("error code %q (%v), want invalid or unprocessable", c, err)
	}
}

func FuzzParseListQuery(f *testing.F) {
	for _, s := range []string{"", "limit=10", "limit=10.0&offset=5", "limit=abc", "limit=1e400", "offset=-1",
		"before=2024-01-02T15:04:05Z&after=2024-01-01T00:00:00.123456Z", "datasetType=embed-input&validationStatus=validated",
		"dataset_type=x&validation_status=nope", "limit=1001", "limit=NaN", "limit=-0", "limit=2147483648"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw)
		fl, err := parseListQuery(q)
		clientError(t, err)
		if err == nil && (fl.Limit < 0 || fl.Limit > silo.MaxListLimit || fl.Offset < 0) {
			t.Fatalf("accepted limit %d offset %d from %q", fl.Limit, fl.Offset, raw)
		}
	})
}

func FuzzParseCreateQuery(f *testing.F) {
	for _, s := range []string{"name=a&type=embed-input", "keep_original_file=false&skip_malformed_input=TRUE",
		"keep_original_file=maybe", "keep_fields=a,b&keep_fields=c&optional_fields=,,", "csv_delimiter=%3B&text_separator=%0A",
		"name=" + strings.Repeat("x", 60), "type=chat-finetune-input&name=%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw)
		req, err := parseCreateQuery(q)
		clientError(t, err)
		if err == nil {
			clientError(t, silo.CheckUpload(req))
			for _, k := range append(req.Params.KeepFields, req.Params.OptionalFields...) {
				if k == "" || strings.TrimSpace(k) != k {
					t.Fatalf("field name %q kept from %q", k, raw)
				}
			}
		}
	})
}

func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer silo_abc", "bearer  x ", "BEARER\tx", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", " Bearer a b", "Bearerx y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		k := bearer(h)
		if k == "" {
			return
		}
		if strings.TrimSpace(k) != k || !strings.Contains(h, k) {
			t.Fatalf("bearer(%q) = %q", h, k)
		}
		scheme, _, _ := strings.Cut(strings.TrimSpace(h), " ")
		if !strings.EqualFold(scheme, "bearer") {
			t.Fatalf("bearer(%q) accepted scheme %q", h, scheme)
		}
	})
}
