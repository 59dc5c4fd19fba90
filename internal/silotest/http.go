package silotest

import (
	"io"
	"net/http"
	"testing"
)

// NewRequest is http.NewRequest for a test: an error fails it (a nil
// request would panic further on).
func NewRequest(t testing.TB, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
