package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/silo-datasets/silo/internal/siloproc"
)

// TestServeRoutes: silo serve mounts what surrounds the API (the dashboard,
// /metrics, /openapi.yaml) and still answers unknown paths with JSON 404.
func TestServeRoutes(t *testing.T) {
	p := siloproc.Serve(t, []string{"SILO_BOOTSTRAP_KEY=silo_routes_test_key_123456"}, "--data", t.TempDir())
	defer p.Stop()
	for _, tc := range []struct {
		path, ctype, body string
		status            int
	}{
		{"/", "text/html", "<title>silo", 200},
		{"/ui/app.js", "text/javascript", "sessionStorage", 200},
		{"/metrics", "text/plain", "silo_http_requests_total", 200},
		{"/openapi.yaml", "application/yaml", "openapi: 3.1.0", 200},
		{"/nope", "application/json", `{"message":`, 404},
	} {
		resp, err := http.Get(p.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(string(b), tc.body) {
			t.Errorf("GET %s: %d %s %.100q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
}
