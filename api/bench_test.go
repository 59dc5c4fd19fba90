package api_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/internal/silotest"
	"github.com/silo-datasets/silo/metrics"
	"github.com/silo-datasets/silo/web"
)

// The hot paths of issue 7's benchmark suite (bench/), as Go benchmarks
// for pprof and benchstat:
//
//	go test ./api -run XXX -bench . -benchmem -cpuprofile cpu.out

// BenchmarkUsage is one authenticated GET /v1/datasets/usage through the
// whole handler chain (request log, auth against SQLite, usage row, JSON),
// without the network.
func BenchmarkUsage(b *testing.B) {
	env := silotest.Start(b, silotest.Options{})
	benchUsage(b, env, env.AdminKey)
}

// BenchmarkUsageServe is BenchmarkUsage with the server built as `silo
// serve` builds it (the request line written directly as text, the
// metrics middleware, the dashboard's routes on the same mux) and a key
// as silo makes them (the test admin key is shorter).
func BenchmarkUsageServe(b *testing.B) {
	env := silotest.Start(b, silotest.Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Configure: func(s *api.Server) {
			s.RequestLogText = io.Discard
			m := metrics.New(nil)
			s.Wrap = m.Wrap
			s.Metrics = m.Handler()
			s.Extra = web.Routes()
		},
	})
	_, key := env.Org(b, "bench", 0, silo.RoleReader)
	benchUsage(b, env, key)
}

func benchUsage(b *testing.B, env *silotest.Env, key string) {
	h := env.Server.Handler()
	req := httptest.NewRequest("GET", "/v1/datasets/usage", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkCreate streams a 64 MiB multipart create over loopback HTTP
// until its 200: multipart parsing, hashing, quota, the blob's write and
// fsync, the commit. The file's first line is not JSON, so validation in
// the background gives up at once and does not blur the figure.
func BenchmarkCreate(b *testing.B) { benchCreate(b, true) }

// BenchmarkCreateChunked is BenchmarkCreate without a Content-Length: the
// body goes chunked, 64 KiB a chunk as curl sends it (issue 24: a chunked
// create was 3x slower).
func BenchmarkCreateChunked(b *testing.B) { benchCreate(b, false) }

func benchCreate(b *testing.B, sized bool) {
	env := silotest.Start(b, silotest.Options{MaxDatasetSize: 1 << 30, DefaultQuota: 1 << 50})
	const size = 64 << 20
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("data", "data.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	row := []byte("not json: " + string(bytes.Repeat([]byte("lorem ipsum "), 30)) + "\n")
	for n := 0; n < size; n += len(row) {
		if _, err := fw.Write(row); err != nil {
			b.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{WriteBufferSize: 256 << 10}}
	b.SetBytes(size)
	for b.Loop() {
		var r io.Reader = bytes.NewReader(body.Bytes())
		if !sized {
			r = &chunks{b: body.Bytes(), n: 64 << 10}
		}
		req := newRequest(b, "POST", env.URL+"/v1/datasets?name=b&type=embed-input", r)
		req.Header.Set("Authorization", "Bearer "+env.AdminKey)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out := mustReadAll(b, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatal(fmt.Sprintf("status %d: %s", resp.StatusCode, out))
		}
	}
}

// chunks reads b n bytes at a time and hides its length: the client sends
// it chunked, a chunk per read.
type chunks struct {
	b []byte
	n int
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[k:]
	return k, nil
}
