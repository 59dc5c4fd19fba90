package api_test

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/fsck"
	"github.com/silo-datasets/silo/internal/silotest"
)

// idemCreate posts a create with an Idempotency-Key and returns the status,
// the raw body and the headers.
func idemCreate(t *testing.T, e *silotest.Env, key, idem, query string, body []byte, ctype string) (int, string, http.Header) {
	t.Helper()
	req := newRequest(t, "POST", e.URL+"/v1/datasets?"+query, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", ctype)
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw := mustReadAll(t, resp.Body)
	return resp.StatusCode, string(raw), resp.Header
}

func body(t *testing.T, data string) ([]byte, string) {
	r, ctype := multipartBody(t, [2]string{"data", data})
	b := mustReadAll(t, r)
	return b, ctype
}

// fsckClean waits for validation and a sweep, then checks the stores with
// fsck: usage is the sum of the datasets, nothing is orphaned or held.
func fsckClean(t *testing.T, e *silotest.Env) {
	t.Helper()
	e.WaitJobs(t)
	if err := e.Service.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	r, err := (&fsck.Checker{Store: e.Store, Blobs: e.Blobs}).Check(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("fsck: %v", r.Findings)
	}
}

func countDatasets(t *testing.T, e *silotest.Env, orgID string) int {
	n := 0
	if err := e.Store.Datasets(t.Context(), silo.DatasetFilter{OrgID: orgID}, func(*silo.Dataset) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestIdempotentReplay: each case sends a first create and then a second
// with the same key; the second gets exactly the first answer (status and
// body) or the documented 422, and the org stores what one create stores.
func TestIdempotentReplay(t *testing.T) {
	data := rows(2000)
	b, ctype := body(t, data)
	cases := []struct {
		name        string
		quota       int64
		first       string // query of the first create
		second      string // query of the retry
		wantFirst   int
		wantSecond  int
		wantDataset int
	}{
		{"success replayed", 0, "name=a&type=embed-input", "name=a&type=embed-input", 200, 200, 1},
		{"refusal replayed", 1000, "name=a&type=embed-input", "name=a&type=embed-input", 400, 400, 0},
		{"query order does not matter", 0, "name=a&type=embed-input", "type=embed-input&name=a", 200, 200, 1},
		{"other name is 422", 0, "name=a&type=embed-input", "name=b&type=embed-input", 200, 422, 1},
		{"other type is 422", 0, "name=a&type=embed-input", "name=a&type=chat-finetune-input", 200, 422, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := silotest.Start(t, silotest.Options{})
			orgID, key := e.Org(t, "acme", tc.quota, silo.RoleWriter)
			st1, body1, _ := idemCreate(t, e, key, "retry-1", tc.first, b, ctype)
			if st1 != tc.wantFirst {
				t.Fatalf("first: %d %s", st1, body1)
			}
			st2, body2, h := idemCreate(t, e, key, "retry-1", tc.second, b, ctype)
			if st2 != tc.wantSecond {
				t.Fatalf("retry: %d %s, want %d", st2, body2, tc.wantSecond)
			}
			if tc.wantSecond == tc.wantFirst && (body2 != body1 || h.Get("Idempotent-Replayed") != "true") {
				t.Fatalf("retry answered %q (replayed %q), want the first answer %q", body2, h.Get("Idempotent-Replayed"), body1)
			}
			if n := countDatasets(t, e, orgID); n != tc.wantDataset {
				t.Fatalf("%d datasets stored, want %d", n, tc.wantDataset)
			}
			if want := int64(tc.wantDataset * len(data)); e.Usage(t, orgID).UsedBytes != want {
				t.Fatalf("usage %d, want %d", e.Usage(t, orgID).UsedBytes, want)
			}
			fsckClean(t, e)
		})
	}
}

// TestIdempotencyKeyScope: a key is per organisation; a create without a
// key is never deduplicated; a malformed key is 400; a reader is 403.
func TestIdempotencyKeyScope(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgA, keyA := e.Org(t, "a", 0, silo.RoleWriter)
	orgB, keyB := e.Org(t, "b", 0, silo.RoleWriter)
	reader := e.Key(t, orgA, silo.RoleReader)
	b, ctype := body(t, rows(500))
	q := "name=x&type=embed-input"
	for _, k := range []string{keyA, keyB} {
		if st, out, _ := idemCreate(t, e, k, "same", q, b, ctype); st != 200 {
			t.Fatalf("%d %s", st, out)
		}
	}
	for i := 0; i < 2; i++ {
		if st, out, _ := idemCreate(t, e, keyA, "", q, b, ctype); st != 200 {
			t.Fatalf("%d %s", st, out)
		}
	}
	if a, bb := countDatasets(t, e, orgA), countDatasets(t, e, orgB); a != 3 || bb != 1 {
		t.Fatalf("org a has %d datasets (want 3), org b %d (want 1)", a, bb)
	}
	for _, tc := range []struct {
		key, idem string
		want      int
	}{
		{keyA, string(bytes.Repeat([]byte("k"), 256)), 400},
		{keyA, "tab\there", 400},
		{reader, "r", 403},
	} {
		if st, out, _ := idemCreate(t, e, tc.key, tc.idem, q, b, ctype); st != tc.want {
			t.Errorf("key %.20q: %d %s, want %d", tc.idem, st, out, tc.want)
		}
	}
	fsckClean(t, e)
}

// TestIdempotentWhileRunning: a retry that arrives while the first create
// still streams gets 409 with Retry-After and stores nothing; once the
// first is answered, the retry gets its answer. A first create whose
// client went away leaves the key free: the retry runs and succeeds.
func TestIdempotentWhileRunning(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, key := e.Org(t, "acme", 0, silo.RoleWriter)
	data := rows(100_000)
	q := "name=slow&type=embed-input"

	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	req := newRequest(t, "POST", e.URL+"/v1/datasets?"+q, pr)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Idempotency-Key", "slow-1")
	first := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	w, err := mw.CreateFormFile("data", "d.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, data[:50_000]); err != nil { // the server is now streaming it
		t.Fatal(err)
	}
	waitFor(t, func() bool { return e.Usage(t, orgID).ReservedBytes > 0 })

	// Same fingerprint: chunked, so the same (unknown) Content-Length.
	st, out := chunkedIdem(t, e, key, "slow-1", q, data)
	if st != 409 || out.Get("Retry-After") == "" {
		t.Fatalf("retry while running: %d (Retry-After %q), want 409 with Retry-After", st, out.Get("Retry-After"))
	}
	if _, err := io.WriteString(w, data[50_000:]); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	if st := <-first; st != 200 {
		t.Fatalf("first create: %d", st)
	}
	if st, _ := chunkedIdem(t, e, key, "slow-1", q, data); st != 200 {
		t.Fatalf("retry after the first: %d", st)
	}
	if n := countDatasets(t, e, orgID); n != 1 {
		t.Fatalf("%d datasets, want 1", n)
	}

	// A client that goes away mid-upload: the key is released.
	pr2, pw2 := io.Pipe()
	mw2 := multipart.NewWriter(pw2)
	req2 := newRequest(t, "POST", e.URL+"/v1/datasets?"+q, pr2)
	req2.Header.Set("Authorization", "Bearer "+key)
	req2.Header.Set("Content-Type", mw2.FormDataContentType())
	req2.Header.Set("Idempotency-Key", "gone-1")
	done := make(chan struct{})
	go func() {
		// This client goes away: its request fails, which is the point.
		if resp, err := http.DefaultClient.Do(req2); err == nil {
			resp.Body.Close()
		}
		close(done)
	}()
	w2, err := mw2.CreateFormFile("data", "d.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w2, data[:50_000]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return e.Usage(t, orgID).ReservedBytes > 0 })
	pw2.CloseWithError(fmt.Errorf("client crashed"))
	<-done
	waitFor(t, func() bool { return e.Usage(t, orgID).ReservedBytes == 0 })
	if st, _ := chunkedIdemRetry(t, e, key, "gone-1", q, data); st != 200 {
		t.Fatalf("retry after a client went away: %d", st)
	}
	if n := countDatasets(t, e, orgID); n != 2 {
		t.Fatalf("%d datasets, want 2", n)
	}
	fsckClean(t, e)
}

func chunkedIdem(t *testing.T, e *silotest.Env, key, idem, q, data string) (int, http.Header) {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go writePiped(mw, pw, data)
	req := newRequest(t, "POST", e.URL+"/v1/datasets?"+q, pr)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Idempotency-Key", idem)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	discard(t, resp)
	return resp.StatusCode, resp.Header
}

// writePiped writes a data part into a request body pipe. The server may
// answer (409) without reading it: the writes then fail, and the pipe says
// so to the transport (never a write to a nil part writer).
func writePiped(mw *multipart.Writer, pw *io.PipeWriter, data string) {
	w, err := mw.CreateFormFile("data", "d.jsonl")
	if err == nil {
		_, err = io.WriteString(w, data)
	}
	if err == nil {
		err = mw.Close()
	}
	pw.CloseWithError(err)
}

// chunkedIdemRetry retries while the answer is 409: the server may still be
// noticing that the first client went away.
func chunkedIdemRetry(t *testing.T, e *silotest.Env, key, idem, q, data string) (int, http.Header) {
	t.Helper()
	var st int
	var h http.Header
	waitFor(t, func() bool { st, h = chunkedIdem(t, e, key, idem, q, data); return st != 409 })
	return st, h
}
