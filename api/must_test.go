package api_test

import (
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/silo-datasets/silo/internal/silotest"
)

// Helpers that fail the test on an error it could get, rather than go on
// with a nil request, a short body or an empty listing.

func newRequest(t testing.TB, method, url string, body io.Reader) *http.Request {
	t.Helper()
	return silotest.NewRequest(t, method, url, body)
}

func mustReadAll(t testing.TB, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	return b
}

func mustReadDir(t testing.TB, dir string) []os.DirEntry {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ents
}

// discard reads a response body to its end and closes it.
func discard(t testing.TB, resp *http.Response) {
	t.Helper()
	_, err := io.Copy(io.Discard, resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
}
