package api_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/disk"
	"github.com/silo-datasets/silo/sqlite"
	"github.com/silo-datasets/silo/validate"
)

// fuzzEnv is the real create handler over SQLite and disk in a temp dir,
// without background workers, so that only the request under test changes
// the stores.
type fuzzEnv struct {
	h     http.Handler
	store *sqlite.Store
	blobs *disk.Store
	org   string
}

const fuzzKey = "silo_fuzz_admin_key"

func newFuzzEnv(f *testing.F) *fuzzEnv {
	dir := f.TempDir()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "silo.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	bl, err := disk.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		f.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := &silo.Service{Store: st, Blobs: bl, Validator: validate.New(validate.Options{}), Logger: quiet,
		Node: "fuzz", MaxDatasetSize: 4096}
	if _, err := svc.Bootstrap(ctx, fuzzKey); err != nil {
		f.Fatal(err)
	}
	k, err := svc.Authenticate(ctx, fuzzKey)
	if err != nil {
		f.Fatal(err)
	}
	srv := &api.Server{Service: svc, Logger: quiet, SigningKey: []byte("k"), PublicURL: "http://fuzz"}
	return &fuzzEnv{h: srv.Handler(), store: st, blobs: bl, org: k.OrgID}
}

// snapshot is everything a create may change.
type snapshot struct {
	used, reserved int64
	datasets       int
	ledger         map[string]silo.BlobState
	stored         map[string]int64
}

func (e *fuzzEnv) snapshot(t *testing.T) snapshot {
	ctx := context.Background()
	o, err := e.store.Org(ctx, e.org)
	if err != nil {
		t.Fatal(err)
	}
	s := snapshot{used: o.UsedBytes, reserved: o.ReservedBytes, ledger: map[string]silo.BlobState{}, stored: map[string]int64{}}
	for _, err := range []error{
		e.store.Datasets(ctx, silo.DatasetFilter{OrgID: e.org}, func(*silo.Dataset) error { s.datasets++; return nil }),
		e.store.Blobs(ctx, func(k string, st silo.BlobState) error { s.ledger[k] = st; return nil }),
		e.blobs.List(ctx, func(k string, n int64) error { s.stored[k] = n; return nil }),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// FuzzCreateMultipart sends arbitrary queries, content types and bodies to
// the real create handler. No input panics or gets a 5xx; an input that is
// refused changes nothing (counters, datasets, ledger, blob files); one that
// is accepted adds exactly one dataset, counted in usage.
func FuzzCreateMultipart(f *testing.F) {
	e := newFuzzEnv(f)
	valid := "--b\r\nContent-Disposition: form-data; name=\"data\"; filename=\"d.jsonl\"\r\n\r\n{\"text\":\"a\"}\n\r\n--b--\r\n"
	f.Add("name=a&type=embed-input", "multipart/form-data; boundary=b", []byte(valid), false)
	f.Add("name=a&type=embed-input", "multipart/form-data; boundary=b", []byte(valid), true)
	f.Add("name=a&type=embed-input", "multipart/form-data; boundary=b",
		[]byte("--b\r\nContent-Disposition: form-data; name=\"eval_data\"\r\n\r\nx\r\n--b--\r\n"), false)
	f.Add("name=a&type=embed-input", "multipart/form-data; boundary=b",
		[]byte("--b\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n"+string(bytes.Repeat([]byte("{\"text\":\"aaaa\"}\n"), 400))+"\r\n--b--\r\n"), true)
	f.Add("name=&type=nope", "text/plain", []byte("hello"), false)
	f.Add("name=a&type=embed-input", "multipart/form-data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\nunterminated"), false)
	f.Add("name=a&type=embed-input&csv_delimiter=;;", "multipart/form-data; boundary=b", []byte(valid), false)
	f.Fuzz(func(t *testing.T, query, ctype string, body []byte, chunked bool) {
		before := e.snapshot(t)
		var r io.Reader = bytes.NewReader(body)
		if chunked {
			r = struct{ io.Reader }{r}
		}
		req := httptest.NewRequest("POST", "/v1/datasets", r)
		req.URL.RawQuery = query
		req.Header.Set("Authorization", "Bearer "+fuzzKey)
		req.Header.Set("Content-Type", ctype)
		if chunked {
			req.ContentLength = -1
		}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, req)
		after := e.snapshot(t)
		switch {
		case w.Code >= 500:
			t.Fatalf("%d %s", w.Code, w.Body)
		case w.Code != 200:
			if after.used != before.used || after.reserved != before.reserved || after.datasets != before.datasets ||
				!maps.Equal(after.ledger, before.ledger) || !maps.Equal(after.stored, before.stored) {
				t.Fatalf("refused with %d %s but the stores changed: %+v -> %+v", w.Code, w.Body, before, after)
			}
		default:
			if after.datasets != before.datasets+1 || after.used <= before.used-1 || after.reserved != 0 {
				t.Fatalf("accepted but stored %+v -> %+v", before, after)
			}
		}
	})
}
