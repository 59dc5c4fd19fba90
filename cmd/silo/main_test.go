package main

import (
	"io"
	"net/http"
	"testing"

	"github.com/silo-datasets/silo/internal/silotest"
	"github.com/silo-datasets/silo/internal/testenv"
)

// TestMain removes the silo binary siloproc builds once the tests end.
func TestMain(m *testing.M) { testenv.Main(m) }

// newRequest is http.NewRequest for a test: an error fails it (a nil
// request would panic further on).
func newRequest(t testing.TB, method, url string, body io.Reader) *http.Request {
	t.Helper()
	return silotest.NewRequest(t, method, url, body)
}

// readAll reads and closes a response body; a body cut off fails the test.
func readAll(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return b
}
