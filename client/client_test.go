package client_test

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/silo-datasets/silo/client"
)

// TestUploadContentLength: with every size known the request says its
// exact length (so silo can refuse over quota early); with one unknown it
// is chunked. Either way the server gets the files byte for byte.
func TestUploadContentLength(t *testing.T) {
	for _, tc := range []struct {
		name     string
		data     string
		dataSize int64
		eval     *string
		want     int64 // -1: chunked
	}{
		{"known", "a\nb\n", 4, nil, 0},
		{"known with eval", "{}\n", 3, ptr("{}\n{}\n"), 0},
		{"empty", "", 0, nil, 0},
		{"unknown size", "x,y\n", -1, nil, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gotLen int64
			var gotData, gotEval string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotLen = r.ContentLength
				body, err := io.ReadAll(r.Body)
				if err != nil {
					t.Errorf("reading the request: %v", err)
				}
				if r.ContentLength >= 0 && int64(len(body)) != r.ContentLength {
					t.Errorf("Content-Length %d, body %d bytes", r.ContentLength, len(body))
				}
				_, params, _ := strings.Cut(r.Header.Get("Content-Type"), "boundary=")
				mr := multipart.NewReader(bytes.NewReader(body), params)
				for {
					p, err := mr.NextPart()
					if err != nil {
						break
					}
					b, err := io.ReadAll(p)
					if err != nil {
						t.Errorf("reading part %s: %v", p.FormName(), err)
					}
					if p.FormName() == "data" {
						gotData = string(b)
					} else {
						gotEval = string(b)
					}
				}
				if _, err := w.Write([]byte(`{"id":"x-123456"}`)); err != nil {
					t.Error(err)
				}
			}))
			defer srv.Close()
			req := client.UploadRequest{Name: "n", Type: "embed-input", Data: client.File{Name: "d.jsonl", Body: strings.NewReader(tc.data), Size: tc.dataSize}}
			if tc.eval != nil {
				req.Eval = &client.File{Name: "e.jsonl", Body: strings.NewReader(*tc.eval), Size: int64(len(*tc.eval))}
			}
			id, _, err := client.New(srv.URL, "k").Upload(t.Context(), req)
			if err != nil || id != "x-123456" {
				t.Fatalf("Upload = %q, %v", id, err)
			}
			if (tc.want < 0) != (gotLen < 0) || gotData != tc.data || (tc.eval != nil && gotEval != *tc.eval) {
				t.Fatalf("server got length %d, data %q, eval %q", gotLen, gotData, gotEval)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// TestUploadStreams: the server receives the first bytes of a file before
// the client has read the rest of it, so nothing is buffered whole.
func TestUploadStreams(t *testing.T) {
	first := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1)
		var seen bytes.Buffer
		for !bytes.Contains(seen.Bytes(), []byte("FIRSTCHUNK")) {
			n, err := r.Body.Read(buf)
			seen.Write(buf[:n])
			if err != nil {
				t.Error("body ended before the first chunk")
				return
			}
		}
		close(first)
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			t.Errorf("reading the rest of the request: %v", err)
		}
		if _, err := w.Write([]byte(`{"id":"s-123456"}`)); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	body := io.MultiReader(strings.NewReader("FIRSTCHUNK\n"), &gated{gate: first}, strings.NewReader("rest\n"))
	_, _, err := client.New(srv.URL, "k").Upload(t.Context(), client.UploadRequest{
		Name: "n", Type: "embed-input", Data: client.File{Name: "d.csv", Body: body, Size: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// gated reads nothing until its gate closes; it fails the read if the
// gate stays shut (the client would be buffering the whole file).
type gated struct{ gate chan struct{} }

func (g *gated) Read([]byte) (int, error) {
	select {
	case <-g.gate:
		return 0, io.EOF
	case <-time.After(10 * time.Second):
		return 0, errors.New("the server never saw the first chunk: the upload is buffered")
	}
}

// TestErrors: an API error keeps its status and message.
func TestErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(498)
		if _, err := w.Write([]byte(`{"message":"this api key has been revoked"}`)); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	_, _, err := client.New(srv.URL, "k").Usage(t.Context())
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 498 || err.Error() != "this api key has been revoked (HTTP 498)" {
		t.Fatalf("err = %v", err)
	}
}
