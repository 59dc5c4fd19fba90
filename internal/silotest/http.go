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

// Get sends a GET to url, with key as a Bearer token unless it is "", and
// returns the status, the headers and the body read whole (tests' answers
// are small). A transport or read error fails the test.
func Get(t testing.TB, url, key string) (int, http.Header, string) {
	t.Helper()
	req := NewRequest(t, http.MethodGet, url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}
