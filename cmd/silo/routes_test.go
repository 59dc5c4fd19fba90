package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/silo-datasets/silo/internal/siloproc"
	"github.com/silo-datasets/silo/internal/silotest"
)

const routesKey = "silo_routes_test_key_123456"

// TestServeRoutes: silo serve mounts what surrounds the API (the dashboard,
// /metrics for admin keys, /openapi.yaml) and still answers unknown paths
// with JSON 404; --metrics-addr serves /metrics without a key.
func TestServeRoutes(t *testing.T) {
	p := siloproc.Serve(t, []string{"SILO_BOOTSTRAP_KEY=" + routesKey}, "--data", t.TempDir(), "--metrics-addr", "127.0.0.1:0")
	defer func() {
		if err := p.Stop(); err != nil {
			t.Errorf("SIGTERM: %v", err)
		}
	}()
	for _, tc := range []struct {
		path, key, ctype, body string
		status                 int
	}{
		{"/", "", "text/html", "<title>silo", 200},
		{"/ui/app.js", "", "text/javascript", "sessionStorage", 200},
		{"/metrics", routesKey, "text/plain", "silo_http_requests_total", 200},
		{"/metrics", "", "application/json", `{"message":`, 401},
		{"/openapi.yaml", "", "application/yaml", "openapi: 3.1.0", 200},
		{"/nope", "", "application/json", `{"message":`, 404},
	} {
		status, header, b := silotest.Get(t, p.URL+tc.path, tc.key)
		ctype := header.Get("Content-Type")
		if status != tc.status || !strings.HasPrefix(ctype, tc.ctype) || !strings.Contains(b, tc.body) {
			t.Errorf("GET %s: %d %s %.100q", tc.path, status, ctype, b)
		}
	}
	maddr := regexp.MustCompile(`msg="metrics listening without authentication" addr=(\S+)`)
	var m []string
	for deadline := time.Now().Add(10 * time.Second); m == nil; {
		if m = maddr.FindStringSubmatch(p.Logs()); m == nil && time.Now().After(deadline) {
			t.Fatalf("no metrics listener logged:\n%s", p.Logs())
		} else if m == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if status, _, b := silotest.Get(t, "http://"+m[1]+"/metrics", ""); status != 200 || !strings.Contains(b, `silo_org_quota_bytes{name="default"`) {
		t.Errorf("--metrics-addr /metrics: %d %.100q", status, b)
	}
}
